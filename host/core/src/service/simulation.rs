//! Policies replayed before they go live, on a virtual clock and through
//! the same code the server runs: a [`Service`] is driven through its life
//! cycle with VMs that boot in a set time and report a load shape, and its
//! policies are evaluated by the same plugins (`evaluate`), so a simulated
//! decision is the decision the server would make.
//!
//! [`replay`] goes the other way: it takes the evaluations a live role
//! recorded (inputs, size, the policy's state) and runs them again, to show
//! that they reproduce.

use super::lifecycle::{
    AutoscaleSettings, DecisionRecord, Effect, Evaluate, Observed, PolicyCall, Service, VmState,
    VmValues,
};
use super::model::{Role, ServiceTemplate};
use super::state::ServiceState;
use crate::service::elasticity;
use flotilla_model::{FieldError, Metric, VmSample};
use flotilla_policy::LoadShape;
use std::collections::BTreeMap;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub template: ServiceTemplate,
    /// The role whose policies are replayed.
    pub role: String,
    pub load: LoadShape,
    /// The value the load is reported as (`CPU`).
    pub metric: String,
    /// The load is what each VM reports whatever the role's size; by
    /// default it is the role's total demand, in percent of one VM, shared
    /// by its running VMs (so scaling out lowers what each reports).
    pub per_vm: bool,
    pub duration_ms: u64,
    /// Evaluation cadence, and the step of the virtual clock.
    pub settings: AutoscaleSettings,
    /// How long a new VM takes to run.
    pub boot_ms: u64,
    /// For time above and below target.
    pub target: Option<f64>,
    /// The server's `engine.default_cooldown_seconds`.
    pub default_cooldown_s: u32,
}

/// What happened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// (time, VMs running or booting, value each VM reported), per step.
    pub samples: Vec<(u64, u32, f64)>,
    pub events: Vec<ScaleEvent>,
    /// Scales that reversed the previous one within ten minutes.
    pub flaps: usize,
    /// VMs × minutes the role held (booting ones included: they are paid for).
    pub vm_minutes: f64,
    pub above_target_s: u64,
    pub below_target_s: u64,
    pub evaluations: usize,
    /// Every evaluation of the role's policies, oldest first (the server
    /// keeps the last 50; a simulation keeps them all).
    pub decisions: Vec<DecisionRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScaleEvent {
    pub time_ms: u64,
    pub from: u32,
    pub to: u32,
    pub policy: String,
    /// The trace, or the verdict when there is none.
    pub says: String,
    pub guards: Vec<String>,
}

impl Report {
    /// The report as `policy simulate --json` prints it and the API
    /// answers it: times in seconds, samples as `[seconds, VMs, value]`,
    /// thinned to at most `max_samples` (each kept sample is the one with
    /// most VMs in its slice, so no scale-out disappears from a drawing).
    pub fn to_json(&self, max_samples: usize) -> serde_json::Value {
        let per = self.samples.len().div_ceil(max_samples.max(1)).max(1);
        let samples: Vec<serde_json::Value> = self
            .samples
            .chunks(per)
            .filter_map(|c| c.iter().max_by_key(|s| s.1))
            .map(|(t, n, v)| serde_json::json!([t / 1000, n, v]))
            .collect();
        serde_json::json!({
            "events": self.events.iter().map(|e| serde_json::json!({
                "time_seconds": e.time_ms / 1000, "from": e.from, "to": e.to,
                "policy": e.policy, "says": e.says, "guards": e.guards,
            })).collect::<Vec<_>>(),
            "samples": samples,
            "flaps": self.flaps,
            "vm_minutes": self.vm_minutes,
            "above_target_seconds": self.above_target_s,
            "below_target_seconds": self.below_target_s,
            "evaluations": self.evaluations,
        })
    }
}

/// The role a simulation replays when none is named: the first with
/// policies.
pub fn role_with_policies(template: &ServiceTemplate) -> Option<&Role> {
    template
        .roles
        .iter()
        .find(|r| !r.elasticity_policies.is_empty() || !r.scheduled_policies.is_empty())
}

/// The values `role`'s policies read other than `metric`, the one the
/// simulated VMs report: policies reading them see nothing and never fire
/// in a simulation, whatever they would do live.
pub fn unsimulated_metrics(role: &Role, metric: &str) -> Vec<String> {
    elasticity::lint::metrics_read(role)
        .into_iter()
        .filter(|m| !m.eq_ignore_ascii_case(metric.trim()))
        .collect()
}

/// A reversal within this long counts as a flap.
pub const FLAP_WINDOW_MS: u64 = 10 * 60 * 1000;

/// The simulated VMs: when each runs, and whether it is gone.
#[derive(Default)]
struct Machines {
    next: u64,
    /// vm id → (running from, done).
    vms: BTreeMap<String, (u64, bool)>,
}

impl Machines {
    /// Carry effects out at `now`, feeding the answers back.
    fn carry_out(&mut self, s: &mut Service, effects: Vec<Effect>, now: u64, boot_ms: u64) {
        s.record(&effects);
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Create(c) => {
                    let id = format!("sim-{}", self.next);
                    self.next += 1;
                    self.vms.insert(id.clone(), (now + boot_ms, false));
                    s.observe_created(&c, Ok(id), now);
                }
                Effect::Act(a) => {
                    if a.action.terminates()
                        && let Some(vm) = self.vms.get_mut(&a.vm_id)
                    {
                        vm.1 = true;
                    }
                    queue.extend(s.observe_acted(&a, Ok(()), now));
                }
                // A simulation's networks are ready at once.
                Effect::Network(op) => {
                    use crate::service::lifecycle::NetworkStep;
                    let lease = match &op.step {
                        NetworkStep::Deploy(r) => Some(flotilla_model::NetworkLease {
                            network_id: r.name.clone(),
                            name: r.name.clone(),
                            created: true,
                            ready: true,
                            attributes: Vec::new(),
                        }),
                        NetworkStep::Status(l) => Some(flotilla_model::NetworkLease {
                            ready: true,
                            ..l.clone()
                        }),
                        NetworkStep::Undeploy(_) => None,
                    };
                    s.observe_network(&op, Ok(lease), now);
                }
            }
        }
    }

    fn state(&self, id: &str, now: u64) -> Option<VmState> {
        let (running_at, done) = *self.vms.get(id)?;
        Some(if done {
            VmState::Done
        } else if now >= running_at {
            VmState::Running
        } else {
            VmState::Pending
        })
    }
}

/// Why a simulation gave no report.
#[derive(Debug, Clone, PartialEq)]
pub enum SimulationError {
    /// The scenario is wrong: its role is not the template's.
    Scenario(FieldError),
    /// The service failed or ended before the scenario did.
    Ended { state: ServiceState, at_ms: u64 },
}

impl std::fmt::Display for SimulationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimulationError::Scenario(e) => write!(f, "{e}"),
            SimulationError::Ended { state, at_ms } => write!(
                f,
                "the service went {} at {} s",
                state.as_str(),
                at_ms / 1000
            ),
        }
    }
}

impl std::error::Error for SimulationError {}

/// Run `scenario`, evaluating policies with `evaluate`.
pub fn simulate(
    scenario: &Scenario,
    evaluate: &mut Evaluate<'_>,
) -> Result<Report, SimulationError> {
    let role_name = scenario.role.as_str();
    if !scenario.template.roles.iter().any(|r| r.name == role_name) {
        return Err(SimulationError::Scenario(FieldError::new(
            "role",
            format!("`{role_name}` is not a role of the template"),
        )));
    }
    // A service's roles are its template's: nothing in a simulation
    // removes one, but a lost role ends it rather than a panic.
    let removed = || {
        SimulationError::Scenario(FieldError::new(
            "role",
            format!("`{role_name}` was removed"),
        ))
    };
    let step = scenario.settings.cadence_ms.max(1);
    let mut s = Service::new(0, scenario.template.clone(), 0, u64::MAX / 4);
    s.default_cooldown_s = scenario.default_cooldown_s;
    let mut machines = Machines::default();
    let effects = s.start(0);
    machines.carry_out(&mut s, effects, 0, scenario.boot_ms);
    let mut report = Report::default();
    let mut now = 0;
    while now <= scenario.duration_ms {
        let ids = s.vm_ids();
        let role = s.role(role_name).ok_or_else(removed)?;
        let ours: Vec<&String> = role.nodes.iter().filter_map(|n| n.vm_id.as_ref()).collect();
        let running = ours
            .iter()
            .filter(|id| machines.state(id, now) == Some(VmState::Running))
            .count()
            .max(1) as f64;
        let load = scenario.load.at(now as f64 / 1000.0);
        let value = if scenario.per_vm {
            load
        } else {
            ((load / running).min(100.0) * 100.0).round() / 100.0
        };
        let held = ours
            .iter()
            .filter(|id| machines.state(id, now) != Some(VmState::Done))
            .count() as u32;
        report.samples.push((now, held, value));
        if let Some(target) = scenario.target {
            if value > target {
                report.above_target_s += step / 1000;
            } else if value < target {
                report.below_target_s += step / 1000;
            }
        }
        report.vm_minutes += f64::from(held) * step as f64 / 60_000.0;
        let observed: Vec<Observed> = ids
            .iter()
            .filter_map(|id| {
                let state = machines.state(id, now)?;
                let mine = ours.contains(&id);
                Some(Observed {
                    vm_id: id.clone(),
                    state,
                    ready: true,
                    reason: None,
                    values: VmValues {
                        monitoring: if mine {
                            vec![Metric::new(scenario.metric.clone(), value)]
                        } else {
                            Vec::new()
                        },
                        attributes: Vec::new(),
                        at_ms: now,
                    },
                })
            })
            .collect();
        let mut effects = s.observe(&observed, now);
        if effects.is_empty() && s.autoscale_due(now, scenario.settings.cadence_ms) {
            let before = s.role(role_name).map_or(0, |r| r.cardinality);
            effects = s.autoscale_with(now, scenario.settings, evaluate);
            let role = s.role(role_name).ok_or_else(removed)?;
            let new = role
                .autoscale
                .decisions
                .iter()
                .rev()
                .take_while(|d| d.time_ms == now)
                .count();
            report.evaluations += new;
            let from = role.autoscale.decisions.len() - new;
            report
                .decisions
                .extend(role.autoscale.decisions.range(from..).cloned());
            if role.cardinality != before
                && let Some(d) = role
                    .autoscale
                    .decisions
                    .iter()
                    .rev()
                    .find(|d| d.action.starts_with("scale to"))
            {
                report.events.push(ScaleEvent {
                    time_ms: now,
                    from: before,
                    to: role.cardinality,
                    policy: d.policy.clone(),
                    says: if d.trace.is_empty() {
                        d.verdict.clone()
                    } else {
                        d.trace.clone()
                    },
                    guards: d.guards.clone(),
                });
            }
        }
        machines.carry_out(&mut s, effects, now, scenario.boot_ms);
        if s.state.is_failed() || s.state == ServiceState::Done {
            return Err(SimulationError::Ended {
                state: s.state,
                at_ms: now,
            });
        }
        now += step;
    }
    report.flaps = report
        .events
        .windows(2)
        .filter(|w| {
            (w[0].to > w[0].from) != (w[1].to > w[1].from)
                && w[1].time_ms - w[0].time_ms <= FLAP_WINDOW_MS
        })
        .count();
    Ok(report)
}

/// One recorded evaluation run again.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    pub record: DecisionRecord,
    pub trace: String,
    pub verdict: String,
    pub desired: Option<u32>,
    /// The replay gave what the live evaluation gave.
    pub same: bool,
}

/// Run a role's recorded metric-policy evaluations (oldest first) again:
/// each with the VMs' recorded values, the role's size then and the state
/// its policy was handed, through `evaluate`, and compare with what was
/// recorded. The state is carried from one replayed evaluation to the
/// next as the server carries it (a scale starts it over; a failed
/// evaluation keeps it), so a chain that reproduces shows the state too
/// was what the live policy kept. A role of more VMs than a record lists
/// (`INPUTS_RECORDED`) cannot be replayed exactly.
pub fn replay(
    spec: &super::model::Role,
    service_id: u64,
    default_cooldown_s: u32,
    records: &[DecisionRecord],
    evaluate: &mut Evaluate<'_>,
) -> Vec<Replayed> {
    let mut states: BTreeMap<String, Option<String>> = BTreeMap::new();
    // A scale (by a policy or a user) starts every policy over from no
    // state, as live; it shows as a new round at another size. The first
    // round's states are taken from the records.
    let mut scaled = false;
    let mut round: Option<(u64, u32)> = None;
    let mut out = Vec::new();
    for record in records {
        if round.is_some_and(|(t, size)| t != record.time_ms && size != record.cardinality) {
            states.clear();
            scaled = true;
        }
        if round.is_none_or(|(t, _)| t != record.time_ms) {
            round = Some((record.time_ms, record.cardinality));
        }
        let Some(k) = record
            .policy
            .strip_prefix("elasticity_policies[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|k| k.parse::<usize>().ok())
        else {
            continue;
        };
        let Some((policy, plugin)) = spec
            .elasticity_policies
            .get(k)
            .and_then(|p| Some((p, p.plugin()?)))
        else {
            continue;
        };
        let state = match states.get(&record.policy) {
            Some(carried) => carried.clone(),
            None if scaled => None,
            None => record.state_in.clone(),
        };
        let vms: Vec<VmSample> = record
            .inputs
            .iter()
            .filter(|i| i.left_out.is_none())
            .map(|i| VmSample {
                vm_id: i.vm_id.clone(),
                values: i.values.clone(),
            })
            .collect();
        let runtime = super::lifecycle::RoleRuntime {
            name: spec.name.clone(),
            state: super::state::RoleState::Running,
            cardinality: record.cardinality,
            last_vmname: 0,
            nodes: Vec::new(),
            on_hold: false,
            scale_way: None,
            autoscale: Default::default(),
            vrouter: None,
        };
        let input = elasticity::evaluation(
            service_id,
            &runtime,
            spec,
            policy,
            vms,
            state,
            record.time_ms,
            default_cooldown_s,
        );
        let carried = input.state.clone();
        let call = PolicyCall::new(&spec.name, k, policy, plugin, input, Vec::new());
        let (trace, verdict, desired, next) = match evaluate(&call) {
            Ok(r) => {
                let b = elasticity::bounds(spec, record.cardinality);
                let (low, high) = (b.min.min(record.cardinality), b.max.max(record.cardinality));
                let to = r
                    .desired
                    .map(|d| d.clamp(low, high))
                    .filter(|d| *d != record.cardinality);
                (
                    super::lifecycle::bounded(r.trace),
                    super::lifecycle::bounded(r.reason),
                    to,
                    r.state,
                )
            }
            // Live keeps the state it had when a plugin fails.
            Err(e) => (String::new(), e.to_string(), None, carried),
        };
        states.insert(record.policy.clone(), next);
        let same = trace == record.trace && verdict == record.verdict && desired == record.desired;
        out.push(Replayed {
            record: record.clone(),
            trace,
            verdict,
            desired,
            same,
        });
    }
    out
}

#[cfg(test)]
mod tests;
