//! OneGate: the endpoint a service's VMs talk to. A VM reports its own
//! attributes (`READY=YES` for `ready_status_gate`, values its children
//! read through `${PARENT.…}` references, an application's metrics for
//! policies), reads its service and its siblings, and scales a role of its
//! own service. OneGate's routes and shapes (`onegate` clients work), on a
//! listener of its own so VM traffic never queues behind the API's.
//!
//! `gate.rs` holds what the routes share (`OneGate`: the signer, the
//! reports, the limits). Each VM gets a token in its context, bound to its
//! service and operation id (`token.rs`), issued and checked by the
//! engine's clock; a token opens only its own VM and its own service.
//! Reports live in memory and reach the store once a second
//! (`reports.rs`); the routes are in `routes.rs`, VM actions in
//! `actions.rs`, what a virtual router reads of its networks in
//! `vnets.rs`, and `GET /service` answers are rendered once per version of
//! the service (`rendered.rs`).

mod actions;
mod gate;
mod rendered;
mod reports;
mod routes;
pub mod token;
mod vnets;

pub use gate::OneGate;
pub use reports::Reports;
pub use routes::router;
