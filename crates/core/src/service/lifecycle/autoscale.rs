//! Automatic scaling by a role's metric policies: on a cadence, while the
//! service is RUNNING (OneFlow evaluates nothing during SCALING, COOLDOWN,
//! WARNING or HOLD), each role's policies are evaluated in order over the
//! values its VMs reported, every evaluation is kept on the role with its
//! trace, and the first policy that moves a role scales it (OneFlow's rule
//! when several fire: the first in the template's order wins, and the
//! service is SCALING for the others).

use super::{Effect, Service};
use crate::service::elasticity::{self, MetricPolicy};
use crate::service::state::ServiceState;
use flotilla_policy::Streak;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Evaluations kept per role, newest last.
pub const DECISIONS_KEPT: usize = 50;

/// A role's elasticity state: when its policies were last evaluated, each
/// metric policy's streak (by its index in `elasticity_policies`), and the
/// last evaluations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Autoscale {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_eval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streaks: Vec<Streak>,
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub decisions: VecDeque<DecisionRecord>,
}

impl Autoscale {
    pub fn is_empty(&self) -> bool {
        *self == Autoscale::default()
    }
}

/// One evaluation of one policy, as `service explain` is to show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub time_ms: u64,
    /// `elasticity_policies[0]`.
    pub policy: String,
    /// `CPU[85.3] > 80 → true`, or why the policy could not be read.
    pub trace: String,
    pub streak: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<String>,
    /// `scale to 4`, `none`, or why a scale was refused.
    pub action: String,
}

impl Service {
    /// Evaluate the metric policies of every role whose turn has come
    /// (`cadence_ms` since its last evaluation); the effects of the scale
    /// the first firing policy asks for.
    pub fn autoscale(&mut self, now: u64, cadence_ms: u64) -> Vec<Effect> {
        if self.state != ServiceState::Running {
            return Vec::new();
        }
        for i in 0..self.roles.len() {
            // Most rounds find no role due: decide that on borrowed data and
            // copy only the policies of a role that is.
            let spec = self.spec(i);
            let last = self.roles[i].autoscale.last_eval_ms;
            if spec.elasticity_policies.is_empty()
                || last.is_some_and(|last| now < last.saturating_add(cadence_ms))
            {
                continue;
            }
            let policies = spec.elasticity_policies.clone();
            let cardinality = self.roles[i].cardinality;
            let bounds = elasticity::bounds(spec, cardinality);
            let state = &mut self.roles[i].autoscale;
            state.last_eval_ms = Some(now);
            state.streaks.resize(policies.len(), Streak::default());
            for (k, raw) in policies.iter().enumerate() {
                let name = format!("elasticity_policies[{k}]");
                let policy = match MetricPolicy::read(raw) {
                    Ok(p) => p,
                    Err(e) => {
                        self.keep(i, record(now, &name, format!("unusable: {e}"), "", "none"));
                        continue;
                    }
                };
                let mut streak = self.roles[i].autoscale.streaks[k];
                let role = &self.roles[i];
                let decision = elasticity::evaluate(
                    &policy,
                    &mut streak,
                    |n| elasticity::role_average(role, n),
                    cardinality,
                    bounds,
                    None,
                    now,
                );
                self.roles[i].autoscale.streaks[k] = streak;
                let Some(d) = decision else { continue };
                let mut kept = record(now, &name, d.trace.clone(), &d.streak, "none");
                kept.guards = d.guards;
                let Some(target) = d.scale_to else {
                    self.keep(i, kept);
                    continue;
                };
                let role_name = self.roles[i].name.clone();
                match self.scale(&role_name, target, false, now) {
                    Ok(effects) => {
                        kept.action = format!("scale to {target}");
                        self.keep(i, kept);
                        self.info(
                            now,
                            format!(
                                "Role {role_name}: {name} fired ({}): scaling to {target}",
                                d.trace
                            ),
                        );
                        return effects;
                    }
                    Err(e) => {
                        kept.action = format!("scale to {target} refused: {e}");
                        self.keep(i, kept);
                    }
                }
            }
        }
        Vec::new()
    }

    fn keep(&mut self, i: usize, decision: DecisionRecord) {
        let decisions = &mut self.roles[i].autoscale.decisions;
        if decisions.len() >= DECISIONS_KEPT {
            decisions.pop_front();
        }
        decisions.push_back(decision);
    }
}

fn record(now: u64, policy: &str, trace: String, streak: &str, action: &str) -> DecisionRecord {
    DecisionRecord {
        time_ms: now,
        policy: policy.to_string(),
        trace,
        streak: streak.to_string(),
        guards: Vec::new(),
        action: action.to_string(),
    }
}
