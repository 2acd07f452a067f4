//! OneFlow's elasticity rules as pure functions: the expression of a
//! metric policy ([`expression`]), how consecutive evaluations make it
//! fire ([`streak`]), when a scheduled policy fires ([`schedule`]), and how a policy's `type` and `adjust` turn the
//! current cardinality into a new one ([`adjustment`]).
//!
//! The core uses this crate to refuse a bad expression when a template is
//! created; the built-in expression policy plugin evaluates the same
//! expressions with the same code inside its sandbox, so what validation
//! accepts is exactly what evaluation understands.

pub mod adjustment;
pub mod builtin;
pub mod expression;
pub mod load;
#[cfg(feature = "schedule")]
pub mod schedule;
pub mod streak;

pub use adjustment::{Adjustment, AdjustmentKind, Bounds, Hold, Target};
pub use expression::{Evaluated, Expression, ParseError, ParsedExpression, Truth};
pub use load::{LoadShape, ShapeError};
#[cfg(feature = "schedule")]
pub use schedule::{CatchUp, Due, Schedule, ScheduleError};
pub use streak::{Count, Streak};
