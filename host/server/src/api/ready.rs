//! `GET /ready`: whether the server is ready to take work, and if not,
//! why: the store answers, the engine's driver is loaded, the first
//! reconciliation with the driver has run. Open without credentials, like
//! `/health`, for load balancers and the service manager's checks; it
//! reveals no resource.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How the server's start went, as far as readiness is concerned.
#[derive(Debug, Default)]
pub struct Startup {
    /// The first reconciliation's outcome: (VMs adopted, orphans
    /// terminated), or why it did not run (it is retried until it does).
    reconciliation: std::sync::Mutex<Option<Result<(usize, usize), String>>>,
}

impl Startup {
    pub fn reconciled(&self, outcome: Result<(usize, usize), String>) {
        *self
            .reconciliation
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(outcome);
    }

    pub fn reconciliation(&self) -> Option<Result<(usize, usize), String>> {
        self.reconciliation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// Each check: `ok`, or why it is not.
    pub store: String,
    pub driver: String,
    pub reconciliation: String,
}

/// The checks, for the route and for the service manager's notification.
pub fn readiness(state: &AppState) -> Readiness {
    let driver = match &state.engine {
        Some(_) => "ok".to_string(),
        None => "not loaded: see GET /plugins".to_string(),
    };
    let store = match state.engine.as_ref().map(|e| e.service_ids()) {
        Some(Ok(_)) => "ok".to_string(),
        Some(Err(e)) => format!("not answering: {e}"),
        None => "not in use: no engine".to_string(),
    };
    let reconciliation = match &state.startup.reconciliation() {
        Some(Ok((adopted, orphans))) => {
            format!("ok: {adopted} VMs adopted, {orphans} orphans terminated")
        }
        Some(Err(e)) => format!("failed: {e}"),
        None => "not run".to_string(),
    };
    Readiness {
        ready: store == "ok" && driver == "ok" && reconciliation.starts_with("ok"),
        store,
        driver,
        reconciliation,
    }
}

#[utoipa::path(
    get,
    path = "/ready",
    operation_id = "getReadiness",
    tag = "system",
    summary = "Whether the server is ready to take work",
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (status = 503, description = "Not ready; each check says why.", body = Readiness)
    ),
    security(())
)]
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let state2 = state.clone();
    let answer = match tokio::task::spawn_blocking(move || readiness(&state2)).await {
        Ok(answer) => answer,
        Err(e) => Readiness {
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
