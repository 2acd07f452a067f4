//! The system routes, open without credentials: `GET /health` (liveness),
//! `GET /ready` (the checks of `ready.rs`) and `GET /metrics` (what
//! `metrics.rs` shows). `/openapi.json` is served by `openapi.rs`.

use super::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

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
pub async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
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
pub struct Health {
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
    path = "/ready",
    operation_id = "getReadiness",
    tag = "system",
    summary = "Whether the server is ready to take work",
    responses(
        (status = 200, description = "Ready.", body = super::ready::Readiness),
        (status = 503, description = "Not ready; each check says why.", body = super::ready::Readiness)
    ),
    security(())
)]
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let state2 = state.clone();
    let answer = match tokio::task::spawn_blocking(move || state2.readiness()).await {
        Ok(answer) => answer,
        Err(e) => super::ready::Readiness {
            ready: false,
            store: format!("check failed: {e}"),
            driver: String::new(),
            reconciliation: String::new(),
        },
    };
    let status = if answer.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(answer)).into_response()
}

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "system",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4: gauges flotilla_services{state}, flotilla_roles{state}; counter flotilla_engine_rounds_total; counters flotilla_plugin_calls_total{plugin,kind}, flotilla_plugin_faults_total{plugin,kind}, flotilla_http_requests_total{method,route,status}; gauges flotilla_connections_open{listener}, flotilla_connections_open_max{listener} (listener: api, onegate); histogram flotilla_http_request_duration_seconds{method,route} (_bucket{le}, _sum, _count).", body = String, content_type = "text/plain; version=0.0.4")
    ),
    security(())
)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let services = match &state.engine {
        None => None,
        Some(engine) => match engine.store().services() {
            Ok(services) => Some((services, engine.rounds())),
            Err(e) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("reading services: {e:#}\n"),
                )
                    .into_response();
            }
        },
    };
    match super::metrics::scrape(
        services.as_ref().map(|(s, rounds)| (s.as_slice(), *rounds)),
        state.registry.summaries(),
        &state.metrics,
    ) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            )],
            text,
        )
            .into_response(),
        Err(std::fmt::Error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the metrics failed\n",
        )
            .into_response(),
    }
}
