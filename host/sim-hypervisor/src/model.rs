//! The simulated hypervisor's VMs, as a pure model: every method takes the
//! current time and the state of a VM is derived from what was stored and
//! the clock, so tests move time instead of sleeping.

use flotilla_model::VmAction;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub use hosts::{DEFAULT_VM_CPU, DEFAULT_VM_MEMORY_MB, Host, HostUsage, HostView, placement};
pub use load::LoadShape;
pub use onegate::{Delivery, OneGateReport, OneGateStatus, OneGateTotals, OneGateView, parse_push};

/// OpenNebula's VM states: the same set the lifecycle core uses.
pub use flotilla_model::VmState as State;

/// What was stored about a VM's life; the visible state is derived from it
/// and the clock by [`Vm::state_at`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    Hold,
    /// Booting until `until_ms`, then running (or failed, if injected).
    Booting {
        until_ms: u64,
    },
    Running {
        since_ms: u64,
    },
    Settled {
        state: State,
    },
}

/// How a VM behaves, read from its template attributes (all optional):
///
/// | attribute | effect |
/// |---|---|
/// | `SIM_BOOT_SECONDS` | boot time (default: the hypervisor's) |
/// | `SIM_FAIL` | `create` (refused), `boot` (FAILED after booting), `running` / `unknown` (FAILED / UNKNOWN `SIM_FAIL_AFTER` seconds after boot), `terminate` (soft terminate refused) |
/// | `SIM_FAIL_AFTER` | seconds, for `running` / `unknown` (default 0) |
/// | `SIM_READY` | `YES`: report `READY=YES` once running … |
/// | `SIM_READY_SECONDS` | … this many seconds after boot (default 0) |
/// | `SIM_LOAD` | CPU shape: `constant:V`, `sine:MIN:MAX:PERIOD`, `ramp:FROM:TO:SECONDS`, `step:BEFORE:AFTER:AT` |
/// | `SIM_ONEGATE` | `YES`: report through OneGate over HTTP (`PUT {ONEGATE_ENDPOINT}/vm` with `CONTEXT`'s `ONEGATE_ENDPOINT` and `ONEGATE_TOKEN`) instead of the poll's shortcut: `READY=YES` is then not in the poll's user attributes but sent to OneGate once running and `SIM_READY_SECONDS` passed |
/// | `SIM_ONEGATE_PUSH` | `K=V` pairs separated by `;` or newlines, sent in that first report (which happens even without `SIM_READY`) |
/// | `SIM_ONEGATE_REPORT_SECONDS` | seconds (> 0): report `REPORTS=<reports sent, this one included>` and `LOAD=<CPU now>` in the first report and again every this many seconds while RUNNING |
///
/// A `SIM_ONEGATE` VM without `ONEGATE_ENDPOINT` / `ONEGATE_TOKEN` in its
/// `CONTEXT` sends nothing and shows why in its view's `onegate.last_error`;
/// see [`onegate`] for the schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Behaviour {
    pub boot_ms: Option<u64>,
    pub fail: Option<Failure>,
    pub fail_after_ms: u64,
    pub ready: bool,
    pub ready_after_ms: u64,
    pub load: LoadShape,
    /// `SIM_ONEGATE=YES`
    #[serde(default)]
    pub onegate: bool,
    /// `SIM_ONEGATE_PUSH`, in order.
    #[serde(default)]
    pub onegate_push: Vec<(String, String)>,
    /// `SIM_ONEGATE_REPORT_SECONDS`
    #[serde(default)]
    pub onegate_report_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    Create,
    Boot,
    Running,
    Unknown,
    Terminate,
}

/// Template attributes are looked up case-insensitively, as strings or
/// numbers.
fn attr(template: &serde_json::Value, key: &str) -> Option<String> {
    let obj = template.as_object()?;
    let (_, v) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))?;
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A template attribute the simulated hypervisor cannot read: the VM is
/// refused with it (the driver's create answers `invalid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAttribute {
    pub attribute: &'static str,
    pub reason: String,
}

impl BadAttribute {
    fn new(attribute: &'static str, reason: impl Into<String>) -> BadAttribute {
        BadAttribute {
            attribute,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for BadAttribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.attribute, self.reason)
    }
}

fn seconds_attr(
    template: &serde_json::Value,
    key: &'static str,
) -> Result<Option<u64>, BadAttribute> {
    match attr(template, key) {
        None => Ok(None),
        Some(raw) => match raw.trim().parse::<f64>() {
            Ok(s) if s >= 0.0 && s.is_finite() => Ok(Some((s * 1000.0) as u64)),
            _ => Err(BadAttribute::new(
                key,
                format!("`{raw}` is not a number of seconds"),
            )),
        },
    }
}

impl Behaviour {
    pub fn from_template(template: &serde_json::Value) -> Result<Behaviour, BadAttribute> {
        let fail = match attr(template, "SIM_FAIL").map(|s| s.to_ascii_lowercase()) {
            None => None,
            Some(s) => Some(match s.as_str() {
                "create" => Failure::Create,
                "boot" => Failure::Boot,
                "running" => Failure::Running,
                "unknown" => Failure::Unknown,
                "terminate" => Failure::Terminate,
                "" | "no" | "none" => return Behaviour::from_template_without_fail(template),
                other => {
                    return Err(BadAttribute::new(
                        "SIM_FAIL",
                        format!(
                            "`{other}` is not one of create, boot, running, unknown, terminate"
                        ),
                    ));
                }
            }),
        };
        Ok(Behaviour {
            fail,
            ..Behaviour::from_template_without_fail(template)?
        })
    }

    fn from_template_without_fail(template: &serde_json::Value) -> Result<Behaviour, BadAttribute> {
        Ok(Behaviour {
            boot_ms: seconds_attr(template, "SIM_BOOT_SECONDS")?,
            fail: None,
            fail_after_ms: seconds_attr(template, "SIM_FAIL_AFTER")?.unwrap_or(0),
            ready: attr(template, "SIM_READY").is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            ready_after_ms: seconds_attr(template, "SIM_READY_SECONDS")?.unwrap_or(0),
            load: match attr(template, "SIM_LOAD") {
                Some(text) => LoadShape::parse(&text)
                    .map_err(|e| BadAttribute::new("SIM_LOAD", e.to_string()))?,
                None => LoadShape::default(),
            },
            onegate: attr(template, "SIM_ONEGATE").is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            onegate_push: match attr(template, "SIM_ONEGATE_PUSH") {
                Some(text) => parse_push(&text)?,
                None => Vec::new(),
            },
            onegate_report_ms: match seconds_attr(template, "SIM_ONEGATE_REPORT_SECONDS")? {
                Some(0) => {
                    return Err(BadAttribute::new(
                        "SIM_ONEGATE_REPORT_SECONDS",
                        "must be more than 0 seconds",
                    ));
                }
                other => other,
            },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vm {
    pub id: u64,
    pub operation_id: String,
    pub name: String,
    pub service_id: u64,
    pub role_name: String,
    pub template: serde_json::Value,
    pub behaviour: Behaviour,
    pub phase: Phase,
    pub created_ms: u64,
    /// Why the VM is where it is (a failed action, an injected failure).
    pub reason: Option<String>,
    /// Values set through the API; they override the load shape.
    #[serde(default)]
    pub monitoring: BTreeMap<String, f64>,
    #[serde(default)]
    pub user_attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub snapshots: Vec<String>,
    #[serde(default)]
    pub disk_snapshots: Vec<String>,
    /// OneGate reporting (`SIM_ONEGATE`); not stored: after a restart the
    /// VM reports again.
    #[serde(skip)]
    pub onegate: OneGateStatus,
    /// The host it runs on (its template's `HOST`); none for a VM
    /// created without one.
    #[serde(default)]
    pub host: Option<String>,
}

impl Vm {
    /// The state at `now`, with the reason when the VM failed.
    pub fn state_at(&self, now: u64) -> (State, Option<String>) {
        match &self.phase {
            Phase::Hold => (State::Hold, None),
            Phase::Booting { until_ms } if now < *until_ms => (State::Pending, None),
            Phase::Booting { until_ms } => {
                if self.behaviour.fail == Some(Failure::Boot) {
                    (State::Failed, Some("boot failure (SIM_FAIL=boot)".into()))
                } else {
                    self.running_state(*until_ms, now)
                }
            }
            Phase::Running { since_ms } => self.running_state(*since_ms, now),
            Phase::Settled { state } => (*state, self.reason.clone()),
        }
    }

    fn running_state(&self, since: u64, now: u64) -> (State, Option<String>) {
        let failed_at = since + self.behaviour.fail_after_ms;
        match self.behaviour.fail {
            Some(Failure::Running) if now >= failed_at => (
                State::Failed,
                Some("failed while running (SIM_FAIL=running)".into()),
            ),
            Some(Failure::Unknown) if now >= failed_at => (
                State::Unknown,
                Some("host unreachable (SIM_FAIL=unknown)".into()),
            ),
            _ => (State::Running, None),
        }
    }

    fn running_since(&self, now: u64) -> Option<u64> {
        match self.phase {
            Phase::Booting { until_ms } if now >= until_ms => Some(until_ms),
            Phase::Running { since_ms } => Some(since_ms),
            _ => None,
        }
    }

    /// The CPU the VM shows at `now`, running since `since`: a value set
    /// through the API, else the load shape.
    fn cpu_at(&self, since: u64, now: u64) -> f64 {
        match self.monitoring.get("CPU") {
            Some(v) => *v,
            None => self
                .behaviour
                .load
                .at(now.saturating_sub(since) as f64 / 1000.0),
        }
    }

    pub fn view(&self, now: u64) -> VmView {
        let (state, reason) = self.state_at(now);
        let mut monitoring = BTreeMap::new();
        let mut user_attributes = self.user_attributes.clone();
        if state == State::Running
            && let Some(since) = self.running_since(now)
        {
            let up_s = (now - since) as f64 / 1000.0;
            monitoring.insert("CPU".to_string(), self.cpu_at(since, now));
            let memory_mb = attr(&self.template, "MEMORY")
                .and_then(|m| m.parse::<f64>().ok())
                .unwrap_or(512.0);
            // OpenNebula reports MEMORY in KiB.
            monitoring.insert("MEMORY".to_string(), (memory_mb * 1024.0 * 0.6).round());
            monitoring.insert("NETRX".to_string(), (up_s * 1200.0).round());
            monitoring.insert("NETTX".to_string(), (up_s * 800.0).round());
            // A SIM_ONEGATE VM says READY=YES to OneGate, not here.
            if self.behaviour.ready
                && !self.behaviour.onegate
                && now >= since + self.behaviour.ready_after_ms
            {
                user_attributes
                    .entry("READY".to_string())
                    .or_insert_with(|| "YES".into());
            }
        }
        for (k, v) in &self.monitoring {
            monitoring.insert(k.clone(), *v);
        }
        VmView {
            id: self.id.to_string(),
            operation_id: self.operation_id.clone(),
            name: self.name.clone(),
            service_id: self.service_id,
            role_name: self.role_name.clone(),
            state,
            reason,
            monitoring,
            user_attributes,
            snapshots: self.snapshots.clone(),
            disk_snapshots: self.disk_snapshots.clone(),
            template: self.template.clone(),
            onegate: self.onegate_view(),
            host: self.host.clone(),
        }
    }
}

/// A VM as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmView {
    pub id: String,
    pub operation_id: String,
    pub name: String,
    pub service_id: u64,
    pub role_name: String,
    pub state: State,
    pub reason: Option<String>,
    pub monitoring: BTreeMap<String, f64>,
    pub user_attributes: BTreeMap<String, String>,
    pub snapshots: Vec<String>,
    pub disk_snapshots: Vec<String>,
    /// The template the VM was created with.
    pub template: serde_json::Value,
    /// OneGate reporting, for `SIM_ONEGATE` VMs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onegate: Option<OneGateView>,
    /// The host it runs on, for a VM placed on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// Bad input; the message names the field.
    Invalid(String),
    NotFound(String),
    /// The action does not apply in the VM's state.
    Conflict(String),
    /// The host a VM is on, or would go on, does not answer; trying again
    /// later may succeed.
    Unavailable(String),
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Invalid(m)
            | SimError::NotFound(m)
            | SimError::Conflict(m)
            | SimError::Unavailable(m) => f.write_str(m),
        }
    }
}

pub struct CreateRequest {
    pub operation_id: String,
    pub service_id: u64,
    pub role_name: String,
    pub name: String,
    pub template: serde_json::Value,
    pub hold: bool,
}

/// All VMs of the simulated hypervisor, and the hosts they run on.
#[derive(Debug, Default)]
pub struct Hypervisor {
    vms: BTreeMap<u64, Vm>,
    /// By name.
    hosts: BTreeMap<String, Host>,
    /// The VMs placed on each host (by its name), so a host's monitoring
    /// does not visit every VM.
    host_vms: HashMap<String, BTreeSet<u64>>,
    by_operation: HashMap<String, u64>,
    next_id: u64,
    /// The `SIM_ONEGATE` VMs, so a scan for reports does not visit the
    /// others.
    onegate_vms: BTreeSet<u64>,
    /// Boot time of VMs that do not set `SIM_BOOT_SECONDS`.
    pub default_boot_ms: u64,
}

impl Hypervisor {
    pub fn new(default_boot_ms: u64) -> Hypervisor {
        Hypervisor {
            default_boot_ms,
            ..Hypervisor::default()
        }
    }

    /// Rebuild from stored VMs.
    pub fn restore(default_boot_ms: u64, vms: impl IntoIterator<Item = Vm>) -> Hypervisor {
        let mut h = Hypervisor::new(default_boot_ms);
        for vm in vms {
            h.next_id = h.next_id.max(vm.id + 1);
            h.by_operation.insert(vm.operation_id.clone(), vm.id);
            if vm.behaviour.onegate {
                h.onegate_vms.insert(vm.id);
            }
            if let Some(host) = &vm.host {
                h.host_vms.entry(host.clone()).or_default().insert(vm.id);
            }
            h.vms.insert(vm.id, vm);
        }
        h
    }

    pub fn len(&self) -> usize {
        self.vms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vms.is_empty()
    }

    pub fn get(&self, id: u64) -> Option<&Vm> {
        self.vms.get(&id)
    }

    pub fn vms(&self) -> impl Iterator<Item = &Vm> {
        self.vms.values()
    }

    /// Create a VM. Returns the VM and whether it is new: a second create
    /// with the same operation id returns the first VM.
    pub fn create(&mut self, req: CreateRequest, now: u64) -> Result<(&Vm, bool), SimError> {
        if let Some(id) = self.by_operation.get(&req.operation_id) {
            return Ok((&self.vms[id], false));
        }
        if req.operation_id.trim().is_empty() {
            return Err(SimError::Invalid("operation_id: must not be empty".into()));
        }
        if req.name.trim().is_empty() {
            return Err(SimError::Invalid("name: must not be empty".into()));
        }
        if !req.template.is_object() {
            return Err(SimError::Invalid("template: must be a JSON object".into()));
        }
        let behaviour = Behaviour::from_template(&req.template)
            .map_err(|e| SimError::Invalid(format!("template.{e}")))?;
        if behaviour.fail == Some(Failure::Create) {
            return Err(SimError::Conflict(
                "no host has room for this VM (SIM_FAIL=create)".into(),
            ));
        }
        let host = self.place(&req.template)?;
        let id = self.next_id;
        self.next_id += 1;
        let boot_ms = behaviour.boot_ms.unwrap_or(self.default_boot_ms);
        let vm = Vm {
            id,
            operation_id: req.operation_id.clone(),
            name: req.name,
            service_id: req.service_id,
            role_name: req.role_name,
            template: req.template,
            behaviour,
            phase: if req.hold {
                Phase::Hold
            } else {
                Phase::Booting {
                    until_ms: now + boot_ms,
                }
            },
            created_ms: now,
            reason: None,
            monitoring: BTreeMap::new(),
            user_attributes: BTreeMap::new(),
            snapshots: Vec::new(),
            disk_snapshots: Vec::new(),
            onegate: OneGateStatus::default(),
            host,
        };
        if vm.behaviour.onegate {
            self.onegate_vms.insert(id);
        }
        if let Some(host) = &vm.host {
            self.host_vms.entry(host.clone()).or_default().insert(id);
        }
        self.by_operation.insert(req.operation_id, id);
        self.vms.insert(id, vm);
        Ok((&self.vms[&id], true))
    }

    fn vm_ref(&self, id: &str) -> Result<&Vm, SimError> {
        let not_found = || SimError::NotFound(format!("VM {id} does not exist"));
        let id: u64 = id.parse().map_err(|_| not_found())?;
        self.vms.get(&id).ok_or_else(not_found)
    }

    fn vm_mut(&mut self, id: &str) -> Result<&mut Vm, SimError> {
        let not_found = || SimError::NotFound(format!("VM {id} does not exist"));
        let id: u64 = id.parse().map_err(|_| not_found())?;
        self.vms.get_mut(&id).ok_or_else(not_found)
    }

    /// Apply an action (OneFlow's names: `terminate-hard`, `poweroff`, …).
    /// A VM whose host does not answer cannot be reached: the action fails
    /// (unavailable) and nothing changes.
    pub fn act(
        &mut self,
        id: &str,
        action: &str,
        args: &BTreeMap<String, String>,
        now: u64,
    ) -> Result<&Vm, SimError> {
        let default_boot = self.default_boot_ms;
        if let Some(reason) = self.cut_off(self.vm_ref(id)?) {
            return Err(SimError::Unavailable(format!(
                "cannot {action} VM {id}: {reason}"
            )));
        }
        let vm = self.vm_mut(id)?;
        let (state, _) = vm.state_at(now);
        let boot_ms = vm.behaviour.boot_ms.unwrap_or(default_boot);
        let refuse = || SimError::Conflict(format!("cannot {action} VM {id}: it is {state:?}"));
        use State::*;
        let settle = |s: State| Phase::Settled { state: s };
        let next = match action {
            "terminate" | "terminate-hard" => {
                if state == Done {
                    return Err(refuse());
                }
                if action == "terminate" && vm.behaviour.fail == Some(Failure::Terminate) {
                    return Err(SimError::Conflict(format!(
                        "VM {id} did not shut down (SIM_FAIL=terminate); try terminate-hard"
                    )));
                }
                settle(Done)
            }
            "undeploy" | "undeploy-hard" if matches!(state, Running | Poweroff | Unknown) => {
                settle(Undeployed)
            }
            "hold" if state == Pending => Phase::Hold,
            "release" if state == Hold => Phase::Booting {
                until_ms: now + boot_ms,
            },
            "stop" if state == Running => settle(Stopped),
            "suspend" if state == Running => settle(Suspended),
            "resume" if state == Suspended || state == Unknown => Phase::Running { since_ms: now },
            "resume" if matches!(state, Stopped | Poweroff | Undeployed) => Phase::Booting {
                until_ms: now + boot_ms,
            },
            "reboot" | "reboot-hard" if matches!(state, Running | Unknown) => {
                Phase::Running { since_ms: now }
            }
            "poweroff" | "poweroff-hard" if matches!(state, Running | Unknown) => settle(Poweroff),
            "snapshot-create" | "snapshot-revert" | "snapshot-delete"
                if matches!(state, Running | Poweroff) =>
            {
                snapshot(&mut vm.snapshots, action, args.get("name"), "name")?;
                return Ok(vm);
            }
            "disk-snapshot-create" | "disk-snapshot-revert" | "disk-snapshot-delete"
                if matches!(state, Running | Poweroff) =>
            {
                let disk = args.get("disk_id").map(String::as_str).unwrap_or("0");
                let key = args.get("name").map(|n| format!("{disk}:{n}"));
                snapshot(
                    &mut vm.disk_snapshots,
                    &action["disk-".len()..],
                    key.as_ref(),
                    "name",
                )?;
                return Ok(vm);
            }
            known if VmAction::ALL.iter().any(|a| a.as_str() == known) => return Err(refuse()),
            other => {
                return Err(SimError::Invalid(format!(
                    "action: `{other}` is not a VM action"
                )));
            }
        };
        vm.phase = next;
        vm.reason = None;
        Ok(vm)
    }

    /// Put a VM in a state, as a host failure or an operator would (tests
    /// use it to make a VM fail, go UNKNOWN or come back).
    pub fn force_state(
        &mut self,
        id: &str,
        state: State,
        reason: Option<String>,
        now: u64,
    ) -> Result<&Vm, SimError> {
        let vm = self.vm_mut(id)?;
        vm.phase = match state {
            State::Running => Phase::Running { since_ms: now },
            State::Hold => Phase::Hold,
            State::Pending => Phase::Booting {
                until_ms: now + vm.behaviour.boot_ms.unwrap_or(0),
            },
            other => Phase::Settled { state: other },
        };
        // A forced state replaces injected failures, so a recovered VM stays up.
        vm.behaviour.fail = None;
        vm.reason = reason;
        Ok(vm)
    }

    /// Set monitoring values (they override the load shape); `null` values
    /// clear an override.
    pub fn set_monitoring(
        &mut self,
        id: &str,
        values: BTreeMap<String, Option<f64>>,
    ) -> Result<&Vm, SimError> {
        let vm = self.vm_mut(id)?;
        for (k, v) in values {
            match v {
                Some(v) if v.is_finite() => {
                    vm.monitoring.insert(k.to_ascii_uppercase(), v);
                }
                Some(_) => return Err(SimError::Invalid(format!("{k}: must be a finite number"))),
                None => {
                    vm.monitoring.remove(&k.to_ascii_uppercase());
                }
            }
        }
        Ok(vm)
    }

    /// Set user attributes, as a VM reports them about itself (OneGate);
    /// `null` values remove one.
    pub fn set_user_attributes(
        &mut self,
        id: &str,
        values: BTreeMap<String, Option<String>>,
    ) -> Result<&Vm, SimError> {
        let vm = self.vm_mut(id)?;
        for (k, v) in values {
            match v {
                Some(v) => vm.user_attributes.insert(k.to_ascii_uppercase(), v),
                None => vm.user_attributes.remove(&k.to_ascii_uppercase()),
            };
        }
        Ok(vm)
    }
}

fn snapshot(
    list: &mut Vec<String>,
    action: &str,
    name: Option<&String>,
    field: &str,
) -> Result<(), SimError> {
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| SimError::Invalid(format!("args.{field}: required for {action}")))?;
    let exists = list.contains(name);
    match action {
        "snapshot-create" if exists => Err(SimError::Conflict(format!(
            "snapshot `{name}` already exists"
        ))),
        "snapshot-create" => {
            list.push(name.clone());
            Ok(())
        }
        _ if !exists => Err(SimError::NotFound(format!(
            "snapshot `{name}` does not exist"
        ))),
        "snapshot-delete" => {
            list.retain(|s| s != name);
            Ok(())
        }
        _ => Ok(()), // revert: nothing to simulate beyond the check
    }
}

pub mod hosts;
mod load;
pub mod onegate;
#[cfg(test)]
mod tests;
