//! Flotilla's engine: runs services against the store and the plugins,
//! and knows nothing of HTTP. The engine proper (`engine`: each operation
//! on a service under its lock, rounds, effects, the plugins it calls
//! through `VmBackend`, `PolicyBackend` and `NetworkBackend`, NICs, disks
//! and the networks' registry), the plugins a server runs (`registry`),
//! installing and removing them live (`install`), re-reading
//! `flotilla.toml` (`reload`), and the file itself (`config`).
//!
//! `flotilla-server` maps HTTP (the REST API and OneGate) onto it; the
//! binary puts the two together, and hands the benchmarks' native
//! backends to it.

pub mod config;
mod engine;
pub mod install;
pub mod registry;
pub mod reload;

pub use engine::vnets::StoreRegistry;
pub use engine::{
    BoxFuture, Engine, EngineError, ManagedRecord, NetworkBackend, NoNetworks, NoPolicies,
    PluginLibrary, PolicyBackend, Settings, VmBackend, VmReports,
};

// The parts the engine is built from, by the names its modules use.
use flotilla_core::{clock, permissions, service};
use flotilla_plugin_host as plugin;
use flotilla_store as store;
