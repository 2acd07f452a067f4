//! Flotilla's pure core: service templates and their validation, user
//! inputs, merges, the deployment order, numbered states, OpenNebula's
//! permission bits, and the life cycle as a state machine whose methods take
//! the time and return effects.
//!
//! Nothing here does I/O: no async runtime, no database, no HTTP, no
//! wasmtime (`cargo tree -p flotilla-core` shows it). The server carries
//! the effects out; the tests drive every transition without sleeping.

pub mod clock;
pub mod fleet;
pub mod network;
pub mod permissions;
pub mod service;

pub use flotilla_model as model;
