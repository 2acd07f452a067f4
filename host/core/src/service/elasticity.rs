//! Elasticity for one role, pure: the VMs whose values a policy may read
//! (and why the others are left out), the evaluation a policy plugin gets,
//! and the guards the host applies to what a policy recommends. Nothing
//! here calls a plugin or the clock: the caller passes the time.
//!
//! A role's policies are read into typed form once (`service/policy.rs`);
//! they are evaluated by plugins: OneFlow's metric policies by the built-in
//! `expression` plugin (`flotilla_policy::builtin`), others by the plugin a
//! policy names. The host decides which VMs count, when a policy is due and
//! whether its recommendation is applied.

use super::lifecycle::{Node, RoleRuntime};
use super::model::Role;
use super::policy::ElasticityPolicy;
use flotilla_model::{Evaluation, Metric, RoleView, VmSample, VmState};
use flotilla_policy::Bounds;
use serde::{Deserialize, Serialize};

pub use super::policy::{RUNTIME_KEYS, scalar};

/// VMs whose values one decision record lists; a role larger than this
/// records only the first ones (so its replay is not exact).
pub const INPUTS_RECORDED: usize = 32;

/// The role's `min_vms`..`max_vms` (validation requires both on a role
/// with policies; a role without falls back to its cardinality, so no
/// policy moves it).
pub fn bounds(role: &Role, cardinality: u32) -> Bounds {
    Bounds {
        min: role.min_vms.unwrap_or(cardinality),
        max: role.max_vms.unwrap_or(cardinality),
    }
}

/// One VM as a decision saw it: its values (those the policy reads) with
/// their age, or why it was left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmInput {
    pub vm_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Metric>,
    /// Seconds since the poll that brought the values.
    pub age_s: u64,
    /// `warming up: 20 s left`, `stale: 95 s old`: the VM did not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_out: Option<String>,
}

/// What decides whether a VM's values count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Values older than this are stale (the VM stopped being polled or
    /// reporting): never read as numbers.
    pub max_age_ms: u64,
    /// A new VM counts once it has run this long (the role's `warmup`).
    pub warmup_ms: u64,
}

/// The VMs of a role a policy evaluates, and the record of each VM it
/// looked at. Only RUNNING VMs that are not going away are looked at
/// (OneFlow's ACTIVE + RUNNING rule); of those, a VM still warming up or
/// with stale values is recorded as left out.
pub fn samples(
    role: &RoleRuntime,
    metrics: &[String],
    freshness: Freshness,
    now_ms: u64,
) -> (Vec<VmSample>, Vec<VmInput>) {
    let mut samples = Vec::new();
    let mut inputs = Vec::new();
    let running = role
        .nodes
        .iter()
        .filter(|n| n.vm_state == Some(VmState::Running) && !n.terminating);
    for node in running {
        let Some(vm_id) = node.vm_id.clone() else {
            continue;
        };
        let values = node.values.numbers();
        let age_ms = now_ms.saturating_sub(node.values.at_ms);
        let left_out = left_out(node, freshness, now_ms, age_ms);
        if inputs.len() < INPUTS_RECORDED {
            inputs.push(VmInput {
                vm_id: vm_id.clone(),
                values: values
                    .iter()
                    .filter(|m| {
                        metrics.is_empty()
                            || metrics.iter().any(|n| n.eq_ignore_ascii_case(&m.name))
                    })
                    .cloned()
                    .collect(),
                age_s: age_ms / 1000,
                left_out: left_out.clone(),
            });
        }
        if left_out.is_none() {
            samples.push(VmSample { vm_id, values });
        }
    }
    (samples, inputs)
}

fn left_out(node: &Node, freshness: Freshness, now_ms: u64, age_ms: u64) -> Option<String> {
    if let Some(since) = node.running_since_ms {
        let ready_at = since.saturating_add(freshness.warmup_ms);
        if now_ms < ready_at {
            return Some(format!(
                "warming up: {} s left",
                (ready_at - now_ms).div_ceil(1000)
            ));
        }
    }
    (age_ms > freshness.max_age_ms).then(|| format!("stale: {} s old", age_ms / 1000))
}

/// The evaluation a policy plugin gets. Its `cooldown` is the role's
/// scale-out cooldown as the host resolves it (`default_cooldown_s` when
/// the role sets none).
#[allow(clippy::too_many_arguments)]
pub fn evaluation(
    service_id: u64,
    role: &RoleRuntime,
    spec: &Role,
    policy: &ElasticityPolicy,
    vms: Vec<VmSample>,
    state: Option<String>,
    now_ms: u64,
    default_cooldown_s: u32,
) -> Evaluation {
    let b = bounds(spec, role.cardinality);
    Evaluation {
        role: RoleView {
            service_id,
            role_name: role.name.clone(),
            cardinality: role.cardinality,
            min_vms: b.min,
            max_vms: b.max,
            cooldown: cooldown_s(
                policy.cooldown_s(),
                spec,
                Direction::Out,
                None,
                default_cooldown_s,
            )
            .0,
        },
        params: policy.params(),
        vms,
        now: now_ms / 1000,
        state,
    }
}

/// Which way a scale goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Out,
    In,
}

/// The cooldown that holds a scale `direction` back: the policy's own,
/// else the role's for that direction, else the role's `cooldown`, else
/// what the policy's plugin suggested, else the server's default: what the
/// operator wrote always wins over a plugin. With where it came from, for
/// the record.
pub fn cooldown_s(
    policy: Option<u32>,
    role: &Role,
    direction: Direction,
    suggested: Option<u32>,
    default_s: u32,
) -> (u32, &'static str) {
    let by_direction = match direction {
        Direction::Out => role.cooldown_out.map(|c| (c, "the role's cooldown_out")),
        Direction::In => role.cooldown_in.map(|c| (c, "the role's cooldown_in")),
    };
    policy
        .map(|c| (c, "the policy's cooldown"))
        .or(by_direction)
        .or(role.cooldown.map(|c| (c, "the role's cooldown")))
        .or(suggested.map(|c| (c, "the plugin's suggestion")))
        .unwrap_or((default_s, "the server's default cooldown"))
}

/// The scale-in stabilization window: the highest cardinality the role's
/// policies recommended within `window_ms` of `now_ms`, newest last.
pub fn highest_recent(recent: &[(u64, u32)], window_ms: u64, now_ms: u64) -> Option<u32> {
    recent
        .iter()
        .filter(|(t, _)| now_ms.saturating_sub(*t) <= window_ms)
        .map(|(_, c)| *c)
        .max()
}

pub mod lint;

#[cfg(test)]
mod tests;
