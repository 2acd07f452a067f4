//! The REST API served by `flotilla serve`. For now: health and the plugin
//! registry; the OneFlow-compatible service routes build on this router.

use crate::registry::Registry;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

pub struct AppState {
    pub engine: Option<crate::engine::Engine>,
    pub registry: Registry,
    pub sim_url: Option<String>,
    pub started: std::time::Instant,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/plugins", get(plugins))
        .route("/plugins/{id}", get(plugin))
        .with_state(state)
}

async fn health(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let services = state
        .engine
        .as_ref()
        .and_then(|e| e.service_ids().ok())
        .map(|ids| ids.len());
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
        "sim_hypervisor": state.sim_url,
        "services": services,
    }))
}

async fn plugins(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({ "plugins": state.registry.summaries() }))
}

async fn plugin(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.registry.summaries().into_iter().find(|p| p.id == id) {
        Some(p) => Json(p).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no plugin `{id}`; `flotilla plugin list` shows the loaded ones") })),
        )
            .into_response(),
    }
}
