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
//! Plugins are called through the `evaluate` function the caller passes,
//! so this stays pure: tests pass the built-in policy natively, the engine
//! passes the sandboxed plugins.

use super::{Effect, Service};
use crate::service::elasticity::{self, Direction, Freshness, PolicySpec, VmInput};
use crate::service::state::ServiceState;
use flotilla_model::{Evaluation, Recommendation};
use flotilla_policy::{Adjustment, AdjustmentKind, CatchUp, Due, Schedule};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
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

/// A policy evaluation: the plugin's id and the input; a plugin error or
/// fault comes back as the sentence to record.
pub type Evaluate<'a> = dyn FnMut(&str, &Evaluation) -> Result<Recommendation, String> + 'a;

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

    /// Look at the policies of every role whose turn has come; the effects
    /// of the scale a policy made, if any.
    pub fn autoscale(
        &mut self,
        now: u64,
        settings: AutoscaleSettings,
        evaluate: &mut Evaluate<'_>,
    ) -> Vec<Effect> {
        if self.state != ServiceState::Running {
            return Vec::new();
        }
        for i in 0..self.roles.len() {
            if !self.role_due(i, now, settings.cadence_ms) {
                continue;
            }
            let effects = self.autoscale_role(i, now, settings, evaluate);
            if !effects.is_empty() {
                // The service is SCALING: the other roles wait their turn.
                return effects;
            }
        }
        Vec::new()
    }

    fn autoscale_role(
        &mut self,
        i: usize,
        now: u64,
        settings: AutoscaleSettings,
        evaluate: &mut Evaluate<'_>,
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
        for (k, raw) in spec.scheduled_policies.iter().enumerate() {
            let last = self.roles[i].autoscale.scheduled[k].replace(now);
            let Some((schedule, catch_up, adjustment)) = scheduled(raw) else {
                continue;
            };
            let mut record =
                DecisionRecord::new(now, format!("scheduled_policies[{k}]"), "schedule");
            record.cardinality = cardinality;
            match schedule.due(last, now, grace_ms, catch_up) {
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

        // Metric policies, each when its period has passed.
        let freshness = Freshness {
            max_age_ms: settings.max_age_ms,
            warmup_ms: u64::from(spec.warmup.unwrap_or(0)) * 1000,
        };
        for (k, raw) in spec.elasticity_policies.iter().enumerate() {
            let name = format!("elasticity_policies[{k}]");
            let policy = match PolicySpec::read(raw) {
                Ok(p) => p,
                Err(e) => {
                    let mut record = DecisionRecord::new(now, name, "");
                    record.verdict = format!("unusable: {e}");
                    records.push(record);
                    continue;
                }
            };
            let state = &self.roles[i].autoscale.policies[k];
            if state
                .last_eval_ms
                .is_some_and(|t| now < t.saturating_add(policy.period_s.saturating_mul(1000)))
            {
                continue;
            }
            let previous = state.state.clone();
            let role = &self.roles[i];
            let (vms, inputs) = elasticity::samples(role, &policy.metrics, freshness, now);
            let input = elasticity::evaluation(
                self.id,
                role,
                &spec,
                &policy,
                vms,
                previous,
                now,
                self.default_cooldown_s,
            );
            let result = evaluate(&policy.plugin, &input);
            let mut record = DecisionRecord::new(now, name, &policy.plugin);
            record.cardinality = cardinality;
            record.state_in = input.state;
            record.inputs = inputs;
            self.roles[i].autoscale.policies[k].last_eval_ms = Some(now);
            let recommendation = match result {
                Ok(r) => r,
                Err(fault) => {
                    record.verdict = fault;
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
                    policy.plugin
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
                    metric: Some((policy.cooldown_s, recommendation.cooldown)),
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

/// A scheduled policy validation accepted, typed (`None` for one stored by
/// an older release that no longer reads).
fn scheduled(raw: &Map<String, Value>) -> Option<(Schedule, CatchUp, Adjustment)> {
    let text = |key: &str| raw.get(key).and_then(Value::as_str);
    let number = |key: &str| match raw.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let schedule =
        Schedule::parse(text("recurrence"), text("start_time"), text("time_zone")).ok()?;
    let catch_up = text("catch_up")
        .and_then(CatchUp::parse)
        .unwrap_or_default();
    let adjustment = Adjustment {
        kind: AdjustmentKind::parse(text("type")?)?,
        adjust: number("adjust")?,
        min_adjust_step: number("min_adjust_step")
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
    };
    Some((schedule, catch_up, adjustment))
}

/// A time for a record, in UTC.
fn stamp(ms: u64) -> String {
    flotilla_policy::schedule::utc(ms)
}
