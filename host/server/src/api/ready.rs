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
    /// The first reconciliation's outcome; `None` before it is tried.
    reconciliation: std::sync::Mutex<Option<Reconciliation>>,
}

/// How the first reconciliation with the driver went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciliation {
    /// It ran: VMs adopted, orphans terminated.
    Ran { adopted: usize, orphans: usize },
    /// Why it did not run; it is retried until it does.
    Failed(String),
}

impl Startup {
    pub fn reconciled(&self, outcome: Reconciliation) {
        *self
            .reconciliation
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(outcome);
    }

    pub fn reconciliation(&self) -> Option<Reconciliation> {
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
    let (store_ok, store) = match engine.map(|e| e.service_ids()) {
        Some(Ok(_)) => (true, "ok".to_string()),
        Some(Err(e)) => (false, format!("not answering: {e}")),
        None => (false, "not in use: no engine".to_string()),
    };
    let (reconciled, reconciliation) = match &startup.reconciliation() {
        Some(Reconciliation::Ran { adopted, orphans }) => (
            true,
            format!("ok: {adopted} VMs adopted, {orphans} orphans terminated"),
        ),
        Some(Reconciliation::Failed(e)) => (false, format!("failed: {e}")),
        None => (false, "not run".to_string()),
    };
    Readiness {
        ready: store_ok && engine.is_some() && reconciled,
        store,
        driver,
        reconciliation,
    }
}
