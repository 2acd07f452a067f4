//! Deploying and watching a service: start, creating the VMs of the roles
//! whose turn it is, the driver's answers to creates, poll results and
//! what they move on (roles up, roles gone, deadlines, the watchdog,
//! automatic deletion).

use super::{CreateVm, Effect, Node, Observed, Service, VmState};
use crate::service::model::Deployment;
use crate::service::state::{RoleState, ServiceState};
use crate::service::strategy::roles_to_deploy;
use flotilla_model::BackendError;

impl Service {
    /// Start deploying: PENDING → DEPLOYING_NETS when the service has
    /// networks of its own, else DEPLOYING (or HOLD).
    pub fn start(&mut self, now: u64) -> Vec<Effect> {
        if self.networks.is_empty() {
            self.start_roles(now)
        } else {
            self.deploy_networks(now)
        }
    }

    /// The networks are ready (or there are none): deploy the roles.
    pub(super) fn start_roles(&mut self, now: u64) -> Vec<Effect> {
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
    pub(super) fn deploy_next(&mut self, now: u64) -> Vec<Effect> {
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
    pub(super) fn grow(&mut self, i: usize, hold: bool) -> Vec<Effect> {
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
                name: crate::service::merge::vm_name(&role.name, number, id),
                vm_id: None,
                vm_state: None,
                ready: false,
                terminating: false,
                reason: None,
                running_since_ms: None,
                placement: None,
                unplaced: false,
                values: Default::default(),
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

    /// The driver created a VM, or refused to or broke: either way the VM
    /// is not there and its role fails, naming why.
    pub fn observe_created(
        &mut self,
        create: &CreateVm,
        result: Result<String, BackendError>,
        now: u64,
    ) {
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
                node.reason = Some(reason.to_string());
                let name = node.name.clone();
                self.error(
                    now,
                    format!("Role {role}: creating VM {name} failed: {reason}"),
                );
                self.fail_role(i, now);
            }
        }
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
            node.values = o.values.clone();
            node.values.at_ms = now;
            if node.vm_state == Some(o.state) {
                continue;
            }
            node.vm_state = Some(o.state);
            node.running_since_ms = (o.state == VmState::Running).then_some(now);
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
                            // The role's cooldown counts from here and holds
                            // back only its own automatic scaling: the
                            // service is RUNNING again at once (OneFlow's
                            // service-wide COOLDOWN held every role and
                            // every user action).
                            self.roles[i].scale_way = None;
                            self.roles[i].autoscale.settled_ms = Some(now);
                            self.set_role_state(i, RoleState::Running, now);
                            // A recover may replace VMs of several roles
                            // at once: RUNNING when the last is done.
                            if self.roles.iter().any(|r| r.state == RoleState::Scaling) {
                                continue;
                            }
                            self.set_state(ServiceState::Running, now);
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
                    let removed = self.roles.remove(i);
                    self.removed_roles.insert(name.clone(), removed.last_vmname);
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
                    effects.extend(self.undeploy_networks(now));
                    return effects;
                }
                effects.extend(self.shutdown_next(now, false));
                self.check_deadline(now);
            }
            ServiceState::Cooldown if self.cooldown_until_ms.is_some_and(|t| now >= t) => {
                self.end_cooldown(now)
            }
            ServiceState::Running | ServiceState::Warning => effects.extend(self.watchdog(now)),
            ServiceState::DeployingNets | ServiceState::UndeployingNets => {
                effects.extend(self.advance_networks(now))
            }
            _ => {}
        }
        effects
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
}
