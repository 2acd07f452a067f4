//! The REST API served by `flotilla serve`: OneFlow's routes and shapes
//! (`/service`, `/service_template`), with HTTP Basic authentication and
//! OpenNebula permissions, plus health and the plugin registry.

mod accounts;
mod auth;
mod body;
mod documents;
mod error;
pub mod explain;
pub mod listener;
mod metrics;
mod openapi;
mod origin;
mod plugins;
pub mod ready;
pub(crate) mod rendered;
mod request_id;
mod resources;
mod rights;
mod schemas;
mod services;
mod templates;
mod vnets;
mod warnings;

pub use body::JsonBody;
pub(crate) use body::json_id;
use body::{body_json, bool_field, check_name, param_bool, param_id, param_str, perform};
pub use error::ApiError;
pub use origin::normalise as origin_normalise;
use rights::{change_ownership, require_role_use, require_roles_use};
pub use warnings::WARNING_HEADER;
use warnings::Warnings;

use crate::access::users::Authenticator;
use crate::registry::Registry;
use crate::store::{SharedStore, StoreGuard};
use auth::Caller;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use axum::{Json, Router};
use openapi::{NotFound, Unauthorized, Unavailable};
use schemas::common::*;
use serde_json::json;
use std::sync::Arc;

pub struct AppState {
    pub engine: Option<crate::engine::Engine>,
    pub registry: Registry,
    /// How the start went (the first reconciliation), for `/ready`.
    pub startup: ready::Startup,
    /// Re-reads flotilla.toml (SIGHUP, `POST /config/reload`).
    pub reloader: Option<Arc<crate::reload::Reloader>>,
    /// Installs plugins through the API; `None` without a data directory.
    pub installer: Option<Arc<crate::install::Installer>>,
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
    pub rendered: rendered::RenderedServices,
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
        ("/ready", get(ready::ready)),
        ("/config/reload", post(plugins::reload)),
        ("/plugins", get(plugins).post(plugins::install)),
        ("/plugins/{id}", get(plugin).delete(plugins::remove)),
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
        ("/service/{id}/explain", get(explain::explain)),
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
        ("/vnet", get(vnets::list_vnets).post(vnets::create_vnet)),
        (
            "/vnet/{id}",
            get(vnets::show_vnet)
                .put(vnets::update_vnet)
                .delete(vnets::delete_vnet),
        ),
        ("/vnet/{id}/action", post(vnets::vnet_action)),
        ("/vnet/{id}/reserve", post(vnets::reserve_vnet)),
        (
            "/vntemplate",
            get(vnets::list_vntemplates).post(vnets::create_vntemplate),
        ),
        (
            "/vntemplate/{id}",
            get(vnets::show_vntemplate)
                .put(vnets::update_vntemplate)
                .delete(vnets::delete_vntemplate),
        ),
        ("/vntemplate/{id}/action", post(vnets::vntemplate_action)),
        (
            "/vntemplate/{id}/instantiate",
            post(vnets::instantiate_vntemplate),
        ),
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
        // Inside the metrics, so that refused bodies are counted.
        .route_layer(axum::middleware::from_fn(body::refuse_oversize))
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
        .layer(axum::extract::DefaultBodyLimit::max(body::BODY_LIMIT))
        // Outermost: every answer, a refused cross-site request included,
        // carries its id.
        .layer(axum::middleware::from_fn(request_id::request_id))
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
        (status = 200, description = "The plugin.", body = schemas::plugins::PluginSummary),
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
