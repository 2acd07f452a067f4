//! Scaling a role and its cooldown, releasing held roles, and recovering
//! a failed service.

use super::{Effect, LifecycleError, ScaleWay, Service, VmAct, VmAction, VmState};
use crate::service::model::{Deployment, RoleType};
use crate::service::state::{RoleState, ServiceState};

impl Service {
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
        if t.kind == RoleType::Vr {
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
        self.roles[i].autoscale.scaled();
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

    pub(super) fn end_cooldown(&mut self, now: u64) {
        self.cooldown_until_ms = None;
        for i in 0..self.roles.len() {
            if self.roles[i].state == RoleState::Cooldown {
                self.set_role_state(i, RoleState::Running, now);
            }
        }
        self.set_state(ServiceState::Running, now);
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
                    effects.push(Effect::Act(VmAct::lifecycle(
                        vm_id.clone(),
                        VmAction::Release,
                    )));
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
    /// `recover` of WARNING: the roles' FAILED and UNKNOWN VMs are
    /// terminated (hard) and replaced under new numbers, as a scale would
    /// (OneFlow refuses to recover a service in WARNING).
    fn replace_failed(&mut self, now: u64) -> Result<Vec<Effect>, LifecycleError> {
        let mut effects = Vec::new();
        for i in 0..self.roles.len() {
            let failed = |n: &super::Node| {
                !n.terminating && matches!(n.vm_state, Some(VmState::Failed | VmState::Unknown))
            };
            if !self.roles[i].nodes.iter().any(failed) {
                continue;
            }
            let role = self.roles[i].name.clone();
            for n in self.roles[i].nodes.iter_mut().filter(|n| failed(n)) {
                effects.extend(n.terminate(VmAction::TerminateHard));
            }
            self.info(now, format!("Role {role}: replacing its failed VMs"));
            self.roles[i].scale_way = Some(super::ScaleWay::Up);
            self.set_role_state(i, RoleState::Scaling, now);
            effects.extend(self.grow(i, false));
        }
        if effects.is_empty() {
            return Err(LifecycleError::WrongState(format!(
                "service {} is in WARNING but has no FAILED or UNKNOWN VM to replace (a powered-off VM is resumed with a VM action)",
                self.id
            )));
        }
        self.set_state(ServiceState::Scaling, now);
        self.deadline_ms = Some(now + self.wait_ms);
        Ok(effects)
    }

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
                            effects.extend(n.terminate(VmAction::TerminateHard));
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
            ServiceState::Warning => return self.replace_failed(now),
            ServiceState::FailedDeployingNets
            | ServiceState::DeployingNets
            | ServiceState::FailedUndeployingNets
            | ServiceState::UndeployingNets => return self.recover_networks(now),
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
