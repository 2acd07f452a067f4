//! What every handler reads: the engine (or, when its driver did not
//! load, the store alone), the plugin registry, the installer and
//! reloader, sign-in state, and the clock answers are dated by.

use super::error::ApiError;
use super::metrics::HttpMetrics;
use super::ready::{Readiness, Startup};
use super::rendered::RenderedServices;
use crate::access::passwords::PasswordChecks;
use crate::access::sessions::Sessions;
use crate::access::throttle::SignInThrottle;
use crate::access::users::Authenticator;
use crate::clock::SharedClock;
use crate::engine::Engine;
use crate::install::Installer;
use crate::registry::Registry;
use crate::reload::Reloader;
use crate::store::{SharedStore, StoreGuard};
use axum::http::StatusCode;
use std::sync::Arc;

pub struct AppState {
    pub engine: Option<Engine>,
    pub registry: Registry,
    /// How the start went (the first reconciliation), for `/ready`.
    pub startup: Startup,
    /// Re-reads flotilla.toml (SIGHUP, `POST /config/reload`).
    pub reloader: Option<Arc<Reloader>>,
    /// Installs plugins through the API; `None` without a data directory.
    pub installer: Option<Arc<Installer>>,
    pub sim_url: Option<String>,
    pub started: std::time::Instant,
    /// The time answers are dated by (a template's registration time): the
    /// engine's clock.
    pub clock: SharedClock,
    pub auth: Authenticator,
    pub metrics: HttpMetrics,
    /// The store when there is no engine (its driver did not load): users
    /// can still sign in and see why in `/plugins`.
    pub standby_store: Option<SharedStore>,
    /// `server.strict_attributes`: unknown template attributes are a 400
    /// rather than warnings.
    pub strict_attributes: bool,
    /// Where passwords are checked (`server.password_checks` threads).
    pub passwords: PasswordChecks,
    /// Failed sign-ins per name and address (`server.failed_logins_per_minute`).
    pub throttle: SignInThrottle,
    /// Origins besides the server's own that may send state-changing
    /// requests (`server.allowed_origins`), normalised by `origin::normalise`.
    pub allowed_origins: Vec<String>,
    /// `GET /service/:id` answers, rendered once per version of a service.
    pub rendered: RenderedServices,
    /// The dashboard's signed-in browsers (`server.session_idle_minutes`).
    pub sessions: Sessions,
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

    pub fn engine(&self) -> Result<&Engine, ApiError> {
        self.engine.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the engine is not running: its driver plugin did not load (see `flotilla plugin list`)",
            )
        })
    }

    /// The readiness checks, for `/ready` and the service manager's
    /// notification. Blocks on the store.
    pub fn readiness(&self) -> Readiness {
        super::ready::readiness(self.engine.as_ref(), &self.startup)
    }

    /// Now, in seconds since the epoch, by the engine's clock.
    pub fn now_s(&self) -> u64 {
        self.clock.now_ms() / 1000
    }
}
