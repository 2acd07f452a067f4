//! Users, groups and permissions: who a request is, and what it may do
//! with a resource. Pure rules in `permissions`; stored users in `users`.

pub mod permissions;
pub mod users;

pub use permissions::{Identity, Ownership, Permissions, Right};
