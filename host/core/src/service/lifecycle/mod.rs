//! The service life cycle as a pure state machine.
//!
//! A [`Service`] is changed only by its methods, which take the time as an
//! input and return the [`Effect`]s the caller must carry out (create a VM,
//! act on one). The caller persists the service *before* carrying them out,
//! so a crash never loses an intent: every VM is created under an operation
//! id recorded first, and a retry after a restart asks the driver for the
//! same id. Results come back through the `observe_*` methods.
//!
//! No I/O here: `engine.rs` runs this against the store and the driver.
//!
//! The methods of [`Service`] are split by concern:
//! this file holds the types and the helpers every concern shares;
//! `deploy.rs` deploys and watches (start, poll results, deadlines, the
//! watchdog, automatic deletion); `undeploy.rs` takes VMs and roles away;
//! `scale.rs` scales, ends cooldowns, releases held roles and recovers;
//! `autoscale.rs` scales roles by their policies, with the guards;
//! `actions.rs` runs users' VM actions (batched and scheduled) and keeps
//! the outbox; `edit.rs` changes the template (update, rename, add-role).

mod actions;
mod autoscale;
mod deploy;
mod edit;
mod networks;
mod placement;
mod scale;
mod undeploy;

#[cfg(test)]
mod tests;

use super::model::ServiceTemplate;
use super::state::{RoleState, ServiceState};
use super::strategy::RoleNode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(crate) use autoscale::bounded;
pub use autoscale::{
    Answer, Autoscale, AutoscaleSettings, DECISIONS_KEPT, DecisionRecord, Evaluate, PolicyCall,
    PolicyRound, PolicyState,
};
pub use flotilla_model::{KeyValue, Metric, VmAction, VmState, VmStatus};
pub use networks::{NetworkAnswer, NetworkOp, NetworkStep, ServiceNetwork, from_values};

/// How long a service may wait for its VMs before it fails, by default.
pub const DEFAULT_WAIT_MS: u64 = 15 * 60 * 1000;
/// Cooldown of roles that set none (OneFlow's `default_cooldown`).
pub const DEFAULT_COOLDOWN_S: u32 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub time_ms: u64,
    pub severity: Severity,
    pub message: String,
}

/// One VM of a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub vm_number: u64,
    /// Recorded before the create call: the idempotency key.
    pub operation_id: String,
    pub name: String,
    /// Known once the driver answered.
    pub vm_id: Option<String>,
    pub vm_state: Option<VmState>,
    pub ready: bool,
    /// A terminate was asked for.
    pub terminating: bool,
    /// A create, act or poll problem the user should see.
    pub reason: Option<String>,
    /// When the VM was last seen become RUNNING: its warm-up counts from
    /// there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_since_ms: Option<u64>,
    /// The host the VM was placed on, recorded before its create (a
    /// server without hosts places nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// No host could take it yet (`reason` says why): its create is
    /// tried again every round, until the role's wait runs out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unplaced: bool,
    /// What the last poll measured and the VM reported of itself.
    #[serde(skip)]
    pub values: VmValues,
}

/// Where a VM runs and what it takes there: the fleet's books are the
/// sum of these over every service, so a placement is counted from the
/// moment it is written, before the driver has made the VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    pub host_id: u64,
    pub host: String,
    pub cpu: f64,
    pub memory_mb: u64,
}

/// The values the last poll brought for one VM: the hypervisor's
/// monitoring and the attributes the VM reported of itself (OneGate's
/// `READY`, an application's own metrics). Policies decide from them.
///
/// They are observations, not state: not written with the service (the
/// next poll brings them again after a restart), and not part of its
/// record ([`Service::same_record`]), so a poll that changed nothing but
/// the numbers does not cost a write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VmValues {
    pub monitoring: Vec<Metric>,
    pub attributes: Vec<KeyValue>,
    /// When the poll that brought them ran (0: never polled).
    pub at_ms: u64,
}

impl VmValues {
    /// A value by name, in OneFlow's order of lookup: what the VM reported
    /// of itself, then the hypervisor's monitoring.
    pub fn get(&self, name: &str) -> Option<f64> {
        flotilla_model::lookup(&self.attributes, name)
            .and_then(|v| v.trim().parse().ok())
            .or_else(|| {
                self.monitoring
                    .iter()
                    .find(|m| m.name.eq_ignore_ascii_case(name))
                    .map(|m| m.value)
            })
    }

    /// Every value a policy can read, by name, in OneFlow's order of
    /// lookup: the VM's own numeric attributes first, then monitoring
    /// values it did not report itself.
    pub fn numbers(&self) -> Vec<Metric> {
        let mut out: Vec<Metric> = self
            .attributes
            .iter()
            .filter_map(|kv| {
                let value: f64 = kv.value.trim().parse().ok()?;
                value
                    .is_finite()
                    .then(|| Metric::new(kv.key.clone(), value))
            })
            .collect();
        for m in &self.monitoring {
            if m.value.is_finite() && !out.iter().any(|o| o.name.eq_ignore_ascii_case(&m.name)) {
                out.push(m.clone());
            }
        }
        out
    }
}

impl Node {
    /// Equal in what is written with the node: all but its values.
    fn same_record(&self, other: &Node) -> bool {
        let Node {
            vm_number,
            operation_id,
            name,
            vm_id,
            vm_state,
            ready,
            terminating,
            reason,
            running_since_ms,
            placement,
            unplaced,
            values: _,
        } = self;
        *vm_number == other.vm_number
            && *operation_id == other.operation_id
            && *name == other.name
            && *vm_id == other.vm_id
            && *vm_state == other.vm_state
            && *ready == other.ready
            && *terminating == other.terminating
            && *reason == other.reason
            && *running_since_ms == other.running_since_ms
            && *placement == other.placement
            && *unplaced == other.unplaced
    }

    /// Mark the node as going away; the effect that terminates its VM, if
    /// it has one yet.
    fn terminate(&mut self, action: VmAction) -> Option<Effect> {
        self.terminating = true;
        Some(Effect::Act(VmAct::lifecycle(self.vm_id.clone()?, action)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleWay {
    Up,
    Down,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleRuntime {
    pub name: String,
    pub state: RoleState,
    pub cardinality: u32,
    /// Never decremented: VM numbers are not reused.
    pub last_vmname: u64,
    pub nodes: Vec<Node>,
    pub on_hold: bool,
    pub scale_way: Option<ScaleWay>,
    /// Its metric policies' streaks and last evaluations.
    #[serde(default, skip_serializing_if = "Autoscale::is_empty")]
    pub autoscale: Autoscale,
    /// A `vr` role's virtual router, once its VMs are being created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrouter: Option<Vrouter>,
}

impl RoleRuntime {
    /// Equal in what is written with the role: all but its nodes' values.
    fn same_record(&self, other: &RoleRuntime) -> bool {
        let RoleRuntime {
            name,
            state,
            cardinality,
            last_vmname,
            nodes,
            on_hold,
            scale_way,
            autoscale,
            vrouter,
        } = self;
        *name == other.name
            && *state == other.state
            && *cardinality == other.cardinality
            && *last_vmname == other.last_vmname
            && nodes.len() == other.nodes.len()
            && nodes
                .iter()
                .zip(&other.nodes)
                .all(|(a, b)| a.same_record(b))
            && *on_hold == other.on_hold
            && *scale_way == other.scale_way
            && *autoscale == other.autoscale
            && *vrouter == other.vrouter
    }
}

/// The virtual router of a `vr` role: one object for all its VMs (HA
/// when there are several), holding the floating IPs of the NICs marked
/// `FLOATING_IP`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vrouter {
    pub id: u64,
    /// One per floating NIC: `{"NETWORK_ID": .., "VROUTER_IP": ..}`.
    pub ips: Vec<VrouterIp>,
}

impl Vrouter {
    /// OneFlow's `vrouter_ips`: `[{"NETWORK_ID": n, "VROUTER_IP": ip}]`.
    pub fn oneflow_ips(&self) -> Value {
        Value::Array(
            self.ips
                .iter()
                .map(|ip| {
                    let network = ip
                        .network_id
                        .parse::<u64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::from(ip.network_id.clone()));
                    serde_json::json!({"NETWORK_ID": network, "VROUTER_IP": ip.ip})
                })
                .collect(),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VrouterIp {
    /// The index of the NIC in the role's template.
    pub nic: usize,
    pub network_id: String,
    pub ip: String,
}

/// A VM the caller must create.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateVm {
    pub operation_id: String,
    pub role: String,
    /// The node's number in its role (nodes are kept in this order).
    pub vm_number: u64,
    pub name: String,
    pub template_id: u64,
    pub hold: bool,
}

/// An action on one VM. The engine records it in the service's `outbox`
/// before sending it and removes it once the driver answered, so an action
/// a crash interrupted is sent again after the restart; actions are
/// idempotent for that reason (a terminate of a VM already gone succeeds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmAct {
    pub vm_id: String,
    pub action: VmAction,
    /// The action's parameters (`name` of a snapshot, `disk_id`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<(String, String)>,
    /// Asked for by a user's VM action rather than by the life cycle: a
    /// VM that refuses it keeps the refusal as its reason and the service
    /// carries on, as in OneFlow.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requested: bool,
}

impl VmAct {
    fn lifecycle(vm_id: String, action: VmAction) -> VmAct {
        VmAct {
            vm_id,
            action,
            args: Vec::new(),
            requested: false,
        }
    }

    pub fn is_terminate(&self) -> bool {
        self.action.terminates()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Create(CreateVm),
    /// Act on a VM (`terminate`, `terminate-hard`, `release`, …).
    Act(VmAct),
    /// Deploy, check or remove one of the service's networks.
    Network(NetworkOp),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleError {
    /// Not allowed in the service's state (HTTP 409).
    WrongState(String),
    /// Bad request (HTTP 400), naming the field.
    Invalid(String),
    NotFound(String),
}

impl std::fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LifecycleError::WrongState(m)
            | LifecycleError::Invalid(m)
            | LifecycleError::NotFound(m) => f.write_str(m),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: u64,
    pub name: String,
    pub template: ServiceTemplate,
    pub state: ServiceState,
    pub roles: Vec<RoleRuntime>,
    /// The last `LOG_KEPT` entries. The store keeps them in a table of
    /// their own, so they are not part of the service's document (older
    /// documents that carry them still read).
    #[serde(default, skip_serializing)]
    pub log: Vec<LogEntry>,
    /// Entries ever logged: the store appends to its log table the ones
    /// that came since it last wrote the service.
    #[serde(default)]
    pub log_count: u64,
    pub start_time_ms: u64,
    /// When the current wait (deploy, undeploy, scale) gives up.
    pub deadline_ms: Option<u64>,
    pub cooldown_until_ms: Option<u64>,
    /// How long waits may last; per service so tests and operators can set it.
    pub wait_ms: u64,
    /// Set once every role is DONE after an undeploy: the caller deletes
    /// the service.
    pub deleted: bool,
    /// Owner, group and permissions of the service document.
    #[serde(default)]
    pub ownership: crate::permissions::Ownership,
    /// The role a remove-role is taking away.
    #[serde(default)]
    pub removing_role: Option<String>,
    /// Role actions waiting for their batch's turn.
    #[serde(default)]
    pub scheduled_actions: Vec<ScheduledAction>,
    /// The id the next batched action gets.
    #[serde(default)]
    pub next_sched_id: u64,
    /// VM actions recorded but not yet answered by the driver: the engine
    /// sends them again after a crash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<VmAct>,
    /// Cooldown of roles that set none (the server's setting when the
    /// service was created).
    #[serde(default = "default_cooldown_s")]
    pub default_cooldown_s: u32,
    /// The service's own networks (`networks_values`), deployed before
    /// its roles and removed after them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<ServiceNetwork>,
    /// The VM numbers the removed roles had used, by role name: a role
    /// added again under the same name numbers its VMs on from there, so
    /// an operation id (and the VM and OneGate token behind it) never
    /// comes back within the service.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub removed_roles: std::collections::BTreeMap<String, u64>,
    /// The driver plugin that makes and runs the service's VMs: only it
    /// knows them, so a server started with another driver must not take
    /// the service on. `None` in services made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
}

impl Service {
    /// Whether `self` and `other` are equal in the service's record: all
    /// but the values the last poll brought its VMs, which are
    /// observations. The save rule: a round that changed nothing but the
    /// numbers a poll brought does not cost a write.
    pub fn same_record(&self, other: &Service) -> bool {
        let Service {
            id,
            name,
            template,
            state,
            roles,
            log,
            log_count,
            start_time_ms,
            deadline_ms,
            cooldown_until_ms,
            wait_ms,
            deleted,
            ownership,
            removing_role,
            scheduled_actions,
            next_sched_id,
            outbox,
            default_cooldown_s,
            networks,
            removed_roles,
            driver,
        } = self;
        *id == other.id
            && *name == other.name
            && *state == other.state
            && *log_count == other.log_count
            && *log == other.log
            && *start_time_ms == other.start_time_ms
            && *deadline_ms == other.deadline_ms
            && *cooldown_until_ms == other.cooldown_until_ms
            && *wait_ms == other.wait_ms
            && *deleted == other.deleted
            && *ownership == other.ownership
            && *removing_role == other.removing_role
            && *scheduled_actions == other.scheduled_actions
            && *next_sched_id == other.next_sched_id
            && *outbox == other.outbox
            && *default_cooldown_s == other.default_cooldown_s
            && *networks == other.networks
            && *removed_roles == other.removed_roles
            && *driver == other.driver
            && roles.len() == other.roles.len()
            && roles
                .iter()
                .zip(&other.roles)
                .all(|(a, b)| a.same_record(b))
            && *template == other.template
    }

    /// How many of the service's VMs a driver made and has not yet seen
    /// gone (DONE).
    pub fn live_vm_count(&self) -> usize {
        self.roles
            .iter()
            .flat_map(|r| &r.nodes)
            .filter(|n| n.vm_id.is_some() && n.vm_state != Some(VmState::Done))
            .count()
    }
}

fn default_cooldown_s() -> u32 {
    DEFAULT_COOLDOWN_S
}

/// The service log keeps this many entries (the API shows the last 50, as
/// OneFlow does): a role of thousands of VMs must not make every write of
/// the service grow with its history.
pub const LOG_KEPT: usize = 200;

/// Bounds of a batched action: a period longer than a year or more VMs a
/// batch than any role can hold is a mistake, not a plan.
pub const MAX_ACTION_PERIOD_S: u64 = 365 * 24 * 3600;
pub const MAX_ACTION_NUMBER: u64 = 1_000_000;

/// One VM action of a batched role action, due at `due_ms`. The VM
/// actions of one batched action share its `id`, by which a user cancels
/// the ones not yet due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledAction {
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub role: String,
    pub vm_id: String,
    pub action: VmAction,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<(String, String)>,
    pub due_ms: u64,
}

/// A user's VM action on a role or a whole service, batched: `number`
/// VMs at a time, `period_s` seconds apart (either 0: all at once).
#[derive(Debug, Clone, PartialEq)]
pub struct VmActionRequest {
    pub action: VmAction,
    /// The action's parameters for the driver (`name`, `disk_id`).
    pub args: Vec<(String, String)>,
    pub period_s: u64,
    pub number: u64,
}

/// One poll result.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub vm_id: String,
    pub state: VmState,
    /// The VM reported `READY=YES` (through OneGate, or its driver).
    pub ready: bool,
    pub reason: Option<String>,
    pub values: VmValues,
}

impl From<VmStatus> for Observed {
    fn from(s: VmStatus) -> Observed {
        let ready = flotilla_model::says_ready(&s.user_attributes);
        Observed {
            vm_id: s.id,
            state: s.state,
            ready,
            reason: s.reason,
            values: VmValues {
                monitoring: s.monitoring,
                attributes: s.user_attributes,
                at_ms: 0,
            },
        }
    }
}

impl Service {
    /// A new service from a validated template, PENDING; `start` deploys it.
    pub fn new(id: u64, template: ServiceTemplate, now: u64, wait_ms: u64) -> Service {
        let roles = template
            .roles
            .iter()
            .map(|r| RoleRuntime {
                name: r.name.clone(),
                state: RoleState::Pending,
                cardinality: r.cardinality,
                last_vmname: 0,
                nodes: Vec::new(),
                on_hold: r.on_hold || template.on_hold,
                scale_way: None,
                autoscale: Autoscale::default(),
                vrouter: None,
            })
            .collect();
        let networks = from_values(id, &template.networks_values);
        let mut service = Service {
            id,
            name: template.name.clone(),
            template,
            state: ServiceState::Pending,
            roles,
            log: Vec::new(),
            log_count: 0,
            start_time_ms: now,
            deadline_ms: None,
            cooldown_until_ms: None,
            wait_ms,
            deleted: false,
            removing_role: None,
            removed_roles: Default::default(),
            driver: None,
            ownership: crate::permissions::Ownership::default(),
            scheduled_actions: Vec::new(),
            next_sched_id: 0,
            outbox: Vec::new(),
            default_cooldown_s: DEFAULT_COOLDOWN_S,
            networks,
        };
        // Children of a role on hold are held too.
        for _ in 0..service.roles.len() {
            for i in 0..service.roles.len() {
                let held_parent = service.template.roles[i]
                    .parents
                    .iter()
                    .any(|p| service.role(p).is_some_and(|r| r.on_hold));
                if held_parent {
                    service.roles[i].on_hold = true;
                }
            }
        }
        service
    }

    pub fn role(&self, name: &str) -> Option<&RoleRuntime> {
        self.roles.iter().find(|r| r.name == name)
    }

    fn role_index(&self, name: &str) -> Option<usize> {
        self.roles.iter().position(|r| r.name == name)
    }

    pub fn info(&mut self, now: u64, message: impl Into<String>) {
        self.log_entry(now, Severity::Info, message.into());
    }

    pub fn error(&mut self, now: u64, message: impl Into<String>) {
        self.log_entry(now, Severity::Error, message.into());
    }

    fn log_entry(&mut self, time_ms: u64, severity: Severity, message: String) {
        self.log_count += 1;
        if self.log.len() >= LOG_KEPT {
            self.log.drain(..self.log.len() + 1 - LOG_KEPT);
        }
        self.log.push(LogEntry {
            time_ms,
            severity,
            message,
        });
    }

    fn set_state(&mut self, state: ServiceState, now: u64) {
        if self.state != state {
            self.state = state;
            self.info(now, format!("New state: {state}"));
        }
    }

    fn set_role_state(&mut self, i: usize, state: RoleState, now: u64) {
        if self.roles[i].state != state {
            self.roles[i].state = state;
            let name = self.roles[i].name.clone();
            self.info(now, format!("Role {name} new state: {state}"));
        }
    }

    /// The template of the role at `i`, found by name: a runtime role is
    /// never paired with another role's template by position.
    fn spec(&self, i: usize) -> &super::model::Role {
        let name = &self.roles[i].name;
        self.template
            .roles
            .iter()
            .find(|t| &t.name == name)
            .unwrap_or(&self.template.roles[i])
    }

    fn nodes_of(&self) -> Vec<RoleNode<'_>> {
        (0..self.roles.len())
            .map(|i| RoleNode {
                name: &self.roles[i].name,
                parents: &self.spec(i).parents,
                state: self.roles[i].state,
            })
            .collect()
    }

    /// Every VM id the service has, to poll.
    pub fn vm_ids(&self) -> Vec<String> {
        self.roles
            .iter()
            .flat_map(|r| r.nodes.iter().filter_map(|n| n.vm_id.clone()))
            .collect()
    }

    /// Creates recorded but not answered: after a restart the caller
    /// retries them with the same operation id. A create the driver
    /// refused (the node has a reason) is not retried every round: the
    /// service failed, and `recover` replaces it. A VM no host could take
    /// is tried again every round.
    pub fn unconfirmed_creates(&self) -> Vec<CreateVm> {
        (0..self.roles.len())
            .map(|i| (&self.roles[i], self.spec(i)))
            .flat_map(|(r, t)| {
                r.nodes
                    .iter()
                    .filter(|n| {
                        n.vm_id.is_none() && !n.terminating && (n.reason.is_none() || n.unplaced)
                    })
                    .map(move |n| CreateVm {
                        operation_id: n.operation_id.clone(),
                        role: r.name.clone(),
                        vm_number: n.vm_number,
                        name: n.name.clone(),
                        template_id: t.template_id,
                        hold: r.on_hold && r.state == RoleState::Hold,
                    })
            })
            .collect()
    }

    /// Newest nodes first: answers come for the nodes just added, and a
    /// role of thousands must not make each answer a full scan.
    fn find_node(&self, pred: impl Fn(&Node) -> bool) -> Option<(usize, usize)> {
        self.roles
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.nodes.iter().rposition(&pred).map(|j| (i, j)))
    }

    /// Put the role and the service in the failed state of what they were
    /// doing.
    fn fail_role(&mut self, i: usize, now: u64) {
        let (role_state, service_state) = match self.state {
            ServiceState::DeployingNets => (
                RoleState::FailedDeploying,
                ServiceState::FailedDeployingNets,
            ),
            ServiceState::Scaling => (RoleState::FailedScaling, ServiceState::FailedScaling),
            ServiceState::Undeploying => (
                RoleState::FailedUndeploying,
                ServiceState::FailedUndeploying,
            ),
            _ => (RoleState::FailedDeploying, ServiceState::FailedDeploying),
        };
        self.set_role_state(i, role_state, now);
        self.set_state(service_state, now);
        self.deadline_ms = None;
    }

    /// A wrong-state refusal saying what the state allows and what to do.
    fn refuse(&self, what: &str, needs: &str, now: u64) -> LifecycleError {
        use ServiceState::*;
        let cooldown;
        let hint = match self.state {
            Cooldown => {
                let left = self
                    .cooldown_until_ms
                    .map_or(0, |t| t.saturating_sub(now).div_ceil(1000));
                cooldown = format!(
                    "; it is cooling down after a scale for {left} s more (the role's `cooldown`): try again then, or end it now with `recover`"
                );
                cooldown.as_str()
            }
            Deploying | Scaling | Undeploying | DeployingNets | UndeployingNets | Pending => {
                "; wait until it is done"
            }
            s if s.is_failed() => "; `recover` it, or remove it with a recover with `delete`",
            Done => "; it is being deleted",
            _ => "",
        };
        LifecycleError::WrongState(format!(
            "service {} is {}; {what} needs {needs}{hint}",
            self.id, self.state
        ))
    }
}

/// Build the VM template JSON a driver receives for one VM.
pub fn vm_template_json(
    service: &Service,
    role: &str,
    vm_template: &Map<String, Value>,
) -> Option<Map<String, Value>> {
    let t = service.template.role(role)?;
    Some(super::merge::vm_template(
        vm_template,
        &t.template_contents,
        &service.template.user_inputs_values,
        &t.user_inputs_values,
        service.id,
        role,
    ))
}
