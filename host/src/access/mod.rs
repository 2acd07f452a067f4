//! Users, groups and permissions: who a request is, and what it may do
//! with a resource. Pure rules in `permissions`; stored users in `users`;
//! password checks on their own threads in `passwords`; sign-in throttling
//! in `throttle`.

pub mod passwords;
pub mod permissions;
pub mod throttle;
pub mod users;

pub use permissions::{Identity, Ownership, Permissions, Right};
