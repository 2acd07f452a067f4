//! The plugin host: the only code in Flotilla that touches wasmtime.
//!
//! Everything else talks to the types here: a [`PluginHost`] loads a
//! component with its [`Manifest`] and the operator's [`Grant`] into a
//! [`LoadedPlugin`]; from that, [`Driver`], [`Network`] and [`Plumbing`]
//! give warm, supervised instances and [`Policy`] runs every evaluation in
//! a fresh one.
//! A trap, a timeout, an exhausted memory cap or a refused capability comes
//! back as a typed [`PluginFault`], never as a crash.

mod bindings;
mod capability;
mod child;
mod convert;
mod driver;
mod engine;
mod fault;
mod instance;
pub mod link;
pub mod manifest;
mod network;
mod plumbing;
mod policy;
mod process;
mod registry;
mod state;
mod supervisor;

pub use capability::{OriginError, OriginPattern};
pub use driver::{Driver, DriverBindings, DriverInstance};
pub use engine::{LoadError, LoadedPlugin, PluginHost, PluginStats};
pub use fault::{CallError, FaultKind, PluginFault};
pub use flotilla_model::{
    Device, DeviceKind, Evaluation, HostMonitoring, HostProbe, KeyValue, ManagedVm, Metric,
    NetworkLease, NetworkRequest, NetworkSource, PluginError, PluginInfo, Port, Recommendation,
    RoleView, Segment, VmAction, VmSample, VmSpec, VmState, VmStatus, VnetInfo, VnetRange, Vxlan,
};
pub use link::{IpCommand, LinkBackend, LinkPolicy, LinkSite, MemoryLinks};
pub use manifest::{ExecGrant, Grant, Limits, LinkGrant, Manifest, PluginKind};
pub use network::{Network, NetworkInstance};
pub use plumbing::{Plumbing, PlumbingInstance};
pub use policy::{Policy, PolicyInstance};
pub use registry::NetworkRegistry;
