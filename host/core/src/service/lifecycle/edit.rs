//! Changing a live service's template: update, rename, add-role.

use super::{Effect, LifecycleError, RoleRuntime, Service};
use crate::service::model::{Role, ServiceTemplate};
use crate::service::state::{RoleState, ServiceState};
use crate::service::validate::parse_template;

impl Service {
    /// Add a role to a running service (`add_role`).
    pub fn add_role(&mut self, role: Role, now: u64) -> Result<Vec<Effect>, LifecycleError> {
        if self.state != ServiceState::Running {
            return Err(self.refuse("add-role", "RUNNING", now));
        }
        let mut candidate = self.template.clone();
        candidate.roles.push(role.clone());
        let document =
            serde_json::to_value(&candidate).map_err(|e| LifecycleError::Invalid(e.to_string()))?;
        parse_template(&document).map_err(|errors| {
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
            last_vmname: self.removed_roles.get(&role.name).copied().unwrap_or(0),
            nodes: Vec::new(),
            on_hold: false,
            scale_way: None,
            autoscale: Default::default(),
            vrouter: None,
        });
        self.info(now, format!("Role {} added", role.name));
        self.set_state(ServiceState::Deploying, now);
        self.deadline_ms = Some(now + self.wait_ms);
        Ok(self.deploy_next(now))
    }

    /// Replace the service's template (`PUT /service/:id`), refusing
    /// changes to what cannot change on a live service.
    pub fn update(&mut self, new: ServiceTemplate, now: u64) -> Result<(), LifecycleError> {
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
