//! Reading request bodies: JSON whatever the Content-Type, OneFlow's
//! `{"action": {"perform", "params"}}` shape, and the fields every route
//! reads the same way (names, ids, booleans), each refused with a 400
//! naming the field.

use super::error::ApiError;
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The largest request body most routes read (axum's default, stated
/// here so that the 413 can name it).
pub(super) const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The largest plugin upload accepted (`POST /plugins`), encoded: a
/// Python policy built with componentize-py is about 18 MB, 25 MB in
/// base64.
pub(super) const UPLOAD_LIMIT: usize = 96 * 1024 * 1024;

/// The largest body a route reads: [`BODY_LIMIT`], but for the routes
/// that take larger ones.
fn limit_for(method: &Method, route: &str) -> usize {
    match (method, route) {
        (&Method::POST, "/plugins") => UPLOAD_LIMIT,
        _ => BODY_LIMIT,
    }
}

/// A 413 naming the limit.
pub(super) fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "request body: over the limit of {limit} bytes ({} MiB)",
            limit >> 20
        ),
    )
}

/// Every route: a body whose announced length (`Content-Length`) is over
/// the route's limit is refused with a 413 before any of it is read, and
/// the connection is closed rather than drained. (Bodies sent without a
/// length are counted as they are read, by `JsonBody` and the plugin
/// upload.)
pub(super) async fn refuse_oversize(request: Request, next: Next) -> Response {
    let limit = limit_for(
        request.method(),
        request
            .extensions()
            .get::<MatchedPath>()
            .map_or("", MatchedPath::as_str),
    );
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return too_large(limit).into_response();
    }
    next.run(request).await
}

/// A JSON request body. Like OneFlow, the body is read as JSON whatever
/// its Content-Type (curl's `-d` says form data); a body that is not JSON
/// is a 400 saying why.
pub struct JsonBody(Result<Option<serde_json::Value>, serde_json::Error>);

impl JsonBody {
    /// A body already read (a handler that looked at it first hands it
    /// on).
    pub(super) fn from_value(value: serde_json::Value) -> JsonBody {
        JsonBody(Ok(Some(value)))
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        // An announced length over the limit was refused before this
        // (`refuse_oversize`); a body without one is counted here.
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large(BODY_LIMIT)
                } else {
                    ApiError::bad_request(format!("request body: {}", e.body_text()))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Ok(None)));
        }
        // A body of `null` is no body: OpenNebula's Go client sends it on
        // every DELETE without options.
        Ok(JsonBody(
            serde_json::from_slice(&bytes).map(|v: serde_json::Value| (!v.is_null()).then_some(v)),
        ))
    }
}

impl JsonBody {
    /// A body that may be left out (`DELETE /service_template/:id`).
    pub(crate) fn optional(self) -> Result<Option<serde_json::Value>, ApiError> {
        self.0
            .map_err(|e| ApiError::bad_request(format!("request body: not valid JSON: {e}")))
    }
}

/// The request body as JSON, or a 400 saying what is wrong with it.
pub(super) fn body_json(body: JsonBody) -> Result<serde_json::Value, ApiError> {
    body.optional()?
        .ok_or_else(|| ApiError::bad_request("request body: required, a JSON object"))
}

/// `{"action": {"perform": P, "params": {...}}}`.
pub(super) fn perform(body: JsonBody) -> Result<(String, serde_json::Value), ApiError> {
    let body = body_json(body)?;
    let action = body
        .get("action")
        .ok_or_else(|| ApiError::bad_request("action: required"))?;
    let perform = action
        .get("perform")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ApiError::bad_request("action.perform: required, a string"))?;
    // `"params": null` is no params, as OneFlow's Ruby reads it.
    let params = match action.get("params") {
        None | Some(serde_json::Value::Null) => json!({}),
        Some(params) => params.clone(),
    };
    if !params.is_object() {
        return Err(ApiError::bad_request("action.params: must be an object"));
    }
    Ok((perform.to_string(), params))
}

/// The most characters a name may have (as a service template's).
const MAX_NAME: usize = 128;

/// A name (of a VM template, an image, or a new name in `rename`):
/// non-empty, no control characters (names end up in log lines and VM
/// names), at most [`MAX_NAME`] characters; trimmed.
pub(super) fn check_name(
    field: &str,
    value: Option<&serde_json::Value>,
) -> Result<String, ApiError> {
    let Some(name) = value.and_then(serde_json::Value::as_str) else {
        return Err(ApiError::bad_request(format!(
            "{field}: required, a non-empty string"
        )));
    };
    let name = name.trim();
    if name.is_empty() {
        Err(ApiError::bad_request(format!("{field}: must not be empty")))
    } else if name.chars().any(char::is_control) {
        Err(ApiError::bad_request(format!(
            "{field}: must not contain control characters"
        )))
    } else if name.chars().count() > MAX_NAME {
        Err(ApiError::bad_request(format!(
            "{field}: must be at most {MAX_NAME} characters"
        )))
    } else {
        Ok(name.to_string())
    }
}

pub(super) fn param_str(params: &serde_json::Value, key: &str) -> Result<String, ApiError> {
    match params.get(key).and_then(serde_json::Value::as_str) {
        Some(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(ApiError::bad_request(format!(
            "params.{key}: required, a non-empty string"
        ))),
    }
}

/// A boolean parameter, false when absent.
pub(super) fn param_bool(params: &serde_json::Value, key: &str) -> Result<bool, ApiError> {
    bool_field(params, key, &format!("params.{key}"))
}

/// `value[key]` as a boolean, false when absent; `field` names it in the
/// error.
pub(super) fn bool_field(
    value: &serde_json::Value,
    key: &str,
    field: &str,
) -> Result<bool, ApiError> {
    match value.get(key) {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad_request(format!(
            "{field}: must be true or false"
        ))),
    }
}

pub(super) fn param_id(params: &serde_json::Value, key: &str) -> Result<Option<u64>, ApiError> {
    match params.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => match v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        {
            Some(-1) => Ok(None),
            Some(n) if n >= 0 => Ok(Some(n as u64)),
            _ => Err(ApiError::bad_request(format!(
                "params.{key}: must be an id"
            ))),
        },
    }
}

/// A whole number given as a JSON number or a string of digits, as
/// OpenNebula's clients send ids.
pub(crate) fn json_id(v: &serde_json::Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}
