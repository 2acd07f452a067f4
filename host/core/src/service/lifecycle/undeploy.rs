//! Taking VMs away: undeploying the whole service in reverse dependency
//! order, and removing one role.

use super::{Effect, LifecycleError, Service, VmAction, VmState};
use crate::service::model::ShutdownAction;
use crate::service::state::{RoleState, ServiceState};
use crate::service::strategy::roles_to_shutdown;

impl Service {
    pub(super) fn shutdown_action(&self, i: usize) -> VmAction {
        let action = self
            .spec(i)
            .shutdown_action
            .or(self.template.shutdown_action);
        if action.is_some_and(|a: ShutdownAction| a.is_hard()) {
            VmAction::TerminateHard
        } else {
            VmAction::Terminate
        }
    }

    /// Terminate the roles whose turn it is (children first with
    /// `straight`).
    pub(super) fn shutdown_next(&mut self, now: u64, hard: bool) -> Vec<Effect> {
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
                VmAction::TerminateHard
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
}
