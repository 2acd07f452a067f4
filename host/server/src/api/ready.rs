//! Whether the server is ready to take work, and if not, why: the store
//! answers, the engine's driver is loaded, the first reconciliation with
//! the driver has run. `GET /ready` (`system.rs`) answers it, open without
//! credentials for load balancers, and the binary tells the service
//! manager; it reveals no resource.

use crate::engine::Engine;
use serde::{Deserialize, Serialize};

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

/// The checks, for the route and for the service manager's notification:
/// `engine` is `None` when its driver did not load.
pub fn readiness(engine: Option<&Engine>, startup: &Startup) -> Readiness {
    let driver = match engine {
        Some(_) => "ok".to_string(),
        None => "not loaded: see GET /plugins".to_string(),
    };
    let store = match engine.map(|e| e.service_ids()) {
        Some(Ok(_)) => "ok".to_string(),
        Some(Err(e)) => format!("not answering: {e}"),
        None => "not in use: no engine".to_string(),
    };
    let reconciliation = match &startup.reconciliation() {
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
