//! Services and their templates: the model, validation, user inputs,
//! template merging and the deployment order. Pure code: no I/O, no
//! wasmtime, no SQL; the lifecycle engine builds on it.

pub mod attributes;
pub mod elasticity;
pub mod inputs;
pub mod lifecycle;
pub mod merge;
pub mod model;
pub mod policy;
pub mod simulation;
pub mod state;
pub mod strategy;
pub mod validate;

pub use flotilla_policy::LoadShape;
pub use model::{Deployment, Role, RoleType, ServiceTemplate, ShutdownAction};
pub use policy::{ElasticityPolicy, PolicyRule, ScheduledPolicy};
pub use state::{RoleState, ServiceState};
pub use validate::{FieldError, parse_template};
