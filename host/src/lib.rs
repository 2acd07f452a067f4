//! Flotilla: an orchestrator of multi-tier VM applications whose
//! hypervisor drivers, elasticity policies and network modes are sandboxed
//! WebAssembly components.
//!
//! `plugin` is the only module that touches wasmtime; `sim` is the
//! simulated hypervisor; `testkit` runs a plugin's conformance suite;
//! `registry`, `api` and `cli` are the edges.

pub mod access;
pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod engine;
pub mod plugin;
pub mod registry;
pub mod service;
pub mod sim;
pub mod store;
pub mod testkit;
