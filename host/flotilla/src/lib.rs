//! Flotilla: an orchestrator of multi-tier VM applications whose
//! hypervisor drivers, elasticity policies and network modes are sandboxed
//! WebAssembly components.
//!
//! This crate is the `flotilla` command line (`cli`) over the parts, each a
//! crate of its own (see docs/ARCHITECTURE.md): `flotilla-model` (the words
//! host and plugins share), `flotilla-core` (the pure life cycle),
//! `flotilla-plugin-host` (the only crate that links wasmtime),
//! `flotilla-builtin` (the plugins built in),
//! `flotilla-store`, `flotilla-sim-hypervisor` (the simulated hypervisor),
//! `flotilla-conformance` (conformance suites), `flotilla-engine` (what runs
//! the services: the engine, the plugin registry, live installs, reloads,
//! the configuration) and `flotilla-server` (the API, users and OneGate,
//! over the engine). They are re-exported here under short names, for the
//! command line and the integration tests.

pub mod cli;

pub use flotilla_core::{clock, permissions, service};
pub use flotilla_engine as engine;
pub use flotilla_engine::{config, install, registry, reload};
pub use flotilla_model as model;
/// The plugin host, with the plugins built into Flotilla as `builtin`.
pub mod plugin {
    pub use flotilla_builtin as builtin;
    pub use flotilla_plugin_host::*;
}
pub use flotilla_conformance as conformance;
pub use flotilla_server::{access, api, onegate, ui};
pub use flotilla_sim_hypervisor as sim_hypervisor;
pub use flotilla_store as store;
