//! The words the host and its plugins share: VM states and actions, and the
//! data each plugin kind exchanges with the host.
//!
//! These types mirror the WIT contracts in `wit/` one for one. The host's
//! wasmtime bindings and the guest SDK's wit-bindgen bindings each convert
//! to and from them with exhaustive matches, so a state or an action is
//! spelled once, here, and never converted through a string.

mod action;
mod backend;
pub mod batch;
mod data;
mod field;
mod state;

pub mod pattern;

pub use action::VmAction;
pub use backend::BackendError;
pub use data::*;
pub use field::FieldError;
pub use state::VmState;
