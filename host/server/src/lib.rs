//! Flotilla's server: HTTP onto the engine. The REST API (`api`), users,
//! passwords and sign-in throttling (`access`), and OneGate, the endpoint
//! VMs talk to (`onegate`). What runs the services, the plugins and the
//! configuration is `flotilla-engine`'s.

pub mod access;
pub mod api;
pub mod onegate;

// The parts the server is built from, by the names its modules use.
use flotilla_core::{clock, service};
use flotilla_engine as engine;
use flotilla_engine::{config, install, registry, reload};
use flotilla_plugin_host as plugin;
use flotilla_store as store;
