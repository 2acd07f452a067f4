//! Service templates and roles, with every attribute of OneFlow's schema.
//! Unknown keys are kept (`extra`), as OneFlow keeps them, so clients that
//! store their own annotations do not lose them.

use super::policy::{ElasticityPolicy, ScheduledPolicy};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deployment {
    /// Every role at once.
    #[default]
    None,
    /// Roles in parent order: a role starts when all its parents run.
    Straight,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShutdownAction {
    Terminate,
    TerminateHard,
    /// Legacy names OneFlow accepts; both act as a soft terminate there,
    /// and `shutdown-hard` as a hard one here (see docs/compatibility.md).
    Shutdown,
    ShutdownHard,
}

impl ShutdownAction {
    pub fn is_hard(&self) -> bool {
        matches!(
            self,
            ShutdownAction::TerminateHard | ShutdownAction::ShutdownHard
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleType {
    Vm,
    Vr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: RoleType,
    #[serde(default)]
    pub cardinality: u32,
    pub template_id: u64,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub template_contents: Map<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_inputs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub user_inputs_values: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_action: Option<ShutdownAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_vms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<u32>,
    /// Seconds after the role's last scale before a policy may scale it
    /// out, or in; each falls back to `cooldown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_out: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_in: Option<u32>,
    /// A policy scales the role in no lower than the highest cardinality
    /// its policies recommended over this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_in_stabilization: Option<u32>,
    /// Seconds a new VM runs before its values count in the role's averages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<u32>,
    #[serde(default)]
    pub on_hold: bool,
    /// Its VMs kept on one host, or each on a host of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<crate::fleet::GroupPolicy>,
    /// Read once (at validation, or when the service is read back), written
    /// back as the same attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elasticity_policies: Vec<ElasticityPolicy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduled_policies: Vec<ScheduledPolicy>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceTemplate {
    pub name: String,
    #[serde(default)]
    pub deployment: Deployment,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_action: Option<ShutdownAction>,
    pub roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_inputs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub user_inputs_values: Map<String, Value>,
    #[serde(default)]
    pub ready_status_gate: bool,
    #[serde(default)]
    pub automatic_deletion: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks_values: Vec<Map<String, Value>>,
    #[serde(default)]
    pub on_hold: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ServiceTemplate {
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }
}
