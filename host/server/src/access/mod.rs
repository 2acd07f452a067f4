//! Users, groups and permissions: who a request is, and what it may do
//! with a resource. Pure rules in `permissions` (from the core); stored users in `users`;
//! password checks on their own threads in `passwords`; sign-in throttling
//! in `throttle`; the dashboard's sign-in sessions in `sessions`.

pub mod passwords;
pub mod sessions;
pub mod throttle;
pub mod users;

pub use flotilla_core::permissions::{self, Identity, Ownership, Permissions, Right};
