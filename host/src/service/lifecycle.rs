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

use super::model::{Deployment, ServiceTemplate, ShutdownAction};
use super::state::{RoleState, ServiceState};
use super::strategy::{RoleNode, roles_to_deploy, roles_to_shutdown};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// OpenNebula's VM states, as the core sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VmState {
    Pending,
    Hold,
    Running,
    Poweroff,
    Suspended,
    Stopped,
    Undeployed,
    Unknown,
    Failed,
    Done,
}

impl VmState {
    pub fn as_str(&self) -> &'static str {
        match self {
            VmState::Pending => "PENDING",
            VmState::Hold => "HOLD",
            VmState::Running => "RUNNING",
            VmState::Poweroff => "POWEROFF",
            VmState::Suspended => "SUSPENDED",
            VmState::Stopped => "STOPPED",
            VmState::Undeployed => "UNDEPLOYED",
            VmState::Unknown => "UNKNOWN",
            VmState::Failed => "FAILED",
            VmState::Done => "DONE",
        }
    }
}

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
}

impl Node {
    /// Mark the node as going away; the effect that terminates its VM, if
    /// it has one yet.
    fn terminate(&mut self, action: &'static str) -> Option<Effect> {
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
    /// One of [`VM_ACTIONS`].
    pub action: String,
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
    fn lifecycle(vm_id: String, action: &str) -> VmAct {
        VmAct {
            vm_id,
            action: action.to_string(),
            args: Vec::new(),
            requested: false,
        }
    }

    pub fn is_terminate(&self) -> bool {
        matches!(self.action.as_str(), "terminate" | "terminate-hard")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Create(CreateVm),
    /// Act on a VM (`terminate`, `terminate-hard`, `release`, …).
    Act(VmAct),
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
    pub log: Vec<LogEntry>,
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
    pub ownership: crate::access::Ownership,
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
    pub action: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<(String, String)>,
    pub due_ms: u64,
}

/// A user's VM action on a role or a whole service, batched: `number`
/// VMs at a time, `period_s` seconds apart (either 0: all at once).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VmActionRequest {
    pub action: String,
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
    pub ready: bool,
    pub reason: Option<String>,
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
            })
            .collect();
        let mut service = Service {
            id,
            name: template.name.clone(),
            template,
            state: ServiceState::Pending,
            roles,
            log: Vec::new(),
            start_time_ms: now,
            deadline_ms: None,
            cooldown_until_ms: None,
            wait_ms,
            deleted: false,
            removing_role: None,
            ownership: crate::access::Ownership::default(),
            scheduled_actions: Vec::new(),
            next_sched_id: 0,
            outbox: Vec::new(),
            default_cooldown_s: DEFAULT_COOLDOWN_S,
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
    /// service failed, and `recover` replaces it.
    pub fn unconfirmed_creates(&self) -> Vec<CreateVm> {
        (0..self.roles.len())
            .map(|i| (&self.roles[i], self.spec(i)))
            .flat_map(|(r, t)| {
                r.nodes
                    .iter()
                    .filter(|n| n.vm_id.is_none() && !n.terminating && n.reason.is_none())
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

    /// Start deploying: PENDING → DEPLOYING (or HOLD).
    pub fn start(&mut self, now: u64) -> Vec<Effect> {
        let state = if self.template.on_hold {
            ServiceState::Hold
        } else {
            ServiceState::Deploying
        };
        self.set_state(state, now);
        self.deadline_ms = Some(now + self.wait_ms);
        self.deploy_next(now)
    }

    /// Create the VMs of the roles whose turn it is.
    fn deploy_next(&mut self, now: u64) -> Vec<Effect> {
        let deployment = self.template.deployment;
        let names: Vec<String> = {
            let nodes = self.nodes_of();
            let mut names: Vec<String> = roles_to_deploy(deployment, &nodes)
                .into_iter()
                .map(str::to_string)
                .collect();
            // Roles on hold are created (on hold) as soon as their parents
            // are created, not run.
            if deployment == Deployment::Straight {
                for (i, r) in self.roles.iter().enumerate() {
                    let t = self.spec(i);
                    let parents_held = t.parents.iter().all(|p| {
                        self.role(p).is_some_and(|pr| {
                            matches!(pr.state, RoleState::Hold | RoleState::Running)
                        })
                    });
                    if r.state == RoleState::Pending
                        && r.on_hold
                        && parents_held
                        && !names.contains(&r.name)
                    {
                        names.push(r.name.clone());
                    }
                }
            }
            names
        };
        let mut effects = Vec::new();
        for name in names {
            let Some(i) = self.role_index(&name) else {
                continue;
            };
            let hold = self.roles[i].on_hold;
            self.set_role_state(
                i,
                if hold {
                    RoleState::Hold
                } else {
                    RoleState::Deploying
                },
                now,
            );
            effects.extend(self.grow(i, hold));
        }
        effects
    }

    /// Add nodes until the role has its cardinality; the intents are in
    /// the service before the caller creates anything.
    fn grow(&mut self, i: usize, hold: bool) -> Vec<Effect> {
        let template_id = self.spec(i).template_id;
        let id = self.id;
        let role = &mut self.roles[i];
        let mut effects = Vec::new();
        let live = role.nodes.iter().filter(|n| !n.terminating).count() as u32;
        for _ in live..role.cardinality {
            let number = role.last_vmname;
            role.last_vmname += 1;
            let node = Node {
                vm_number: number,
                operation_id: format!("service-{id}-{}-{number}", role.name),
                name: super::merge::vm_name(&role.name, number, id),
                vm_id: None,
                vm_state: None,
                ready: false,
                terminating: false,
                reason: None,
            };
            effects.push(Effect::Create(CreateVm {
                operation_id: node.operation_id.clone(),
                role: role.name.clone(),
                vm_number: number,
                name: node.name.clone(),
                template_id,
                hold,
            }));
            role.nodes.push(node);
        }
        effects
    }

    /// The driver created a VM (or refused to).
    pub fn observe_created(&mut self, create: &CreateVm, result: Result<String, String>, now: u64) {
        // A role's nodes are in VM number order: a binary search keeps a
        // role of thousands from scanning its nodes for every answer.
        let found = self.role_index(&create.role).and_then(|i| {
            let nodes = &self.roles[i].nodes;
            let j = nodes
                .binary_search_by_key(&create.vm_number, |n| n.vm_number)
                .ok()?;
            (nodes[j].operation_id == create.operation_id).then_some((i, j))
        });
        let Some((i, j)) =
            found.or_else(|| self.find_node(|n| n.operation_id == create.operation_id))
        else {
            return;
        };
        match result {
            Ok(vm_id) => {
                let role = self.roles[i].name.clone();
                let node = &mut self.roles[i].nodes[j];
                node.vm_id = Some(vm_id.clone());
                node.reason = None;
                let name = node.name.clone();
                self.info(now, format!("Role {role}: created VM {vm_id} ({name})"));
            }
            Err(reason) => {
                let role = self.roles[i].name.clone();
                let node = &mut self.roles[i].nodes[j];
                node.reason = Some(reason.clone());
                let name = node.name.clone();
                self.error(
                    now,
                    format!("Role {role}: creating VM {name} failed: {reason}"),
                );
                self.fail_role(i, now);
            }
        }
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

    /// Apply poll results, then move the service on: roles that are up,
    /// roles that are gone, the next roles, deadlines, cooldowns, the
    /// watchdog. Returns the next effects.
    pub fn observe(&mut self, observed: &[Observed], now: u64) -> Vec<Effect> {
        // One index for the whole poll: a poll answers for every VM.
        let index: std::collections::HashMap<String, (usize, usize)> = self
            .roles
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                r.nodes
                    .iter()
                    .enumerate()
                    .filter_map(move |(j, n)| Some((n.vm_id.clone()?, (i, j))))
            })
            .collect();
        for o in observed {
            let Some(&(i, j)) = index.get(&o.vm_id) else {
                continue;
            };
            let node = &mut self.roles[i].nodes[j];
            node.ready = o.ready;
            if node.vm_state == Some(o.state) {
                continue;
            }
            node.vm_state = Some(o.state);
            node.reason = o.reason.clone();
            let msg = format!(
                "Role {}: VM {} is {}{}",
                self.roles[i].name,
                o.vm_id,
                o.state.as_str(),
                o.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            if matches!(o.state, VmState::Failed | VmState::Unknown) {
                self.error(now, msg);
            } else {
                self.info(now, msg);
            }
        }
        // A VM the service terminated is gone once DONE, whatever the
        // service's state (a failed service keeps no dead VMs listed).
        for role in &mut self.roles {
            role.nodes
                .retain(|n| !(n.terminating && n.vm_state == Some(VmState::Done)));
        }
        self.advance(now)
    }

    fn node_up(&self, n: &Node) -> bool {
        n.vm_state == Some(VmState::Running) && (!self.template.ready_status_gate || n.ready)
    }

    fn advance(&mut self, now: u64) -> Vec<Effect> {
        let mut effects = self.due_actions(now);
        match self.state {
            ServiceState::Deploying | ServiceState::Scaling => {
                for i in 0..self.roles.len() {
                    let role = &self.roles[i];
                    if !matches!(role.state, RoleState::Deploying | RoleState::Scaling) {
                        continue;
                    }
                    if role
                        .nodes
                        .iter()
                        .any(|n| n.vm_state == Some(VmState::Failed) && !n.terminating)
                    {
                        let name = role.name.clone();
                        self.error(now, format!("Role {name}: a VM failed"));
                        self.fail_role(i, now);
                        return effects;
                    }
                    let live: Vec<&Node> = role.nodes.iter().filter(|n| !n.terminating).collect();
                    let gone_done = role
                        .nodes
                        .iter()
                        .filter(|n| n.terminating)
                        .all(|n| n.vm_state == Some(VmState::Done) || n.vm_id.is_none());
                    if live.iter().all(|n| self.node_up(n)) && gone_done {
                        self.roles[i].nodes.retain(|n| !n.terminating);
                        if self.state == ServiceState::Scaling {
                            let cooldown = self.spec(i).cooldown.unwrap_or(self.default_cooldown_s);
                            self.roles[i].scale_way = None;
                            self.set_role_state(i, RoleState::Cooldown, now);
                            self.set_state(ServiceState::Cooldown, now);
                            self.cooldown_until_ms = Some(now + cooldown as u64 * 1000);
                            self.deadline_ms = None;
                            return effects;
                        }
                        self.set_role_state(i, RoleState::Running, now);
                    }
                }
                if self.state == ServiceState::Deploying {
                    effects.extend(self.deploy_next(now));
                    if self.roles.iter().all(|r| r.state == RoleState::Running) {
                        self.set_state(ServiceState::Running, now);
                        self.deadline_ms = None;
                        effects.extend(self.automatic_deletion(now));
                        return effects;
                    }
                    if self
                        .roles
                        .iter()
                        .all(|r| matches!(r.state, RoleState::Hold | RoleState::Running))
                        && self.roles.iter().any(|r| r.state == RoleState::Hold)
                    {
                        self.set_state(ServiceState::Hold, now);
                        self.deadline_ms = None;
                    }
                }
                self.check_deadline(now);
            }
            ServiceState::Hold => {
                effects.extend(self.deploy_next(now));
            }
            ServiceState::Undeploying if self.removing_role.is_some() => {
                let name = self.removing_role.clone().unwrap_or_default();
                if let Some(i) = self.role_index(&name)
                    && self.roles[i]
                        .nodes
                        .iter()
                        .all(|n| n.vm_state == Some(VmState::Done) || n.vm_id.is_none())
                {
                    self.roles.remove(i);
                    self.template.roles.retain(|r| r.name != name);
                    self.removing_role = None;
                    self.info(now, format!("Role {name} removed"));
                    self.deadline_ms = None;
                    if self.roles.is_empty() {
                        self.info(now, "No roles left: the service is deleted");
                        self.deleted = true;
                    } else {
                        self.set_state(ServiceState::Running, now);
                    }
                } else {
                    self.check_deadline(now);
                }
            }
            ServiceState::Undeploying => {
                for i in 0..self.roles.len() {
                    if self.roles[i].state == RoleState::Undeploying
                        && self.roles[i]
                            .nodes
                            .iter()
                            .all(|n| n.vm_state == Some(VmState::Done) || n.vm_id.is_none())
                    {
                        self.roles[i].nodes.clear();
                        self.set_role_state(i, RoleState::Done, now);
                    }
                }
                if self.roles.iter().all(|r| r.state == RoleState::Done) {
                    self.info(now, "Service undeployed");
                    self.deleted = true;
                    self.deadline_ms = None;
                    return effects;
                }
                effects.extend(self.shutdown_next(now, false));
                self.check_deadline(now);
            }
            ServiceState::Cooldown if self.cooldown_until_ms.is_some_and(|t| now >= t) => {
                self.end_cooldown(now)
            }
            ServiceState::Running | ServiceState::Warning => effects.extend(self.watchdog(now)),
            _ => {}
        }
        effects
    }

    fn end_cooldown(&mut self, now: u64) {
        self.cooldown_until_ms = None;
        for i in 0..self.roles.len() {
            if self.roles[i].state == RoleState::Cooldown {
                self.set_role_state(i, RoleState::Running, now);
            }
        }
        self.set_state(ServiceState::Running, now);
    }

    fn check_deadline(&mut self, now: u64) {
        if let Some(deadline) = self.deadline_ms
            && now >= deadline
        {
            let waiting: Vec<String> = self
                .roles
                .iter()
                .filter(|r| {
                    matches!(
                        r.state,
                        RoleState::Deploying | RoleState::Scaling | RoleState::Undeploying
                    )
                })
                .map(|r| r.name.clone())
                .collect();
            self.error(
                now,
                format!(
                    "Gave up after {} s waiting for role(s) {}",
                    self.wait_ms / 1000,
                    waiting.join(", ")
                ),
            );
            if let Some(i) = waiting.first().and_then(|n| self.role_index(n)) {
                self.fail_role(i, now);
            } else {
                self.deadline_ms = None;
            }
        }
    }

    /// The watchdog: VMs that went DONE leave their role; UNKNOWN, FAILED
    /// and POWEROFF VMs put the role and service in WARNING until they run
    /// again.
    fn watchdog(&mut self, now: u64) -> Vec<Effect> {
        for i in 0..self.roles.len() {
            let gone: Vec<Node> = self.roles[i]
                .nodes
                .iter()
                .filter(|n| n.vm_state == Some(VmState::Done) && !n.terminating)
                .cloned()
                .collect();
            for n in gone {
                let role = &mut self.roles[i];
                role.nodes.retain(|x| x.operation_id != n.operation_id);
                role.cardinality = role.cardinality.saturating_sub(1);
                let (name, card) = (role.name.clone(), role.cardinality);
                self.info(
                    now,
                    format!(
                        "Role {name}: VM {} is DONE and leaves the role; cardinality now {card}",
                        n.vm_id.unwrap_or_default()
                    ),
                );
            }
            let troubled = self.roles[i].nodes.iter().any(|n| {
                matches!(
                    n.vm_state,
                    Some(VmState::Unknown | VmState::Failed | VmState::Poweroff)
                )
            });
            let state = if troubled {
                RoleState::Warning
            } else {
                RoleState::Running
            };
            if matches!(self.roles[i].state, RoleState::Running | RoleState::Warning) {
                self.set_role_state(i, state, now);
            }
        }
        let warning = self.roles.iter().any(|r| r.state == RoleState::Warning);
        self.set_state(
            if warning {
                ServiceState::Warning
            } else {
                ServiceState::Running
            },
            now,
        );
        self.automatic_deletion(now)
    }

    /// With `automatic_deletion`, a service whose roles are all empty
    /// undeploys itself.
    fn automatic_deletion(&mut self, now: u64) -> Vec<Effect> {
        if !self.template.automatic_deletion || self.roles.iter().any(|r| !r.nodes.is_empty()) {
            return Vec::new();
        }
        self.info(now, "Every role is empty: automatic deletion");
        // A forced undeploy is allowed in every state.
        self.undeploy(now, true).unwrap_or_default()
    }

    fn shutdown_action(&self, i: usize) -> &'static str {
        let action = self
            .spec(i)
            .shutdown_action
            .or(self.template.shutdown_action);
        if action.is_some_and(|a: ShutdownAction| a.is_hard()) {
            "terminate-hard"
        } else {
            "terminate"
        }
    }

    /// Terminate the roles whose turn it is (children first with
    /// `straight`).
    fn shutdown_next(&mut self, now: u64, hard: bool) -> Vec<Effect> {
        let names: Vec<String> = {
            let nodes = self.nodes_of();
            roles_to_shutdown(self.template.deployment, &nodes)
                .into_iter()
                .map(str::to_string)
                .collect()
        };
        let mut effects = Vec::new();
        for name in names {
            let Some(i) = self.role_index(&name) else {
                continue;
            };
            self.set_role_state(i, RoleState::Undeploying, now);
            let action = if hard {
                "terminate-hard"
            } else {
                self.shutdown_action(i)
            };
            for n in self.roles[i].nodes.iter_mut() {
                // A VM already DONE needs no terminate, but is marked all the same.
                let done = n.vm_state == Some(VmState::Done);
                effects.extend(n.terminate(action).filter(|_| !done));
            }
        }
        effects
    }

    /// `DELETE`: undeploy in reverse dependency order. `force` (recover
    /// `--delete`) works from any state.
    pub fn undeploy(&mut self, now: u64, force: bool) -> Result<Vec<Effect>, LifecycleError> {
        if !force && !self.state.can_undeploy() {
            return Err(self.refuse("undeploying", "RUNNING, WARNING, HOLD or PENDING", now));
        }
        if !force && self.state == ServiceState::Undeploying && self.removing_role.is_none() {
            // A repeated DELETE (a client's retry) changes nothing: the
            // undeploy under way goes on.
            return Ok(Vec::new());
        }
        // Undeploying the whole service takes the role being removed too.
        self.removing_role = None;
        // A forced undeploy starts over: roles that were mid-way are retried.
        for i in 0..self.roles.len() {
            if matches!(
                self.roles[i].state,
                RoleState::Undeploying | RoleState::FailedUndeploying
            ) {
                self.roles[i].state = RoleState::Running;
            }
        }
        self.set_state(ServiceState::Undeploying, now);
        self.deadline_ms = Some(now + self.wait_ms);
        self.cooldown_until_ms = None;
        Ok(self.shutdown_next(now, false))
    }

    /// Record the VM actions among `effects` in the outbox: the caller
    /// writes the service, then sends them, then reports each answer with
    /// [`Service::observe_acted`].
    pub fn record(&mut self, effects: &[Effect]) {
        self.outbox.extend(effects.iter().filter_map(|e| match e {
            Effect::Act(act) => Some(act.clone()),
            Effect::Create(_) => None,
        }));
    }

    /// The driver answered a VM action. A soft terminate it refused falls
    /// back to a hard one; an action a user asked for that the VM refused
    /// is noted on the VM and in the log, and the service carries on (as
    /// in OneFlow); a refused action of the life cycle fails the role.
    pub fn observe_acted(
        &mut self,
        act: &VmAct,
        result: Result<(), String>,
        now: u64,
    ) -> Vec<Effect> {
        if let Some(k) = self.outbox.iter().position(|a| a == act) {
            self.outbox.remove(k);
        }
        let Err(reason) = result else {
            return Vec::new();
        };
        let Some((i, j)) = self.find_node(|n| n.vm_id.as_deref() == Some(&act.vm_id)) else {
            return Vec::new();
        };
        let (role, vm_id, action) = (self.roles[i].name.clone(), &act.vm_id, &act.action);
        if action == "terminate" {
            self.error(
                now,
                format!(
                    "Role {role}: terminate of VM {vm_id} failed ({reason}); trying terminate-hard"
                ),
            );
            let hard = VmAct {
                action: "terminate-hard".into(),
                ..act.clone()
            };
            self.outbox.push(hard.clone());
            return vec![Effect::Act(hard)];
        }
        if act.requested {
            self.roles[i].nodes[j].reason = Some(format!("{action} refused: {reason}"));
            self.error(
                now,
                format!("Role {role}: VM {vm_id} refused {action}: {reason}"),
            );
            return Vec::new();
        }
        self.error(
            now,
            format!("Role {role}: {action} of VM {vm_id} failed: {reason}"),
        );
        self.fail_role(i, now);
        Vec::new()
    }

    /// Manual scale (`POST /service/:id/scale`).
    pub fn scale(
        &mut self,
        role: &str,
        cardinality: u32,
        force: bool,
        now: u64,
    ) -> Result<Vec<Effect>, LifecycleError> {
        if !self.state.can_scale() {
            return Err(self.refuse("scaling", "RUNNING", now));
        }
        let i = self.role_index(role).ok_or_else(|| {
            LifecycleError::NotFound(format!("role `{role}` is not in service {}", self.id))
        })?;
        let t = self.spec(i);
        if t.kind == super::model::RoleType::Vr {
            return Err(LifecycleError::Invalid(format!(
                "role `{role}` is a virtual router and does not scale"
            )));
        }
        if !force {
            if let Some(min) = t.min_vms
                && cardinality < min
            {
                return Err(LifecycleError::Invalid(format!(
                    "cardinality: {cardinality} is below min_vms ({min}) of role {role}; use force to override"
                )));
            }
            if let Some(max) = t.max_vms
                && cardinality > max
            {
                return Err(LifecycleError::Invalid(format!(
                    "cardinality: {cardinality} is above max_vms ({max}) of role {role}; use force to override"
                )));
            }
        }
        let current = self.roles[i].cardinality;
        if cardinality == current {
            return Err(LifecycleError::Invalid(format!(
                "cardinality: role {role} already has {current} VMs"
            )));
        }
        self.info(
            now,
            format!(
                "Role {role} scaling {} from {current} to {cardinality} nodes",
                if cardinality > current { "up" } else { "down" }
            ),
        );
        self.roles[i].cardinality = cardinality;
        self.set_role_state(i, RoleState::Scaling, now);
        self.set_state(ServiceState::Scaling, now);
        self.deadline_ms = Some(now + self.wait_ms);
        if cardinality > current {
            self.roles[i].scale_way = Some(ScaleWay::Up);
            Ok(self.grow(i, false))
        } else {
            self.roles[i].scale_way = Some(ScaleWay::Down);
            // The oldest VMs go first, as in OneFlow.
            let excess = (current - cardinality) as usize;
            let action = self.shutdown_action(i);
            let mut effects = Vec::new();
            for n in self.roles[i]
                .nodes
                .iter_mut()
                .filter(|n| !n.terminating)
                .take(excess)
            {
                effects.extend(n.terminate(action));
            }
            Ok(effects)
        }
    }

    /// Release the roles on hold.
    pub fn release(&mut self, now: u64) -> Result<Vec<Effect>, LifecycleError> {
        let held: Vec<usize> = (0..self.roles.len())
            .filter(|i| self.roles[*i].state == RoleState::Hold)
            .collect();
        if held.is_empty() {
            return Err(LifecycleError::WrongState(format!(
                "service {} has no roles on hold",
                self.id
            )));
        }
        let mut effects = Vec::new();
        for i in held {
            // Parents first with straight: a child waits for them.
            let parents_ok = self.template.deployment == Deployment::None
                || self.spec(i).parents.iter().all(|p| {
                    self.role(p)
                        .is_some_and(|r| matches!(r.state, RoleState::Running | RoleState::Hold))
                });
            if !parents_ok {
                continue;
            }
            self.roles[i].on_hold = false;
            self.set_role_state(i, RoleState::Deploying, now);
            for n in &self.roles[i].nodes {
                if let Some(vm_id) = &n.vm_id {
                    effects.push(Effect::Act(VmAct::lifecycle(vm_id.clone(), "release")));
                }
            }
        }
        self.template.on_hold = false;
        self.set_state(ServiceState::Deploying, now);
        self.deadline_ms = Some(now + self.wait_ms);
        Ok(effects)
    }

    /// Recover a failed service: FAILED_DEPLOYING and FAILED_SCALING replace
    /// failed VMs and create the missing ones; FAILED_UNDEPLOYING retries
    /// with terminate-hard; COOLDOWN ends the cooldown.
    pub fn recover(&mut self, now: u64) -> Result<Vec<Effect>, LifecycleError> {
        let mut effects = Vec::new();
        match self.state {
            ServiceState::FailedDeploying
            | ServiceState::FailedScaling
            | ServiceState::Deploying
            | ServiceState::Scaling => {
                let scaling = matches!(
                    self.state,
                    ServiceState::FailedScaling | ServiceState::Scaling
                );
                for i in 0..self.roles.len() {
                    if !matches!(
                        self.roles[i].state,
                        RoleState::FailedDeploying
                            | RoleState::FailedScaling
                            | RoleState::Deploying
                            | RoleState::Scaling
                    ) {
                        continue;
                    }
                    // Failed or never-created VMs are replaced, not resumed.
                    let role = self.roles[i].name.clone();
                    for n in self.roles[i].nodes.iter_mut() {
                        let failed = matches!(n.vm_state, Some(VmState::Failed | VmState::Unknown));
                        if failed || (n.vm_id.is_none() && n.reason.is_some()) {
                            effects.extend(n.terminate("terminate-hard"));
                        }
                    }
                    self.info(now, format!("Role {role}: recovering"));
                    self.set_role_state(
                        i,
                        if scaling {
                            RoleState::Scaling
                        } else {
                            RoleState::Deploying
                        },
                        now,
                    );
                    effects.extend(self.grow(i, false));
                }
                self.set_state(
                    if scaling {
                        ServiceState::Scaling
                    } else {
                        ServiceState::Deploying
                    },
                    now,
                );
                self.deadline_ms = Some(now + self.wait_ms);
            }
            ServiceState::FailedUndeploying | ServiceState::Undeploying => {
                for i in 0..self.roles.len() {
                    if self.roles[i].state == RoleState::FailedUndeploying {
                        self.roles[i].state = RoleState::Running;
                    }
                }
                self.set_state(ServiceState::Undeploying, now);
                self.deadline_ms = Some(now + self.wait_ms);
                effects.extend(self.shutdown_next(now, true));
            }
            ServiceState::Cooldown => self.end_cooldown(now),
            other => {
                return Err(LifecycleError::WrongState(format!(
                    "service {} cannot be recovered in state {other}",
                    self.id
                )));
            }
        }
        Ok(effects)
    }
}

impl Service {
    /// Actions whose batch is due now.
    fn due_actions(&mut self, now: u64) -> Vec<Effect> {
        let (due, later): (Vec<ScheduledAction>, Vec<ScheduledAction>) =
            std::mem::take(&mut self.scheduled_actions)
                .into_iter()
                .partition(|a| a.due_ms <= now);
        self.scheduled_actions = later;
        due.into_iter()
            .map(|a| {
                Effect::Act(VmAct {
                    vm_id: a.vm_id,
                    action: a.action,
                    args: a.args,
                    requested: true,
                })
            })
            .collect()
    }

    /// Apply a VM action to every VM of a role, `number` VMs at a time,
    /// `period` seconds apart (both 0: all at once).
    pub fn role_action(
        &mut self,
        role: &str,
        request: &VmActionRequest,
        now: u64,
    ) -> Result<Vec<Effect>, LifecycleError> {
        let i = self.role_index(role).ok_or_else(|| {
            LifecycleError::NotFound(format!("role `{role}` is not in service {}", self.id))
        })?;
        self.batch_action(&[i], request, now)
    }

    /// A VM action on every role, batched per role as `role_action` does,
    /// under one scheduled-action id.
    pub fn service_action(
        &mut self,
        request: &VmActionRequest,
        now: u64,
    ) -> Result<Vec<Effect>, LifecycleError> {
        let all: Vec<usize> = (0..self.roles.len()).collect();
        self.batch_action(&all, request, now)
    }

    fn batch_action(
        &mut self,
        roles: &[usize],
        request: &VmActionRequest,
        now: u64,
    ) -> Result<Vec<Effect>, LifecycleError> {
        let VmActionRequest {
            action,
            args,
            period_s,
            number,
        } = request;
        let (period_s, number) = (*period_s, *number);
        if !VM_ACTIONS.contains(&action.as_str()) {
            return Err(LifecycleError::Invalid(format!(
                "action: `{action}` is not a VM action ({})",
                VM_ACTIONS.join(", ")
            )));
        }
        if period_s > MAX_ACTION_PERIOD_S {
            return Err(LifecycleError::Invalid(format!(
                "params.period: {period_s} s is more than a year ({MAX_ACTION_PERIOD_S} s)"
            )));
        }
        if number > MAX_ACTION_NUMBER {
            return Err(LifecycleError::Invalid(format!(
                "params.number: {number} is more than {MAX_ACTION_NUMBER} VMs a batch"
            )));
        }
        if !matches!(
            self.state,
            ServiceState::Running | ServiceState::Warning | ServiceState::Hold
        ) {
            return Err(self.refuse("a VM action", "RUNNING, WARNING or HOLD", now));
        }
        let sched_id = self.next_sched_id;
        self.next_sched_id += 1;
        for &i in roles {
            let role = self.roles[i].name.clone();
            let vm_ids: Vec<String> = self.roles[i]
                .nodes
                .iter()
                .filter_map(|n| n.vm_id.clone())
                .collect();
            let per_batch = if number == 0 || period_s == 0 {
                vm_ids.len().max(1)
            } else {
                number as usize
            };
            self.info(
                now,
                format!(
                    "Role {role}: {action} on {} VMs, {per_batch} every {period_s} s (scheduled action {sched_id})",
                    vm_ids.len()
                ),
            );
            for (k, vm_id) in vm_ids.into_iter().enumerate() {
                let offset_ms = ((k / per_batch) as u64)
                    .saturating_mul(period_s)
                    .saturating_mul(1000);
                self.scheduled_actions.push(ScheduledAction {
                    id: sched_id,
                    role: role.clone(),
                    vm_id,
                    action: action.clone(),
                    args: args.clone(),
                    due_ms: now.saturating_add(offset_ms),
                });
            }
        }
        Ok(self.due_actions(now))
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

    /// Cancel the VM actions of a batched action that are not yet due,
    /// in one role or in all. An id with nothing pending is not an error
    /// (as in OneFlow): the action may just have run.
    pub fn delete_sched_action(
        &mut self,
        role: Option<&str>,
        sched_id: u64,
        now: u64,
    ) -> Result<(), LifecycleError> {
        if let Some(role) = role
            && self.role_index(role).is_none()
        {
            return Err(LifecycleError::NotFound(format!(
                "role `{role}` is not in service {}",
                self.id
            )));
        }
        let before = self.scheduled_actions.len();
        self.scheduled_actions
            .retain(|a| a.id != sched_id || role.is_some_and(|r| r != a.role));
        let cancelled = before - self.scheduled_actions.len();
        if cancelled > 0 {
            self.info(
                now,
                format!("Scheduled action {sched_id}: {cancelled} pending VM actions cancelled"),
            );
        }
        Ok(())
    }

    /// Add a role to a running service (`add_role`).
    pub fn add_role(
        &mut self,
        role: super::model::Role,
        now: u64,
    ) -> Result<Vec<Effect>, LifecycleError> {
        if self.state != ServiceState::Running {
            return Err(self.refuse("add-role", "RUNNING", now));
        }
        let mut candidate = self.template.clone();
        candidate.roles.push(role.clone());
        let document =
            serde_json::to_value(&candidate).map_err(|e| LifecycleError::Invalid(e.to_string()))?;
        super::validate::parse_template(&document).map_err(|errors| {
            LifecycleError::Invalid(
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        self.template.roles.push(role.clone());
        self.roles.push(RoleRuntime {
            name: role.name.clone(),
            state: RoleState::Pending,
            cardinality: role.cardinality,
            last_vmname: 0,
            nodes: Vec::new(),
            on_hold: false,
            scale_way: None,
        });
        self.info(now, format!("Role {} added", role.name));
        self.set_state(ServiceState::Deploying, now);
        self.deadline_ms = Some(now + self.wait_ms);
        Ok(self.deploy_next(now))
    }

    /// Remove a role from a running service (`remove_role`): its VMs are
    /// terminated, then it leaves the service.
    pub fn remove_role(&mut self, role: &str, now: u64) -> Result<Vec<Effect>, LifecycleError> {
        if self.state != ServiceState::Running {
            return Err(self.refuse("remove-role", "RUNNING", now));
        }
        let i = self.role_index(role).ok_or_else(|| {
            LifecycleError::NotFound(format!("role `{role}` is not in service {}", self.id))
        })?;
        if let Some(child) = self
            .template
            .roles
            .iter()
            .find(|r| r.parents.iter().any(|p| p == role))
        {
            return Err(LifecycleError::Invalid(format!(
                "role: `{role}` is a parent of `{}`; remove the child first",
                child.name
            )));
        }
        self.removing_role = Some(role.to_string());
        self.set_role_state(i, RoleState::Undeploying, now);
        self.set_state(ServiceState::Undeploying, now);
        self.deadline_ms = Some(now + self.wait_ms);
        let action = self.shutdown_action(i);
        let mut effects = Vec::new();
        for n in self.roles[i].nodes.iter_mut() {
            effects.extend(n.terminate(action));
        }
        Ok(effects)
    }

    /// Replace the service's template (`PUT /service/:id`), refusing
    /// changes to what cannot change on a live service.
    pub fn update(
        &mut self,
        new: super::model::ServiceTemplate,
        now: u64,
    ) -> Result<(), LifecycleError> {
        if !self.state.can_update() {
            return Err(self.refuse("update", "a state with nothing in progress", now));
        }
        let mut refused = Vec::new();
        let old = &self.template;
        let service_fields: [(&str, bool); 7] = [
            ("name", old.name == new.name),
            ("deployment", old.deployment == new.deployment),
            ("user_inputs", old.user_inputs == new.user_inputs),
            (
                "user_inputs_values",
                old.user_inputs_values == new.user_inputs_values,
            ),
            ("networks", old.networks == new.networks),
            (
                "networks_values",
                old.networks_values == new.networks_values,
            ),
            (
                "ready_status_gate",
                old.ready_status_gate == new.ready_status_gate,
            ),
        ];
        for (field, same) in service_fields {
            if !same {
                let hint = if field == "name" { " (use rename)" } else { "" };
                refused.push(format!("{field}: cannot change on a live service{hint}"));
            }
        }
        if new.roles.len() != old.roles.len() {
            refused.push(
                "roles: update cannot add or remove roles (use add-role / remove-role)".to_string(),
            );
        }
        for (i, role) in new.roles.iter().enumerate() {
            let Some((runtime, current)) = self
                .roles
                .iter()
                .zip(&old.roles)
                .find(|(_, r)| r.name == role.name)
            else {
                refused.push(format!(
                    "roles[{i}].name: `{}` is not a role of this service",
                    role.name
                ));
                continue;
            };
            if role.cardinality != runtime.cardinality {
                refused.push(format!(
                    "roles[{i}].cardinality: cannot change by update (use scale)"
                ));
            }
            if role.parents != current.parents {
                refused.push(format!(
                    "roles[{i}].parents: cannot change on a live service"
                ));
            }
            if role.template_id != current.template_id {
                refused.push(format!(
                    "roles[{i}].template_id: cannot change on a live service"
                ));
            }
        }
        if !refused.is_empty() {
            return Err(LifecycleError::Invalid(refused.join("; ")));
        }
        // The template's roles follow the runtime roles' order, whatever
        // order the update listed them in.
        let mut new = new;
        new.roles
            .sort_by_key(|r| self.role_index(&r.name).unwrap_or(usize::MAX));
        self.template = new;
        self.info(now, "Service template updated");
        Ok(())
    }

    pub fn rename(&mut self, name: &str, now: u64) -> Result<(), LifecycleError> {
        let name = name.trim();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(LifecycleError::Invalid(
                "name: must be non-empty, without control characters".into(),
            ));
        }
        self.info(now, format!("Renamed from {} to {name}", self.name));
        self.name = name.to_string();
        Ok(())
    }
}

/// The actions a role action may apply (OneFlow's names).
pub const VM_ACTIONS: [&str; 19] = [
    "terminate",
    "terminate-hard",
    "undeploy",
    "undeploy-hard",
    "hold",
    "release",
    "stop",
    "suspend",
    "resume",
    "reboot",
    "reboot-hard",
    "poweroff",
    "poweroff-hard",
    "snapshot-create",
    "snapshot-revert",
    "snapshot-delete",
    "disk-snapshot-create",
    "disk-snapshot-revert",
    "disk-snapshot-delete",
];

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
