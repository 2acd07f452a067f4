//! The REST API served by `flotilla serve`: OneFlow's routes and shapes
//! (`/service`, `/service_template`), with HTTP Basic authentication and
//! OpenNebula permissions, plus health and the plugin registry.

mod accounts;
mod auth;
mod documents;
mod error;
pub mod listener;
mod metrics;
mod openapi;
mod origin;
mod resources;
mod services;
mod templates;
mod warnings;

pub use error::ApiError;
pub use origin::normalise as origin_normalise;
pub use warnings::WARNING_HEADER;
use warnings::Warnings;

use crate::access::users::{self, Authenticator};
use crate::access::{Ownership, Permissions, Right};
use crate::registry::{PluginSummary, Registry};
use crate::store::{ResourceKind, SharedStore, Store, StoreGuard};
use auth::Caller;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use axum::{Json, Router};
use openapi::{NotFound, Unauthorized, Unavailable, json_schema};
use serde_json::json;
use std::sync::Arc;

pub struct AppState {
    pub engine: Option<crate::engine::Engine>,
    pub registry: Registry,
    pub sim_url: Option<String>,
    pub started: std::time::Instant,
    pub auth: Authenticator,
    pub metrics: metrics::HttpMetrics,
    /// The store when there is no engine (its driver did not load): users
    /// can still sign in and see why in `/plugins`.
    pub standby_store: Option<SharedStore>,
    /// `server.strict_attributes`: unknown template attributes are a 400
    /// rather than warnings.
    pub strict_attributes: bool,
    /// Where passwords are checked (`server.password_checks` threads).
    pub passwords: crate::access::passwords::PasswordChecks,
    /// Failed sign-ins per name and address (`server.failed_logins_per_minute`).
    pub throttle: crate::access::throttle::SignInThrottle,
    /// Origins besides the server's own that may send state-changing
    /// requests (`server.allowed_origins`), normalised by `origin::normalise`.
    pub allowed_origins: Vec<String>,
    /// `GET /service/:id` answers, rendered once per version of a service.
    pub rendered: services::RenderedServices,
}

impl AppState {
    /// The store: the engine's, or the standby one.
    pub fn store(&self) -> Result<StoreGuard<'_>, ApiError> {
        match (&self.engine, &self.standby_store) {
            (Some(engine), _) => Ok(engine.store()),
            (None, Some(store)) => Ok(store.lock()),
            (None, None) => Err(self
                .engine()
                .err()
                .unwrap_or_else(|| ApiError::internal("no store"))),
        }
    }

    pub fn engine(&self) -> Result<&crate::engine::Engine, ApiError> {
        self.engine.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the engine is not running: its driver plugin did not load (see `flotilla plugin list`)",
            )
        })
    }
}

/// Every route the API serves, with its handlers. `router` serves these,
/// and each handler's `#[utoipa::path]` puts it in the OpenAPI document; a
/// test checks that the two name the same routes and methods.
pub fn routes() -> Vec<(&'static str, MethodRouter<Arc<AppState>>)> {
    vec![
        ("/health", get(health)),
        ("/plugins", get(plugins)),
        ("/plugins/{id}", get(plugin)),
        (
            "/service_template",
            get(templates::list).post(templates::create),
        ),
        (
            "/service_template/{id}",
            get(templates::show)
                .put(templates::update)
                .delete(templates::delete),
        ),
        ("/service_template/{id}/action", post(templates::action)),
        ("/service", get(services::list)),
        (
            "/service/{id}",
            get(services::show)
                .delete(services::delete)
                .put(services::update),
        ),
        ("/service/{id}/action", post(services::action)),
        ("/service/{id}/scale", post(services::scale)),
        ("/service/{id}/role_action", post(services::role_action)),
        (
            "/service/{id}/role/{role}/action",
            post(services::role_vm_action),
        ),
        ("/service_pool/purge_done", post(services::purge_done)),
        (
            "/user",
            get(accounts::list_users).post(accounts::create_user),
        ),
        (
            "/group",
            get(accounts::list_groups).post(accounts::create_group),
        ),
        (
            "/service/{id}/sched_action/{sched_id}",
            delete(services::delete_sched_action),
        ),
        (
            "/service/{id}/role/{role}/sched_action/{sched_id}",
            delete(services::delete_role_sched_action),
        ),
        (
            "/user/{id}",
            get(accounts::show_user).delete(accounts::delete_user),
        ),
        ("/user/{id}/action", post(accounts::user_action)),
        (
            "/group/{id}",
            get(accounts::show_group).delete(accounts::delete_group),
        ),
        (
            "/vm_template",
            get(resources::list_vm_templates).post(resources::create_vm_template),
        ),
        (
            "/vm_template/{id}",
            get(resources::show_vm_template)
                .put(resources::update_vm_template)
                .delete(resources::delete_vm_template),
        ),
        (
            "/vm_template/{id}/action",
            post(resources::vm_template_action),
        ),
        (
            "/image",
            get(resources::list_images).post(resources::create_image),
        ),
        (
            "/image/{id}",
            get(resources::show_image)
                .put(resources::update_image)
                .delete(resources::delete_image),
        ),
        ("/image/{id}/action", post(resources::image_action)),
        ("/metrics", get(metrics::metrics)),
        ("/openapi.json", get(openapi)),
    ]
}

pub fn router(state: Arc<AppState>) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, handlers)| {
            router.route(path, handlers)
        })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin::same_origin,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Axum's own rejections (an id that is not a number, a method the route
/// does not have) come as plain text or empty; answer them as JSON too.
async fn json_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match (&allow, text.is_empty()) {
        (Some(allow), _) => format!(
            "{method} is not allowed here; this route takes {}",
            allow.to_str().unwrap_or("other methods")
        ),
        (None, _) if status == StatusCode::METHOD_NOT_ALLOWED => {
            format!("{method} is not allowed here; /openapi.json lists each route's methods")
        }
        (None, true) => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string(),
        (None, false) => text,
    };
    let mut response = ApiError::new(status, message).into_response();
    if let Some(allow) = allow {
        response
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow);
    }
    response
}

/// The OpenAPI document of this API, generated once.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "getOpenApi",
    tag = "system",
    summary = "This OpenAPI document",
    responses(
        (status = 200, description = "OpenAPI 3.1 document.", body = inline(GetOpenApiResponse))
    ),
    security(())
)]
async fn openapi() -> Response {
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(openapi::document);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// Liveness, for probes that call it often and without credentials: it
/// reads nothing from the store (it listed every service id before, which
/// made a probe's cost grow with the services and told anyone how many
/// there were).
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "getHealth",
    tag = "system",
    summary = "Server health",
    responses(
        (status = 200, description = "Health.", body = Health)
    ),
    security(())
)]
async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health {
        engine: state.engine.is_some(),
        sim_hypervisor: state.sim_url.clone(),
        status: HealthStatus::Ok,
        uptime_s: state.started.elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The server's liveness.
// The fields are in alphabetical order, as the keys of the JSON object this
// replaced came out, so the answer is the same to the byte.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    /// Whether the engine runs (false when its driver did not load).
    /// Liveness only: nothing is read from the store.
    engine: bool,
    /// URL of the embedded simulated hypervisor, if running.
    #[schema(required = true)]
    sim_hypervisor: Option<String>,
    #[schema(inline)]
    status: HealthStatus,
    uptime_s: u64,
    version: &'static str,
}

/// Always `ok`: an answer at all is the news.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum HealthStatus {
    Ok,
}

/// The largest request body read (axum's default, stated here so that the
/// 413 can name it).
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// A JSON request body. Like OneFlow, the body is read as JSON whatever
/// its Content-Type (curl's `-d` says form data); a body that is not JSON
/// is a 400 saying why.
pub struct JsonBody(Result<Option<serde_json::Value>, String>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body: over the limit of {BODY_LIMIT} bytes"),
            )
        };
        // Refused from its announced length, before any of it is read.
        let announced = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
        if announced.is_some_and(|n| n > BODY_LIMIT as u64) {
            return Err(too_large());
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    ApiError::bad_request(format!("request body: {}", e.body_text()))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Ok(None)));
        }
        Ok(JsonBody(
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("request body: not valid JSON: {e}")),
        ))
    }
}

impl JsonBody {
    /// A body that may be left out (`DELETE /service_template/:id`).
    fn optional(self) -> Result<Option<serde_json::Value>, ApiError> {
        self.0.map_err(ApiError::bad_request)
    }
}

/// The request body as JSON, or a 400 saying what is wrong with it.
fn body_json(body: JsonBody) -> Result<serde_json::Value, ApiError> {
    body.optional()?
        .ok_or_else(|| ApiError::bad_request("request body: required, a JSON object"))
}

/// `{"action": {"perform": P, "params": {...}}}`.
fn perform(body: JsonBody) -> Result<(String, serde_json::Value), ApiError> {
    let body = body_json(body)?;
    let action = body
        .get("action")
        .ok_or_else(|| ApiError::bad_request("action: required"))?;
    let perform = action
        .get("perform")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ApiError::bad_request("action.perform: required, a string"))?;
    let params = action.get("params").cloned().unwrap_or_else(|| json!({}));
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
fn check_name(field: &str, value: Option<&serde_json::Value>) -> Result<String, ApiError> {
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

fn param_str(params: &serde_json::Value, key: &str) -> Result<String, ApiError> {
    match params.get(key).and_then(serde_json::Value::as_str) {
        Some(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(ApiError::bad_request(format!(
            "params.{key}: required, a non-empty string"
        ))),
    }
}

/// A boolean parameter, false when absent.
fn param_bool(params: &serde_json::Value, key: &str) -> Result<bool, ApiError> {
    bool_field(params, key, &format!("params.{key}"))
}

/// `value[key]` as a boolean, false when absent; `field` names it in the
/// error.
fn bool_field(value: &serde_json::Value, key: &str, field: &str) -> Result<bool, ApiError> {
    match value.get(key) {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad_request(format!(
            "{field}: must be true or false"
        ))),
    }
}

fn param_id(params: &serde_json::Value, key: &str) -> Result<Option<u64>, ApiError> {
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

/// 403 unless the caller may use VM template `id` and every image its
/// disks name (`field` says where the id came from). A template that does
/// not exist is left to validation (400).
fn require_vm_template_use(
    store: &dyn Store,
    caller: &Caller,
    id: u64,
    field: &str,
) -> Result<(), ApiError> {
    let Some(t) = store.vm_template(id)? else {
        return Ok(());
    };
    let who = &caller.0.name;
    if !caller.0.may(Right::Use, &t.ownership) {
        return Err(ApiError::forbidden(format!(
            "{field}: user {who} may not use VM template {id}"
        )));
    }
    require_images_use(
        store,
        caller,
        &t.attributes,
        &format!("VM template {id}"),
        |image| {
            format!("{field}: user {who} may not use image {image}, a disk of VM template {id}")
        },
    )
}

/// 403 (`denied(image)` says why) unless the caller may use every image
/// the disks of `attributes` name; ids that are not whole numbers are a
/// 400 naming them under `at`. An image that does not exist is left to the
/// driver.
fn require_images_use(
    store: &dyn Store,
    caller: &Caller,
    attributes: &serde_json::Map<String, serde_json::Value>,
    at: &str,
    denied: impl Fn(u64) -> String,
) -> Result<(), ApiError> {
    for image in resources::checked_image_ids(attributes, at)? {
        if let Some(i) = store.resource(ResourceKind::Image, image)?
            && !caller.0.may(Right::Use, &i.ownership)
        {
            return Err(ApiError::forbidden(denied(image)));
        }
    }
    Ok(())
}

/// 403 unless the caller may use everything a service role (`role`, at
/// `field`) makes its VMs from: its VM template with that template's
/// images, and the images its `template_contents` disks name. Ids that
/// are not whole numbers are a 400 naming them; a role without a
/// template_id is left to validation.
fn require_role_use(
    store: &dyn Store,
    caller: &Caller,
    role: &serde_json::Value,
    field: &str,
) -> Result<(), ApiError> {
    match role.get("template_id") {
        None | Some(serde_json::Value::Null) => {}
        Some(v) => {
            let id = json_id(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{field}.template_id: must be a VM template id (a whole number)"
                ))
            })?;
            require_vm_template_use(store, caller, id, &format!("{field}.template_id"))?;
        }
    }
    if let Some(contents) = role
        .get("template_contents")
        .and_then(serde_json::Value::as_object)
    {
        let at = format!("{field}.template_contents");
        require_images_use(store, caller, contents, &at, |image| {
            format!(
                "{at}.DISK: user {} may not use image {image}",
                caller.0.name
            )
        })?;
    }
    Ok(())
}

/// `require_role_use` for every role of a service template or service
/// document (`roles[i]`).
fn require_roles_use(
    store: &dyn Store,
    caller: &Caller,
    document: &serde_json::Value,
) -> Result<(), ApiError> {
    let roles = document
        .get("roles")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten();
    for (i, role) in roles.enumerate() {
        require_role_use(store, caller, role, &format!("roles[{i}]"))?;
    }
    Ok(())
}

/// rename, chmod, chown and chgrp of a document.
fn change_ownership(
    store: &dyn Store,
    caller: &Caller,
    perform: &str,
    params: &serde_json::Value,
    ownership: &mut Ownership,
    name: &mut String,
) -> Result<(), ApiError> {
    match perform {
        "rename" => {
            *name = check_name("params.name", params.get("name"))?;
        }
        "chmod" => {
            let octet = param_str(params, "octet")?;
            let new = Permissions::from_octet(&octet).map_err(ApiError::bad_request)?;
            // As in OpenNebula: manage allows chmod, but only admin may
            // change the admin bits.
            let admin_bits = |p: &Permissions| [p.owner.admin, p.group.admin, p.other.admin];
            if admin_bits(&new) != admin_bits(&ownership.permissions)
                && !caller.0.may(Right::Admin, ownership)
            {
                return Err(ApiError::forbidden(format!(
                    "params.octet: user {} may not change the admin bits",
                    caller.0.name
                )));
            }
            ownership.permissions = new;
        }
        "chown" | "chgrp" => {
            let owner = if perform == "chown" {
                Some(
                    param_id(params, "owner_id")?
                        .ok_or_else(|| ApiError::bad_request("params.owner_id: required"))?,
                )
            } else {
                None
            };
            let group = param_id(params, "group_id")?;
            if perform == "chgrp" && group.is_none() {
                return Err(ApiError::bad_request("params.group_id: required"));
            }
            if let Some(uid) = owner
                && uid != ownership.uid
                && !caller.0.admin
            {
                return Err(ApiError::forbidden(
                    "only the oneadmin group may give a resource to another user",
                ));
            }
            if let Some(gid) = group
                && gid != caller.0.gid
                && !caller.0.admin
            {
                return Err(ApiError::forbidden(format!(
                    "user {} is not in group {gid}",
                    caller.0.name
                )));
            }
            if let Some(uid) = owner
                && !users::user_exists(store, uid)?
            {
                return Err(ApiError::bad_request(format!(
                    "params.owner_id: user {uid} does not exist"
                )));
            }
            if let Some(gid) = group
                && !users::group_exists(store, gid)?
            {
                return Err(ApiError::bad_request(format!(
                    "params.group_id: group {gid} does not exist"
                )));
            }
            if let Some(uid) = owner {
                ownership.uid = uid;
            }
            if let Some(gid) = group {
                ownership.gid = gid;
            }
        }
        _ => {}
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/plugins",
    operation_id = "listPlugins",
    tag = "plugins",
    summary = "Loaded plugins",
    responses(
        (status = 200, description = "Every plugin, loaded or failed.", body = inline(ListPluginsResponse)),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
async fn plugins(State(state): State<Arc<AppState>>, _caller: Caller) -> Json<serde_json::Value> {
    Json(json!({ "plugins": state.registry.summaries() }))
}

#[utoipa::path(
    get,
    path = "/plugins/{id}",
    operation_id = "getPlugin",
    tag = "plugins",
    summary = "One plugin",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The plugin.", body = PluginSummary),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
async fn plugin(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Response {
    match state.registry.summaries().into_iter().find(|p| p.id == id) {
        Some(p) => Json(p).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no plugin `{id}`; `flotilla plugin list` shows the loaded ones") })),
        )
            .into_response(),
    }
}

// The bodies above as the OpenAPI document describes them.

json_schema!(ActionRequest, {
    "type": "object",
    "description": "Generic action request; params defaults to {}.",
    "required": ["action"],
    "properties": {
        "action": {
            "type": "object",
            "required": ["perform"],
            "properties": {
                "perform": {
                    "type": "string"
                },
                "params": {
                    "type": "object",
                    "default": {}
                }
            }
        }
    }
});

json_schema!(RenameAction, {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {
            "type": "object",
            "required": ["perform", "params"],
            "properties": {
                "perform": {
                    "const": "rename"
                },
                "params": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 128,
                            "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$",
                            "description": "At most 128 characters, no control characters."
                        }
                    }
                }
            }
        }
    }
});

json_schema!(ChmodAction, {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {
            "type": "object",
            "required": ["perform", "params"],
            "properties": {
                "perform": {
                    "const": "chmod"
                },
                "params": {
                    "type": "object",
                    "required": ["octet"],
                    "properties": {
                        "octet": {
                            "type": "string",
                            "pattern": "^[0-7]{3}$",
                            "examples": ["640"]
                        }
                    }
                }
            }
        }
    }
});

json_schema!(ChownAction, {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {
            "type": "object",
            "required": ["perform", "params"],
            "properties": {
                "perform": {
                    "const": "chown"
                },
                "params": {
                    "type": "object",
                    "required": ["owner_id"],
                    "properties": {
                        "owner_id": {
                            "type": ["integer", "string"],
                            "minimum": 0,
                            "pattern": "^[0-9]+$",
                            "description": "An id, as a number or a string of digits."
                        },
                        "group_id": {
                            "type": ["integer", "string", "null"],
                            "minimum": -1,
                            "pattern": "^(-1|[0-9]+)$",
                            "description": "An id, as a number or a string of digits; absent or -1 keeps the group."
                        }
                    }
                }
            }
        }
    },
    "description": "Giving to another user needs the oneadmin group; group_id absent keeps the group."
});

json_schema!(ChgrpAction, {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {
            "type": "object",
            "required": ["perform", "params"],
            "properties": {
                "perform": {
                    "const": "chgrp"
                },
                "params": {
                    "type": "object",
                    "required": ["group_id"],
                    "properties": {
                        "group_id": {
                            "type": ["integer", "string"],
                            "minimum": 0,
                            "pattern": "^[0-9]+$",
                            "description": "An id, as a number or a string of digits."
                        }
                    }
                }
            }
        }
    }
});

json_schema!(GetOpenApiResponse, {
    "type": "object"
});

json_schema!(ListPluginsResponse, {
    "type": "object",
    "required": ["plugins"],
    "properties": {
        "plugins": {
            "type": "array",
            "items": {
                "$ref": "#/components/schemas/PluginSummary"
            }
        }
    }
});
