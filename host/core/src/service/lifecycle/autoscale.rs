//! Automatic scaling: on a cadence, while the service is RUNNING (OneFlow
//! evaluates nothing during SCALING, WARNING or HOLD), each role's
//! scheduled policies are checked, then its metric policies are evaluated
//! by their plugins; the host applies the guards (bounds, cooldown by
//! direction, the scale-in stabilization window) and the first policy whose
//! scale passes them scales the role (scheduled policies first, then metric
//! policies, each in the template's order: OneFlow's rule). Every
//! evaluation is kept on the role with its inputs, trace, verdict, guards
//! and action, for `service explain`.
//!
//! The core calls no plugin. [`Service::policy_round`] returns the
//! evaluations a round needs ([`PolicyRound`]: each policy due with the
//! input its plugin gets), as other methods return effects; the caller
//! makes them (the engine through its policy plugins, off the async
//! threads; the simulator and tests natively) and hands the answers to
//! [`Service::autoscaled`], which keeps the records, applies the guards
//! and makes the scale. Nothing changes between the two: a round whose
//! answers never come back leaves the service as it was.

use super::{Effect, Service};
use crate::service::elasticity::{self, Direction, Freshness, VmInput};
use crate::service::policy::ElasticityPolicy;
use crate::service::state::ServiceState;
use flotilla_model::{BackendError, Evaluation, PluginError, Recommendation};
use flotilla_policy::{Due, builtin};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Evaluations kept per role, newest last.
pub const DECISIONS_KEPT: usize = 50;

/// The most a policy's state may hold; a larger one is refused.
pub const MAX_STATE_BYTES: usize = 64 * 1024;

/// Traces and verdicts are cut to this many bytes when kept.
const MAX_TEXT_BYTES: usize = 2048;

pub(crate) fn bounded(mut text: String) -> String {
    if text.len() > MAX_TEXT_BYTES {
        let mut end = MAX_TEXT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// What a policy plugin answered; a refusal or a fault is recorded as its
/// sentence, and either leaves the role as it is.
pub type Answer = Result<Recommendation, BackendError>;

/// One evaluation made where the caller stands (the simulator, tests):
/// see [`Service::autoscale_with`].
pub type Evaluate<'a> = dyn FnMut(&PolicyCall) -> Answer + 'a;

/// The evaluations a round of automatic scaling needs, for the caller to
/// make: the answers go back, in the order of `calls`, to
/// [`Service::autoscaled`].
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRound {
    /// The roles whose turn it is, by index and name, in order.
    roles: Vec<(usize, String)>,
    settings: AutoscaleSettings,
    /// One per metric policy whose period has passed, by role in order.
    pub calls: Vec<PolicyCall>,
}

/// One policy to evaluate: which plugin, with what input.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyCall {
    pub role: String,
    /// Its index in the role's `elasticity_policies`.
    pub policy: usize,
    /// `expression` for OneFlow's policies, else the plugin the policy
    /// names.
    pub plugin: String,
    /// What the plugin gets (the WIT contract's `evaluation`).
    pub input: Evaluation,
    /// OneFlow's policy as read when its template was: a host that runs
    /// the built-in policy natively evaluates this, not the params.
    pub rule: Option<builtin::Rule>,
    /// The VMs the decision record lists, with those left out.
    pub(crate) inputs: Vec<VmInput>,
}

impl PolicyCall {
    pub(crate) fn new(
        role: &str,
        k: usize,
        policy: &ElasticityPolicy,
        plugin: &str,
        input: Evaluation,
        inputs: Vec<VmInput>,
    ) -> PolicyCall {
        PolicyCall {
            role: role.to_string(),
            policy: k,
            plugin: plugin.to_string(),
            input,
            rule: policy.builtin_rule(),
            inputs,
        }
    }

    /// The built-in policy compiled natively, for a call to it: the rule
    /// read once, or the params for one whose numbers only they can refuse
    /// (as the `expression` plugin does). `None` for another plugin.
    pub fn builtin(&self) -> Option<Result<Recommendation, PluginError>> {
        (self.plugin == builtin::ID).then(|| match &self.rule {
            Some(rule) => Ok(rule.evaluate(&self.input)),
            None => builtin::evaluate(&self.input),
        })
    }

    /// For tests of the core: the built-in policy natively, and any other
    /// plugin answered as an engine answers one that is not installed.
    #[cfg(test)]
    pub(crate) fn natively(&self) -> Result<Recommendation, flotilla_model::BackendError> {
        use flotilla_model::BackendError;
        match self.builtin() {
            Some(answer) => answer.map_err(|e| BackendError::Refused(e.to_string())),
            None => Err(BackendError::Refused(format!(
                "plugin `{}` is not installed",
                self.plugin
            ))),
        }
    }
}

/// What the operator set for automatic scaling (`[engine]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoscaleSettings {
    /// How often a role's policies are looked at.
    pub cadence_ms: u64,
    /// Values older than this are stale and never read.
    pub max_age_ms: u64,
}

/// A role's elasticity state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Autoscale {
    /// When the role's policies were last looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_eval_ms: Option<u64>,
    /// Per metric policy, by its index in `elasticity_policies`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyState>,
    /// Per scheduled policy: when it was last checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduled: Vec<Option<u64>>,
    /// When the role's last scale finished: cooldowns count from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_ms: Option<u64>,
    /// The cardinalities the metric policies asked for lately (after the
    /// bounds), for the scale-in stabilization window.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub recent: VecDeque<(u64, u32)>,
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub decisions: VecDeque<DecisionRecord>,
}

/// What the host keeps for one metric policy between evaluations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_eval_ms: Option<u64>,
    /// What the plugin returned as its state (the built-in policy's
    /// consecutive-true count); opaque to the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl Autoscale {
    pub fn is_empty(&self) -> bool {
        *self == Autoscale::default()
    }

    /// A scale starts every policy's streak over (OneFlow dropped
    /// `true_evals` when a role entered SCALING).
    pub(super) fn scaled(&mut self) {
        for p in &mut self.policies {
            p.state = None;
        }
    }

    fn keep(&mut self, decision: DecisionRecord) {
        if self.decisions.len() >= DECISIONS_KEPT {
            self.decisions.pop_front();
        }
        self.decisions.push_back(decision);
    }
}

/// One evaluation of one policy, as `service explain` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub time_ms: u64,
    /// `elasticity_policies[0]` or `scheduled_policies[1]`.
    pub policy: String,
    /// The plugin that evaluated it (`expression`, `target-tracking`), or
    /// `schedule`.
    #[serde(default)]
    pub plugin: String,
    /// The role's size when it was evaluated.
    #[serde(default)]
    pub cardinality: u32,
    /// The state the plugin was handed (what it returned the time before):
    /// with the inputs, what a replay needs to reproduce the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_in: Option<String>,
    /// The VMs it read, with their values and age, and those left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<VmInput>,
    /// `CPU[85.3] > 80 → true`.
    pub trace: String,
    /// The policy's own words (`2/3 consecutive true`, `fired: CHANGE 1
    /// gives 3`), or the plugin's error or fault.
    #[serde(default)]
    pub verdict: String,
    /// The cardinality the policy asked for, after the bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<String>,
    /// `scale to 4`, `none`, or why a scale was not made.
    pub action: String,
}

/// A scale some policy asked for, waiting for the guards.
struct Candidate {
    record: usize,
    to: u32,
    /// Metric policies pass the cooldown and stabilization guards (with
    /// the policy's own cooldown and the one its plugin suggested);
    /// scheduled ones are a plan and only meet the bounds.
    metric: Option<(Option<u32>, Option<u32>)>,
}

impl Service {
    /// Whether a role's policies are due at `now`: cheap, so the caller
    /// prepares an evaluation only when there is one to make.
    pub fn autoscale_due(&self, now: u64, cadence_ms: u64) -> bool {
        self.state == ServiceState::Running
            && (0..self.roles.len()).any(|i| self.role_due(i, now, cadence_ms))
    }

    /// Whether role `i` has policies and its turn has come, decided on
    /// borrowed data: most rounds find no role due.
    fn role_due(&self, i: usize, now: u64, cadence_ms: u64) -> bool {
        let spec = self.spec(i);
        !(spec.elasticity_policies.is_empty() && spec.scheduled_policies.is_empty())
            && self.roles[i]
                .autoscale
                .last_eval_ms
                .is_none_or(|last| now >= last.saturating_add(cadence_ms))
    }

    /// The evaluations the roles whose turn has come need; `None` when no
    /// role's turn has come (or the service is not RUNNING). Changes
    /// nothing: [`Service::autoscaled`] does, with the answers.
    pub fn policy_round(&self, now: u64, settings: AutoscaleSettings) -> Option<PolicyRound> {
        if self.state != ServiceState::Running {
            return None;
        }
        let due: Vec<usize> = (0..self.roles.len())
            .filter(|i| self.role_due(*i, now, settings.cadence_ms))
            .collect();
        if due.is_empty() {
            return None;
        }
        let mut calls = Vec::new();
        for &i in &due {
            self.role_calls(i, now, settings, &mut calls);
        }
        Some(PolicyRound {
            roles: due
                .into_iter()
                .map(|i| (i, self.roles[i].name.clone()))
                .collect(),
            settings,
            calls,
        })
    }

    /// Role `i`'s metric policies whose period has passed, each with its
    /// input: the VMs that count, the role, the policy's params and the
    /// state it returned last time.
    fn role_calls(
        &self,
        i: usize,
        now: u64,
        settings: AutoscaleSettings,
        calls: &mut Vec<PolicyCall>,
    ) {
        let spec = self.spec(i);
        let role = &self.roles[i];
        let freshness = Freshness {
            max_age_ms: settings.max_age_ms,
            warmup_ms: u64::from(spec.warmup.unwrap_or(0)) * 1000,
        };
        for (k, policy) in spec.elasticity_policies.iter().enumerate() {
            // One that does not read is recorded with the answers.
            let Some(plugin) = policy.plugin() else {
                continue;
            };
            let state = role.autoscale.policies.get(k);
            if state
                .and_then(|s| s.last_eval_ms)
                .is_some_and(|t| now < t.saturating_add(policy.period_s().saturating_mul(1000)))
            {
                continue;
            }
            let previous = state.and_then(|s| s.state.clone());
            let (vms, inputs) = elasticity::samples(role, &policy.metrics(), freshness, now);
            let input = elasticity::evaluation(
                self.id,
                role,
                spec,
                policy,
                vms,
                previous,
                now,
                self.default_cooldown_s,
            );
            calls.push(PolicyCall::new(
                &role.name, k, policy, plugin, input, inputs,
            ));
        }
    }

    /// Take the answers to `round` (in the order of its calls; a missing
    /// one counts as a failed evaluation): each role's scheduled policies
    /// are checked, the answers kept with their inputs, the guards applied,
    /// and the first scale that passes them made. Roles after one that
    /// scaled wait their turn (the service is SCALING): their answers are
    /// dropped and their policies evaluated again at the next round. The
    /// effects of the scale, if any.
    pub fn autoscaled(
        &mut self,
        round: PolicyRound,
        answers: Vec<Answer>,
        now: u64,
    ) -> Vec<Effect> {
        if self.state != ServiceState::Running {
            return Vec::new();
        }
        let mut answers = answers.into_iter();
        let mut answered = round
            .calls
            .into_iter()
            .map(|call| {
                let answer = answers.next().unwrap_or_else(|| {
                    Err(BackendError::Fault(
                        "no answer from the policy plugin".to_string(),
                    ))
                });
                (call, answer)
            })
            .peekable();
        for (i, name) in round.roles {
            let mut mine = Vec::new();
            while let Some(next) = answered.next_if(|(call, _)| call.role == name) {
                mine.push(next);
            }
            if self.roles.get(i).is_none_or(|r| r.name != name) {
                continue;
            }
            let effects = self.autoscale_role(i, now, round.settings, mine);
            if !effects.is_empty() {
                return effects;
            }
        }
        Vec::new()
    }

    /// For callers that evaluate where they stand (the simulator, tests):
    /// the round, each call through `evaluate`, the answers back.
    pub fn autoscale_with(
        &mut self,
        now: u64,
        settings: AutoscaleSettings,
        evaluate: &mut Evaluate<'_>,
    ) -> Vec<Effect> {
        let Some(round) = self.policy_round(now, settings) else {
            return Vec::new();
        };
        let answers = round.calls.iter().map(evaluate).collect();
        self.autoscaled(round, answers, now)
    }

    fn autoscale_role(
        &mut self,
        i: usize,
        now: u64,
        settings: AutoscaleSettings,
        mut answered: Vec<(PolicyCall, Answer)>,
    ) -> Vec<Effect> {
        let spec = self.spec(i).clone();
        let cardinality = self.roles[i].cardinality;
        let bounds = elasticity::bounds(&spec, cardinality);
        let (low, high) = (bounds.min.min(cardinality), bounds.max.max(cardinality));
        {
            let a = &mut self.roles[i].autoscale;
            a.last_eval_ms = Some(now);
            a.policies
                .resize(spec.elasticity_policies.len(), PolicyState::default());
            a.scheduled.resize(spec.scheduled_policies.len(), None);
        }
        let mut records: Vec<DecisionRecord> = Vec::new();
        let mut candidates: Vec<Candidate> = Vec::new();

        // Scheduled policies: a run is late, not missed, within two rounds.
        let grace_ms = settings.cadence_ms.saturating_mul(2).max(60_000);
        for (k, policy) in spec.scheduled_policies.iter().enumerate() {
            let last = self.roles[i].autoscale.scheduled[k].replace(now);
            // One stored by an older release that no longer reads never fires.
            let Ok(plan) = &policy.plan else {
                continue;
            };
            let adjustment = plan.adjust.adjustment();
            let mut record =
                DecisionRecord::new(now, format!("scheduled_policies[{k}]"), "schedule");
            record.cardinality = cardinality;
            match plan.schedule.due(last, now, grace_ms, plan.catch_up()) {
                Due::No => continue,
                Due::Skipped { at_ms } => {
                    record.trace = format!("run due at {} missed", stamp(at_ms));
                    record.verdict = "skipped (catch_up: skip)".into();
                }
                Due::Fire { at_ms } => {
                    let target = adjustment.target(cardinality, bounds);
                    record.trace = format!("run due at {}", stamp(at_ms));
                    record.verdict = format!(
                        "fired: {} {} gives {}",
                        adjustment.kind.as_str(),
                        adjustment.adjust,
                        target.wanted
                    );
                    if let Some(hold) = target.held {
                        record.guards.push(hold.to_string());
                    }
                    if target.cardinality != cardinality {
                        record.desired = Some(target.cardinality);
                        candidates.push(Candidate {
                            record: records.len(),
                            to: target.cardinality,
                            metric: None,
                        });
                    }
                }
            }
            records.push(record);
        }

        // Metric policies, each when its period has passed (those the round
        // asked about), with their answers.
        for (k, policy) in spec.elasticity_policies.iter().enumerate() {
            let name = format!("elasticity_policies[{k}]");
            if let Err(e) = &policy.rule {
                let mut record = DecisionRecord::new(now, name, "");
                record.verdict = format!("unusable: {e}");
                records.push(record);
                continue;
            }
            let Some(at) = answered.iter().position(|(call, _)| call.policy == k) else {
                continue;
            };
            let (call, result) = answered.swap_remove(at);
            let mut record = DecisionRecord::new(now, name, &call.plugin);
            record.cardinality = cardinality;
            record.state_in = call.input.state;
            record.inputs = call.inputs;
            self.roles[i].autoscale.policies[k].last_eval_ms = Some(now);
            let recommendation = match result {
                Ok(r) => r,
                Err(e) => {
                    record.verdict = e.to_string();
                    records.push(record);
                    continue;
                }
            };
            // A plugin's words are bounded before they are kept: the state
            // is written with the service at every evaluation.
            if recommendation
                .state
                .as_ref()
                .is_some_and(|s| s.len() > MAX_STATE_BYTES)
            {
                record.verdict = format!(
                    "plugin `{}` returned a state over {MAX_STATE_BYTES} bytes: nothing changes",
                    call.plugin
                );
                records.push(record);
                continue;
            }
            self.roles[i].autoscale.policies[k].state = recommendation.state;
            record.trace = bounded(recommendation.trace);
            record.verdict = bounded(recommendation.reason);
            let wanted = recommendation.desired.unwrap_or(cardinality);
            let to = wanted.clamp(low, high);
            if to != wanted {
                record.guards.push(if to == bounds.max {
                    format!("wanted {wanted}, clamped to max_vms {to}")
                } else if to == bounds.min {
                    format!("wanted {wanted}, clamped to min_vms {to}")
                } else {
                    format!("wanted {wanted}, outside min_vms..max_vms: left as it is")
                });
            }
            // Only what a policy asked for counts in the window: a policy
            // content with the role must not veto another's scale-in.
            if recommendation.desired.is_some() {
                // Only the highest recent request matters to the window: an
                // older one no higher than this one never will again.
                let recent = &mut self.roles[i].autoscale.recent;
                while recent.back().is_some_and(|(_, c)| *c <= to) {
                    recent.pop_back();
                }
                recent.push_back((now, to));
            }
            if to != cardinality {
                record.desired = Some(to);
                candidates.push(Candidate {
                    record: records.len(),
                    to,
                    metric: Some((policy.cooldown_s(), recommendation.cooldown)),
                });
            }
            records.push(record);
        }
        let window_ms = u64::from(spec.scale_in_stabilization.unwrap_or(0)) * 1000;
        let recent = &mut self.roles[i].autoscale.recent;
        while recent
            .front()
            .is_some_and(|(t, _)| now.saturating_sub(*t) > window_ms)
        {
            recent.pop_front();
        }

        // The guards, then the first candidate that passes them scales.
        let mut effects = Vec::new();
        let mut scaled_by: Option<String> = None;
        for c in candidates {
            let record = &mut records[c.record];
            let direction = if c.to > cardinality {
                Direction::Out
            } else {
                Direction::In
            };
            let mut to = c.to;
            if let Some((policy_cooldown, suggested)) = c.metric {
                let (cooldown, source) = elasticity::cooldown_s(
                    policy_cooldown,
                    &spec,
                    direction,
                    suggested,
                    self.default_cooldown_s,
                );
                let until = self.roles[i]
                    .autoscale
                    .settled_ms
                    .map(|t| t.saturating_add(u64::from(cooldown) * 1000));
                if let Some(until) = until.filter(|until| *until > now) {
                    record.guards.push(format!(
                        "cooldown: {} s left ({cooldown} s, {source})",
                        (until - now).div_ceil(1000)
                    ));
                    record.action = "none: cooling down".into();
                    continue;
                }
                if direction == Direction::In
                    && window_ms > 0
                    && let Some(highest) = elasticity::highest_recent(
                        self.roles[i].autoscale.recent.make_contiguous(),
                        window_ms,
                        now,
                    )
                    && highest > to
                {
                    let window = window_ms / 1000;
                    to = highest.min(cardinality);
                    if to == cardinality {
                        record.guards.push(format!(
                            "stabilization: {highest} VMs were recommended within the last {window} s"
                        ));
                        record.action = "none: stabilizing".into();
                        continue;
                    }
                    record.guards.push(format!(
                        "stabilization: scale in to {to} only ({highest} recommended within the last {window} s)"
                    ));
                }
            }
            if let Some(by) = &scaled_by {
                record.action = format!("none: {by} scaled the role");
                continue;
            }
            let role_name = self.roles[i].name.clone();
            // The target is within the bounds, or between a size a user
            // forced outside them and the bounds: a move back toward them
            // (clamped above), which a user's scale without force refuses.
            match self.scale(&role_name, to, true, now) {
                Ok(e) => {
                    let record = &mut records[c.record];
                    record.action = format!("scale to {to}");
                    let says = if record.trace.is_empty() {
                        record.verdict.clone()
                    } else {
                        record.trace.clone()
                    };
                    let message = format!(
                        "Role {role_name}: {} ({}) {says}: scaling to {to}",
                        record.policy, record.plugin
                    );
                    scaled_by = Some(record.policy.clone());
                    self.info(now, message);
                    effects = e;
                }
                Err(e) => records[c.record].action = format!("scale to {to} refused: {e}"),
            }
        }
        let a = &mut self.roles[i].autoscale;
        for record in records {
            a.keep(record);
        }
        effects
    }
}

impl DecisionRecord {
    fn new(time_ms: u64, policy: String, plugin: &str) -> DecisionRecord {
        DecisionRecord {
            time_ms,
            policy,
            plugin: plugin.to_string(),
            cardinality: 0,
            state_in: None,
            inputs: Vec::new(),
            trace: String::new(),
            verdict: String::new(),
            desired: None,
            guards: Vec::new(),
            action: "none".into(),
        }
    }
}

/// A time for a record, in UTC.
fn stamp(ms: u64) -> String {
    flotilla_policy::schedule::utc(ms)
}
