//! API errors: the right HTTP status and a JSON body naming the problem.

use super::schemas::json_schema;
use crate::access::users::AccessError;
use crate::engine::EngineError;
use crate::service::lifecycle::LifecycleError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Per-field problems, for validation errors.
    pub fields: Vec<crate::service::FieldError>,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
    /// A 401 that asks for Basic credentials (`WWW-Authenticate`). Only
    /// Basic clients are asked: a browser answers the challenge with a
    /// password prompt over the page that made the request (headless, it
    /// waits for ever), so the dashboard's 401s carry none.
    pub challenge: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            fields: Vec::new(),
            retry_after: None,
            challenge: false,
        }
    }

    /// This 401 asks for Basic credentials.
    pub fn challenge(self) -> ApiError {
        ApiError {
            challenge: true,
            ..self
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 400 listing every field's problem.
    pub fn invalid(fields: Vec<crate::service::FieldError>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: fields
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join("; "),
            fields,
            retry_after: None,
            challenge: false,
        }
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// `status` (429 or 503) with a `Retry-After` of `seconds`.
    pub fn retry_later(status: StatusCode, message: impl Into<String>, seconds: u64) -> ApiError {
        ApiError {
            retry_after: Some(seconds),
            ..ApiError::new(status, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if !self.fields.is_empty() {
            body["fields"] = json!(self.fields);
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.challenge && self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Basic realm=\"flotilla\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(fields) => ApiError::invalid(fields),
            EngineError::Lifecycle(LifecycleError::WrongState(m)) => {
                ApiError::new(StatusCode::CONFLICT, m)
            }
            EngineError::Lifecycle(LifecycleError::Invalid(m)) => ApiError::bad_request(m),
            EngineError::Lifecycle(LifecycleError::NotFound(m)) | EngineError::NotFound(m) => {
                ApiError::not_found(m)
            }
            EngineError::Storage(m) => ApiError::internal(m),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Invalid(m) => ApiError::bad_request(m),
            AccessError::Exists(m) => ApiError::new(StatusCode::CONFLICT, m),
            AccessError::NotFound(m) => ApiError::not_found(m),
            AccessError::Storage(m) => ApiError::internal(m),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(format!("{e:#}"))
    }
}

// The bodies above as the OpenAPI document describes them.

json_schema!(Error, {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "string",
            "description": "What went wrong; for validation errors, every `field: reason` joined with `; `."
        },
        "request_id": {
            "type": "string",
            "description": "The request's id, also in the x-request-id header and on the server's log lines for it."
        },
        "fields": {
            "type": "array",
            "description": "Per-field problems, on validation errors only.",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {
                    "field": {
                        "type": "string",
                        "examples": ["roles[1].cardinality"]
                    },
                    "reason": {
                        "type": "string"
                    }
                }
            }
        }
    }
});
