//! The records of the WIT contracts (`wit/`), field for field.

use crate::{VmAction, VmState};
use serde::{Deserialize, Serialize};

/// What a plugin call can fail with (`flotilla:types/error`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "message")]
pub enum PluginError {
    InvalidInput(String),
    NotFound(String),
    Unsupported(String),
    Unavailable(String),
    Denied(String),
    Other(String),
}

impl PluginError {
    pub fn message(&self) -> &str {
        match self {
            PluginError::InvalidInput(m)
            | PluginError::NotFound(m)
            | PluginError::Unsupported(m)
            | PluginError::Unavailable(m)
            | PluginError::Denied(m)
            | PluginError::Other(m) => m,
        }
    }

    /// The kind as the contract spells it (`not-found`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::InvalidInput(_) => "invalid-input",
            PluginError::NotFound(_) => "not-found",
            PluginError::Unsupported(_) => "unsupported",
            PluginError::Unavailable(_) => "unavailable",
            PluginError::Denied(_) => "denied",
            PluginError::Other(_) => "other",
        }
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginError::InvalidInput(m) => write!(f, "invalid input: {m}"),
            PluginError::NotFound(m) => write!(f, "not found: {m}"),
            PluginError::Unsupported(m) => write!(f, "unsupported: {m}"),
            PluginError::Unavailable(m) => write!(f, "unavailable: {m}"),
            PluginError::Denied(m) => write!(f, "denied: {m}"),
            PluginError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PluginError {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
}

impl PluginInfo {
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        PluginInfo {
            name: name.to_string(),
            version: version.to_string(),
            description: description.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Look a key up in a list of key-value pairs, case-insensitively, as
/// OpenNebula attribute names are.
pub fn lookup<'a>(pairs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|kv| kv.key.eq_ignore_ascii_case(key))
        .map(|kv| kv.value.as_str())
}

/// Whether a VM's attributes say `READY=YES` (what `ready_status_gate`
/// waits for), however the VM reported it.
pub fn says_ready(pairs: &[KeyValue]) -> bool {
    lookup(pairs, "READY").is_some_and(|v| v.trim().eq_ignore_ascii_case("YES"))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
}

impl Metric {
    pub fn new(name: impl Into<String>, value: f64) -> Self {
        Metric {
            name: name.into(),
            value,
        }
    }
}

// ---- flotilla:driver ----

/// A VM to create (`flotilla:driver/vm-spec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmSpec {
    /// Creates are idempotent on this id: a retry after a crash returns the
    /// VM the first call made.
    pub operation_id: String,
    pub service_id: u64,
    pub role_name: String,
    pub vm_name: String,
    /// The merged VM template, as JSON.
    pub template: String,
    pub hold: bool,
}

/// One VM as a poll reports it: its state, the monitoring values the
/// hypervisor measured and the attributes the VM itself reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmStatus {
    pub id: String,
    pub state: VmState,
    pub monitoring: Vec<Metric>,
    pub user_attributes: Vec<KeyValue>,
    pub reason: Option<String>,
}

/// A VM the driver manages, for reconciliation after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedVm {
    pub id: String,
    pub operation_id: String,
    pub name: String,
    pub service_id: u64,
    pub role_name: String,
    pub state: VmState,
}

/// An action on one VM with its named arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmActRequest {
    pub vm_id: String,
    pub action: VmAction,
    pub args: Vec<KeyValue>,
}

// ---- flotilla:driver/hosts ----

/// A host of the fleet as a driver is asked about it
/// (`flotilla:driver/hosts.host`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostProbe {
    /// The host's name in Flotilla (`HOST.NAME` in a VM's template).
    pub name: String,
    /// How the driver reaches it: a libvirt URI, a simulated hypervisor's
    /// host name (`HOST.ADDRESS`).
    pub address: String,
}

impl HostProbe {
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        HostProbe {
            name: name.into(),
            address: address.into(),
        }
    }
}

/// What a host's hypervisor reports about it
/// (`flotilla:driver/hosts.host-monitoring`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostMonitoring {
    /// Its CPUs (OpenNebula's CPU share: 1.0 is one CPU).
    pub cpu: f64,
    /// Its memory, in MiB.
    pub memory_mb: u64,
    /// The CPU in use, as its hypervisor measures it.
    pub used_cpu: f64,
    /// The memory in use, in MiB.
    pub used_memory_mb: u64,
    /// The VMs on the host, by the ids the driver's `create` returned.
    pub vm_ids: Vec<String>,
}

// ---- flotilla:elasticity ----

/// The role a policy decides for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleView {
    pub service_id: u64,
    pub role_name: String,
    pub cardinality: u32,
    pub min_vms: u32,
    pub max_vms: u32,
    pub cooldown: u32,
}

/// One VM's values, as a policy sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmSample {
    pub vm_id: String,
    pub values: Vec<Metric>,
}

/// What a policy evaluates: the role, its parameters, its VMs' values, the
/// time, and the state the policy returned last time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub role: RoleView,
    pub params: Vec<KeyValue>,
    pub vms: Vec<VmSample>,
    pub now: u64,
    pub state: Option<String>,
}

/// A policy's answer: the cardinality it wants (none: leave it), why, and
/// the state to hand back next time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub desired: Option<u32>,
    pub reason: String,
    pub trace: String,
    pub cooldown: Option<u32>,
    pub state: Option<String>,
}

// ---- flotilla:network ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum NetworkSource {
    Existing(String),
    ReserveFrom(String),
    FromTemplate(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRequest {
    pub operation_id: String,
    pub service_id: u64,
    pub name: String,
    pub source: NetworkSource,
    pub extra: String,
}

/// One of Flotilla's own networks, as a network mode sees it
/// (`flotilla:network/registry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VnetInfo {
    pub id: String,
    pub name: String,
    pub ranges: Vec<VnetRange>,
    pub leased: u32,
    pub attributes: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VnetRange {
    pub ip: String,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkLease {
    pub network_id: String,
    pub name: String,
    pub created: bool,
    pub ready: bool,
    pub attributes: Vec<KeyValue>,
}

// ---- flotilla:network/plumbing ----

/// A network as a plumbing plugin sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub network_id: String,
    /// The network's attributes (`BRIDGE`, `VLAN_ID`, `PHYDEV`, …).
    pub attributes: Vec<KeyValue>,
}

/// One NIC of one VM on a segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Port {
    /// A short key of the NIC, unique among the host's NICs and stable
    /// across retries (`[0-9a-f]`, at most 10 characters).
    pub key: String,
    pub network_id: String,
    pub mac: String,
}

// ---- flotilla:host/link ----

/// A VXLAN tunnel endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vxlan {
    /// 1 to 16777215.
    pub vni: u32,
    /// The underlay interface the tunnel runs over.
    pub underlay: String,
    /// The multicast group that floods the segment.
    pub group: Option<String>,
    /// The UDP port (4789 is IANA's).
    pub port: u16,
    /// None keeps the kernel's.
    pub mtu: Option<u32>,
}

/// What a network device is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum DeviceKind {
    Bridge,
    Tap,
    Vxlan(Vxlan),
    /// Listed, never made: the kernel's name of its kind.
    Other(String),
}

impl DeviceKind {
    /// `bridge`, `tap`, `vxlan`, or the other kind's own name.
    pub fn name(&self) -> &str {
        match self {
            DeviceKind::Bridge => "bridge",
            DeviceKind::Tap => "tap",
            DeviceKind::Vxlan(_) => "vxlan",
            DeviceKind::Other(kind) => kind,
        }
    }
}

/// A network device on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub name: String,
    pub kind: DeviceKind,
    /// The bridge it is a port of.
    pub master: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// `10.0.0.1/24`.
    pub addresses: Vec<String>,
}

impl Evaluation {
    /// A policy parameter from the service template, case-insensitively.
    pub fn param(&self, key: &str) -> Option<&str> {
        lookup(&self.params, key)
    }

    /// The average of `name` over the VMs that report it (finite values
    /// only), rounded to two decimals as OneFlow rounds it; `None` when no
    /// VM does.
    pub fn average(&self, name: &str) -> Option<f64> {
        let values: Vec<f64> = self
            .vms
            .iter()
            .filter_map(|vm| vm.value(name))
            .filter(|v| v.is_finite())
            .collect();
        if values.is_empty() {
            return None;
        }
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        Some((mean * 100.0).round() / 100.0)
    }
}

impl VmSample {
    /// One of the VM's values by name, case-insensitively.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.values
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
            .map(|m| m.value)
    }
}

impl Recommendation {
    /// No change, with the reason for the service log.
    pub fn keep(reason: impl Into<String>) -> Self {
        Recommendation {
            desired: None,
            reason: reason.into(),
            trace: String::new(),
            cooldown: None,
            state: None,
        }
    }

    /// Scale the role to `desired` VMs.
    pub fn scale_to(desired: u32, reason: impl Into<String>) -> Self {
        Recommendation {
            desired: Some(desired),
            ..Recommendation::keep(reason)
        }
    }

    pub fn with_trace(mut self, trace: impl Into<String>) -> Self {
        self.trace = trace.into();
        self
    }
}
