//! The plugin host: the only code in Flotilla that touches wasmtime.
//!
//! Everything else talks to the types here: a [`PluginHost`] loads a
//! component with its [`Manifest`] and the operator's [`Grant`] into a
//! [`LoadedPlugin`]; from that, [`Driver`] and [`Network`] give warm,
//! supervised instances and [`Policy`] runs every evaluation in a fresh one.
//! A trap, a timeout, an exhausted memory cap or a refused capability comes
//! back as a typed [`PluginFault`], never as a crash.

mod bindings;
pub mod builtin;
mod capability;
mod driver;
mod engine;
mod fault;
mod instance;
pub mod manifest;
mod network;
mod policy;
mod state;
mod supervisor;

pub use bindings::types::{Error as PluginError, KeyValue, Metric, PluginInfo, VmState};
pub use capability::OriginPattern;
pub use driver::{Driver, DriverInstance, ManagedVm, VmAction, VmSpec, VmStatus};
pub use engine::{LoadedPlugin, PluginHost, PluginStats};
pub use fault::{CallError, FaultKind, PluginFault};
pub use manifest::{Grant, Limits, Manifest, PluginKind};
pub use network::{Network, NetworkInstance, NetworkLease, NetworkRequest, NetworkSource};
pub use policy::{Evaluation, Policy, PolicyInstance, Recommendation, RoleView, VmSample};
