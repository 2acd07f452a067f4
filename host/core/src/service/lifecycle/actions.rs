//! Users' VM actions on roles and services, batched and scheduled, and
//! the outbox of VM actions sent but not yet answered.

use super::{
    Effect, LifecycleError, MAX_ACTION_NUMBER, MAX_ACTION_PERIOD_S, ScheduledAction, Service,
    VmAct, VmAction, VmActionRequest,
};
use crate::service::state::ServiceState;
use flotilla_model::BackendError;

impl Service {
    /// Record the VM actions among `effects` in the outbox: the caller
    /// writes the service, then sends them, then reports each answer with
    /// [`Service::observe_acted`].
    pub fn record(&mut self, effects: &[Effect]) {
        self.outbox.extend(effects.iter().filter_map(|e| match e {
            Effect::Act(act) => Some(act.clone()),
            Effect::Create(_) | Effect::Network(_) => None,
        }));
    }

    /// The driver answered a VM action. A soft terminate it refused falls
    /// back to a hard one; an action a user asked for that the VM refused
    /// is noted on the VM and in the log, and the service carries on (as
    /// in OneFlow); a refused action of the life cycle fails the role.
    pub fn observe_acted(
        &mut self,
        act: &VmAct,
        result: Result<(), BackendError>,
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
        let (role, vm_id, action) = (self.roles[i].name.clone(), &act.vm_id, act.action);
        if action == VmAction::Terminate {
            self.error(
                now,
                format!(
                    "Role {role}: terminate of VM {vm_id} failed ({reason}); trying terminate-hard"
                ),
            );
            let hard = VmAct {
                action: VmAction::TerminateHard,
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

    /// Actions whose batch is due now.
    pub(super) fn due_actions(&mut self, now: u64) -> Vec<Effect> {
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
        let (action, period_s, number) = (*action, *period_s, *number);
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
                    action,
                    args: args.clone(),
                    due_ms: now.saturating_add(offset_ms),
                });
            }
        }
        Ok(self.due_actions(now))
    }

    /// A VM action on one VM of the service, at once (a VM asking through
    /// OneGate, as OpenNebula lets it act on itself and its siblings).
    /// Sent as a user's action: a refusal is noted on the VM and the
    /// service carries on.
    pub fn vm_action(
        &mut self,
        vm_id: &str,
        action: VmAction,
        args: Vec<(String, String)>,
        now: u64,
    ) -> Result<Vec<Effect>, LifecycleError> {
        let (i, _) = self
            .find_node(|n| n.vm_id.as_deref() == Some(vm_id) && !n.terminating)
            .ok_or_else(|| {
                LifecycleError::NotFound(format!("VM {vm_id} is not in service {}", self.id))
            })?;
        if !matches!(
            self.state,
            ServiceState::Running | ServiceState::Warning | ServiceState::Hold
        ) {
            return Err(self.refuse("a VM action", "RUNNING, WARNING or HOLD", now));
        }
        let role = self.roles[i].name.clone();
        self.info(now, format!("Role {role}: {action} on VM {vm_id}"));
        Ok(vec![Effect::Act(VmAct {
            vm_id: vm_id.to_string(),
            action,
            args,
            requested: true,
        })])
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
}
