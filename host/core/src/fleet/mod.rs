//! The fleet: the hosts VMs run on (OpenNebula's `onehost`), and where
//! each VM goes.
//!
//! `host.rs` holds what is known of a host: the operator's record (its
//! name, driver, address, labels, whether it is enabled) and what its
//! monitoring last said (capacity, use, state and reason). `placement.rs`
//! chooses a host for each VM from those records and the VMs already
//! placed, by the VM's `SCHED_REQUIREMENTS` and `SCHED_RANK`
//! (`requirements.rs` reads both), its role's affinity, and the
//! operator's strategy. Everything here is pure: the engine brings the
//! hosts and the VMs placed so far, and carries the decisions out.

mod host;
mod placement;
mod requirements;

pub use host::{Capacity, Host, HostMode, HostState, NewHost, check_name};
pub use placement::{
    Allocation, DEFAULT_CPU, DEFAULT_MEMORY_MB, Demand, Group, GroupPolicy, HostAttributes, Placer,
    Refusal, Refused, Strategy, Unplaced,
};
pub use requirements::{
    Attributes, MAX_DEPTH, MAX_LENGTH, ParseError, Rank, Requirements, Value, parse_number,
};
