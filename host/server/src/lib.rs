//! Flotilla's server: the REST API (`api`), users, passwords and sign-in
//! throttling (`access`), the engine that runs the life cycle and carries
//! out its effects through the plugins (`engine`), the plugins a server runs
//! (`registry`), installing them live (`install`) and its configuration
//! (`config`).

pub mod access;
pub mod api;
pub mod config;
pub mod engine;
pub mod install;
pub mod onegate;
pub mod registry;
pub mod reload;

// The parts the server is built from, by the names its modules use.
use flotilla_core::{clock, service};
use flotilla_plugin_host as plugin;
use flotilla_store as store;
