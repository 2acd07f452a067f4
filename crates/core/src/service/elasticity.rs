//! Elasticity decisions for one role, pure: a metric policy of the
//! template read into typed form, the role's values averaged over its
//! running VMs, and one evaluation that says what it read, how the streak
//! stands, what the bounds did and what to scale to. Nothing here calls a
//! plugin or the clock: the caller passes the time and the values.
//!
//! The engine is to run these on a cadence and keep each [`Decision`] for
//! `service explain`; the expression itself may be evaluated by the
//! built-in policy plugin with the same `flotilla-policy` code.

use super::lifecycle::RoleRuntime;
use super::model::Role;
use flotilla_model::VmState;
use flotilla_policy::{Adjustment, AdjustmentKind, Bounds, Count, Expression, Hold, Streak, Truth};
use serde_json::{Map, Value};

/// One of a role's `elasticity_policies`, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPolicy {
    pub expression: Expression,
    pub adjustment: Adjustment,
    /// Seconds between evaluations (OneFlow's `period`, default 0).
    pub period_s: u64,
    /// Consecutive true evaluations to fire (0 and 1: the first).
    pub period_number: u32,
    /// Seconds the role waits after this policy scaled it.
    pub cooldown_s: Option<u32>,
}

fn whole(policy: &Map<String, Value>, key: &str) -> Option<i64> {
    match policy.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl MetricPolicy {
    /// From a policy validation accepted; `Err` names what is unusable
    /// (a policy stored by an older release may not have been checked).
    pub fn read(policy: &Map<String, Value>) -> Result<MetricPolicy, String> {
        let kind = policy
            .get("type")
            .and_then(Value::as_str)
            .and_then(AdjustmentKind::parse)
            .ok_or("type: not CHANGE, CARDINALITY or PERCENTAGE_CHANGE")?;
        let adjust = whole(policy, "adjust").ok_or("adjust: not a whole number")?;
        let text = policy
            .get("expression")
            .and_then(Value::as_str)
            .ok_or("expression: missing")?;
        let expression = Expression::parse(text).map_err(|e| format!("expression: {e}"))?;
        let unsigned = |key: &str| whole(policy, key).and_then(|n| u64::try_from(n).ok());
        Ok(MetricPolicy {
            expression,
            adjustment: Adjustment {
                kind,
                adjust,
                min_adjust_step: unsigned("min_adjust_step")
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0),
            },
            period_s: unsigned("period").unwrap_or(0),
            period_number: unsigned("period_number")
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            cooldown_s: unsigned("cooldown").and_then(|n| u32::try_from(n).ok()),
        })
    }
}

/// The average of `name` over the role's RUNNING VMs that report it,
/// rounded to two decimals as OneFlow rounds it; `None` when none does.
/// A VM's own reported attributes come first, then the hypervisor's
/// monitoring. VMs that are not RUNNING do not count (OneFlow's ACTIVE +
/// RUNNING rule).
pub fn role_average(role: &RoleRuntime, name: &str) -> Option<f64> {
    let values: Vec<f64> = role
        .nodes
        .iter()
        .filter(|n| n.vm_state == Some(VmState::Running) && !n.terminating)
        .filter_map(|n| n.values.get(name))
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return None;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    Some((mean * 100.0).round() / 100.0)
}

/// The role's `min_vms`..`max_vms` (validation requires both on a role
/// with policies; a role without falls back to its cardinality, so no
/// policy moves it).
pub fn bounds(role: &Role, cardinality: u32) -> Bounds {
    Bounds {
        min: role.min_vms.unwrap_or(cardinality),
        max: role.max_vms.unwrap_or(cardinality),
    }
}

/// What one evaluation of a metric policy found and decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub at_ms: u64,
    /// `CPU[85.3] > 80 → true`.
    pub trace: String,
    pub truth: Truth,
    /// `2/3 consecutive`, or why the streak started over.
    pub streak: String,
    /// The guards that held the role back or changed the target.
    pub guards: Vec<String>,
    /// The cardinality to scale to, if the policy fired and moves the role.
    pub scale_to: Option<u32>,
}

/// Evaluate `policy` for a role of `cardinality` VMs at `now_ms`, with
/// `value` giving the role's averages. `cooldown_until_ms`: automatic
/// scaling of this role is held until then. `None` when the policy is not
/// due yet (its `period` has not passed): nothing was evaluated.
pub fn evaluate(
    policy: &MetricPolicy,
    streak: &mut Streak,
    value: impl Fn(&str) -> Option<f64>,
    cardinality: u32,
    bounds: Bounds,
    cooldown_until_ms: Option<u64>,
    now_ms: u64,
) -> Option<Decision> {
    if streak.last_eval_ms.is_some() && now_ms < streak.due_ms(policy.period_s) {
        return None;
    }
    let evaluated = policy.expression.evaluate(value);
    let count = streak.count(now_ms, evaluated.truth, policy.period_number);
    let mut decision = Decision {
        at_ms: now_ms,
        trace: evaluated.to_string(),
        truth: evaluated.truth,
        streak: match count {
            Count::True { true_evals, of } => format!("{true_evals}/{of} consecutive"),
            Count::False => "false: starts over".into(),
            Count::Missing => format!(
                "metric missing ({}): starts over",
                evaluated.missing.join(", ")
            ),
        },
        guards: Vec::new(),
        scale_to: None,
    };
    if !count.fires() {
        return Some(decision);
    }
    if let Some(until) = cooldown_until_ms.filter(|until| *until > now_ms) {
        let left = (until - now_ms).div_ceil(1000);
        decision.guards.push(format!("cooldown: {left} s left"));
        return Some(decision);
    }
    let target = policy.adjustment.target(cardinality, bounds);
    if let Some(hold) = target.held {
        decision.guards.push(match hold {
            Hold::Outside => hold.to_string(),
            _ => format!("wanted {}, {hold}", target.wanted),
        });
    }
    if target.cardinality != cardinality {
        decision.scale_to = Some(target.cardinality);
        streak.fired();
    }
    Some(decision)
}

#[cfg(test)]
mod tests;
