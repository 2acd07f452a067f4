//! Where a service's VMs run: the hosts the engine placed them on, the
//! VMs no host could take yet, and replacing the VMs of a host that was
//! lost. The choice itself is the fleet's (`crate::fleet`); this records
//! it with the node before the create, so a crash never leaves a VM whose
//! host nobody booked.

use super::{CreateVm, Effect, Placement, Service, VmAction, VmState};
use crate::service::state::{RoleState, ServiceState};

impl Service {
    fn node_of(&mut self, create: &CreateVm) -> Option<&mut super::Node> {
        let i = self.role_index(&create.role)?;
        self.roles[i]
            .nodes
            .iter_mut()
            .find(|n| n.operation_id == create.operation_id)
    }

    /// Where `create`'s VM was placed, if it was.
    pub fn placement_of(&self, create: &CreateVm) -> Option<&Placement> {
        let i = self.role_index(&create.role)?;
        self.roles[i]
            .nodes
            .iter()
            .find(|n| n.operation_id == create.operation_id)?
            .placement
            .as_ref()
    }

    /// The engine placed `create` on a host: recorded before the driver
    /// is asked, and counted in the host's books from here.
    pub fn placed(&mut self, create: &CreateVm, placement: Placement) {
        if let Some(node) = self.node_of(create) {
            node.placement = Some(placement);
            node.unplaced = false;
            node.reason = None;
        }
    }

    /// No host could take `create`: the node waits (its create is tried
    /// again every round) with the reason, which the log gets once.
    pub fn observe_unplaced(&mut self, create: &CreateVm, reason: String, now: u64) {
        let Some(node) = self.node_of(create) else {
            return;
        };
        node.unplaced = true;
        node.placement = None;
        if node.reason.as_deref() == Some(reason.as_str()) {
            return;
        }
        node.reason = Some(reason.clone());
        let name = node.name.clone();
        self.error(
            now,
            format!("Role {}: VM {name} waits for a host: {reason}", create.role),
        );
    }

    /// The live VMs placed on `host`, as `(role, vm id)`.
    pub fn vms_on(&self, host: &str) -> Vec<(String, Option<String>)> {
        self.roles
            .iter()
            .flat_map(|r| {
                r.nodes
                    .iter()
                    .filter(|n| {
                        !n.terminating && n.placement.as_ref().is_some_and(|p| p.host == host)
                    })
                    .map(|n| (r.name.clone(), n.vm_id.clone()))
            })
            .collect()
    }

    /// The host `host` is lost: its VMs are replaced on others (OpenNebula's
    /// host-error hook recreates them). Each is terminated (the engine
    /// keeps the terminate for when the host answers again) and a new VM
    /// takes its place, so a VM is replaced once: its node is terminating
    /// from here. Only a service that runs (RUNNING or WARNING) is changed;
    /// one that is deploying, scaling or going away carries on and its
    /// lost VMs go UNKNOWN like any other.
    pub fn replace_lost(&mut self, host: &str, now: u64) -> Vec<Effect> {
        if !matches!(self.state, ServiceState::Running | ServiceState::Warning) {
            return Vec::new();
        }
        let mut effects = Vec::new();
        for i in 0..self.roles.len() {
            let lost = |n: &super::Node| {
                !n.terminating && n.placement.as_ref().is_some_and(|p| p.host == host)
            };
            if !self.roles[i].nodes.iter().any(lost) {
                continue;
            }
            let role = self.roles[i].name.clone();
            let mut replaced = 0;
            for n in self.roles[i].nodes.iter_mut().filter(|n| lost(n)) {
                n.vm_state = Some(VmState::Unknown);
                n.reason = Some(format!("host {host} was lost"));
                replaced += 1;
                match n.terminate(VmAction::TerminateHard) {
                    Some(effect) => effects.push(effect),
                    // Never created: nothing to terminate, it just goes.
                    None => n.vm_state = Some(VmState::Done),
                }
            }
            self.info(
                now,
                format!("Role {role}: replacing {replaced} VM(s) of lost host {host}"),
            );
            self.roles[i].scale_way = Some(super::ScaleWay::Up);
            self.set_role_state(i, RoleState::Scaling, now);
            effects.extend(self.grow(i, false));
        }
        if !effects.is_empty() {
            self.set_state(ServiceState::Scaling, now);
            self.deadline_ms = Some(now + self.wait_ms);
        }
        effects
    }
}
