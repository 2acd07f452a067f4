//! The simulated hypervisor: the zero-setup default backend and the
//! workhorse of tests and benchmarks.
//!
//! It keeps VMs with OpenNebula's states behind an HTTP API on loopback;
//! the `sim` driver plugin reaches it only through its wasi:http grant.
//! Behaviour is injected per VM through template attributes (see
//! [`model::Behaviour`]), and state survives restarts in SQLite. VMs may
//! run on simulated hosts, which can be cut off ([`model::hosts`]). VMs with
//! `SIM_ONEGATE=YES` report about themselves to the OneGate endpoint of
//! their `CONTEXT` over real HTTP, as a VM's start script would (see
//! [`model::onegate`] and [`server`]).

pub mod model;
pub mod server;
mod store;

pub use model::{
    Behaviour, CreateRequest, Host, HostUsage, HostView, Hypervisor, LoadShape, OneGateView,
    SimError, State, VmView,
};
pub use server::{SimHypervisor, SimOptions, router, spawn};
