//! The REST API served by `flotilla serve`: OneFlow's routes and shapes
//! (`/service`, `/service_template`), with HTTP Basic authentication and
//! OpenNebula permissions, plus health and the plugin registry.
//!
//! The files are layered, and none imports one that imports it (a test
//! checks it): at the bottom `schemas/` (bodies and the answers routes
//! share, for the OpenAPI document), `error.rs`, `body.rs`,
//! `documents.rs`, `listener.rs`, `request_id.rs` and the parts the state
//! holds (`ready.rs`, `metrics.rs`, `rendered.rs`); `state.rs`
//! (`AppState`) over them; `auth.rs`, `origin.rs`, `warnings.rs`,
//! `attributes.rs` and `rights.rs` over it; the route files (`system`,
//! `plugins`, `templates`, `simulate`, `services`, `explain`, `resources`,
//! `vnets`, `hosts`, `accounts`) over those; at the top `openapi.rs`, which lists every
//! route file's handlers, and this file, the route table.

mod accounts;
mod attributes;
pub(crate) mod auth;
pub(crate) mod body;
mod documents;
mod error;
pub mod explain;
mod hosts;
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
mod simulate;
mod state;
mod system;
mod templates;
mod vnets;
mod warnings;

pub use body::JsonBody;
pub use error::ApiError;
pub use origin::normalise as origin_normalise;
pub use state::AppState;
pub use warnings::WARNING_HEADER;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use std::sync::Arc;

/// Every route the API serves, with its handlers. `router` serves these,
/// and each handler's `#[utoipa::path]` puts it in the OpenAPI document; a
/// test checks that the two name the same routes and methods.
pub fn routes() -> Vec<(&'static str, MethodRouter<Arc<AppState>>)> {
    vec![
        ("/health", get(system::health)),
        ("/ready", get(system::ready)),
        ("/config/reload", post(plugins::reload)),
        ("/plugins", get(plugins::list).post(plugins::install)),
        ("/plugins/{id}", get(plugins::show).delete(plugins::remove)),
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
        ("/service_template/{id}/simulate", post(simulate::simulate)),
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
        ("/host", get(hosts::list).post(hosts::create)),
        ("/host/{id}", get(hosts::show).delete(hosts::delete)),
        ("/host/{id}/action", post(hosts::action)),
        ("/metrics", get(system::metrics)),
        ("/openapi.json", get(openapi::serve)),
    ]
}

/// The API's routes and `pages` (the dashboard's, `ui::router`), inside
/// the same layers.
pub fn router(state: Arc<AppState>, pages: Router<Arc<AppState>>) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, handlers)| {
            router.route(path, handlers)
        })
        // Inside the metrics, so that refused bodies are counted.
        .route_layer(axum::middleware::from_fn(body::refuse_oversize))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .merge(pages)
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin::same_origin,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(body::BODY_LIMIT))
        // Every answer, a refused cross-site request included, carries its
        // id.
        .layer(axum::middleware::from_fn(request_id::request_id))
        // Outermost: gzip for clients that ask for it (a browser polling
        // the list of a thousand services gets a tenth of the bytes).
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
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
