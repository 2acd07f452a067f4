//! The simulated fleet: hosts the VMs are placed on, what each has and
//! what its VMs use, and hosts that stop answering.
//!
//! A VM lands on a host when its template says so (`HOST`, which
//! Flotilla sets when it placed the VM: `{"NAME": .., "ADDRESS": ..}`; the
//! host is the one named by `ADDRESS`, the simulated hypervisor's name for
//! it, or by `NAME` without one). A VM without `HOST` runs on no host, as
//! every VM did before there were hosts.
//!
//! An unreachable host (`reachable: false`) is a machine cut off from the
//! network: its VMs go on as they were, but nobody hears from them. Its
//! monitoring is an error, its VMs show UNKNOWN with the reason `host
//! <name> does not answer`, actions on them and new VMs placed on it fail
//! as unavailable, and they send no OneGate report. Once it answers again,
//! its VMs are as the clock made them meanwhile.

use super::{Hypervisor, SimError, State, Vm, VmView, attr};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What a VM counts for on its host when its template does not say:
/// `CPU`, in CPUs…
pub const DEFAULT_VM_CPU: f64 = 1.0;
/// …and `MEMORY`, in MiB.
pub const DEFAULT_VM_MEMORY_MB: u64 = 256;

/// A host of the simulated fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub name: String,
    /// CPUs (1.0 is one CPU).
    pub cpu: f64,
    pub memory_mb: u64,
    /// False while the host is cut off.
    pub reachable: bool,
}

/// What a host has and what its VMs use: its monitoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostUsage {
    pub cpu: f64,
    pub memory_mb: u64,
    /// The `CPU` of its VMs that are not DONE, summed.
    pub used_cpu: f64,
    /// The `MEMORY` of its VMs that are not DONE, summed, in MiB.
    pub used_memory_mb: u64,
    /// The ids of its VMs that are not DONE.
    pub vm_ids: Vec<String>,
}

/// A host as the API shows it: what it is, and what its VMs use (shown
/// even while it does not answer: this is the simulation's view, not a
/// driver's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    pub name: String,
    pub reachable: bool,
    #[serde(flatten)]
    pub usage: HostUsage,
}

/// A host's name: what a URL path and a VM's template can carry.
fn check_name(name: &str) -> Result<(), SimError> {
    let bad = |reason: &str| Err(SimError::Invalid(format!("name: {reason}")));
    if name.is_empty() || name.len() > 64 {
        return bad("must be 1 to 64 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad(&format!(
            "`{name}` may hold only letters, digits, `-`, `_` and `.`"
        ));
    }
    // `/hosts/monitor` is a route of its own.
    if name == "monitor" {
        return bad("`monitor` is reserved");
    }
    Ok(())
}

/// The host a template places its VM on (see the module's documentation),
/// or why the `HOST` attribute does not read.
pub fn placement(template: &serde_json::Value) -> Result<Option<String>, SimError> {
    let Some((_, host)) = template
        .as_object()
        .and_then(|t| t.iter().find(|(k, _)| k.eq_ignore_ascii_case("HOST")))
    else {
        return Ok(None);
    };
    if !host.is_object() {
        return Err(SimError::Invalid(
            "template.HOST: must be an object with NAME (and ADDRESS)".into(),
        ));
    }
    let field = |key| attr(host, key).filter(|v| !v.trim().is_empty());
    match field("ADDRESS").or_else(|| field("NAME")) {
        Some(name) => Ok(Some(name)),
        None => Err(SimError::Invalid(
            "template.HOST.NAME: must name a host".into(),
        )),
    }
}

fn does_not_answer(name: &str) -> String {
    format!("host {name} does not answer")
}

/// Why nobody hears from `vm`, among `hosts`: its host does not answer.
pub(super) fn cut_off(hosts: &BTreeMap<String, Host>, vm: &Vm) -> Option<String> {
    let name = vm.host.as_deref()?;
    match hosts.get(name) {
        Some(host) if !host.reachable => Some(does_not_answer(name)),
        _ => None,
    }
}

impl Vm {
    /// What the VM counts for on its host: its template's `CPU` and
    /// `MEMORY` (MiB), or the defaults.
    fn allocation(&self) -> (f64, u64) {
        let number = |key| {
            attr(&self.template, key)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        (
            number("CPU").unwrap_or(DEFAULT_VM_CPU),
            number("MEMORY").map_or(DEFAULT_VM_MEMORY_MB, |m| m.round() as u64),
        )
    }
}

impl Hypervisor {
    /// Add a host; idempotent on the name: a host already there is
    /// returned as it is (`false`: not new).
    pub fn add_host(
        &mut self,
        name: &str,
        cpu: f64,
        memory_mb: u64,
    ) -> Result<(&Host, bool), SimError> {
        check_name(name)?;
        if self.hosts.contains_key(name) {
            return Ok((&self.hosts[name], false));
        }
        if !(cpu.is_finite() && cpu > 0.0) {
            return Err(SimError::Invalid(format!(
                "cpu: must be a number of CPUs above 0, not {cpu}"
            )));
        }
        if memory_mb == 0 {
            return Err(SimError::Invalid("memory_mb: must be above 0".into()));
        }
        let host = Host {
            name: name.to_string(),
            cpu,
            memory_mb,
            reachable: true,
        };
        self.hosts.insert(name.to_string(), host);
        Ok((&self.hosts[name], true))
    }

    /// Hosts read back from storage.
    pub fn with_hosts(mut self, hosts: impl IntoIterator<Item = Host>) -> Hypervisor {
        for host in hosts {
            self.hosts.insert(host.name.clone(), host);
        }
        self
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.get(name)
    }

    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    fn host_not_found(name: &str) -> SimError {
        SimError::NotFound(format!("host {name} does not exist"))
    }

    /// Cut a host off (`false`: a lost host) or let it answer again.
    pub fn set_reachable(&mut self, name: &str, reachable: bool) -> Result<&Host, SimError> {
        let host = self
            .hosts
            .get_mut(name)
            .ok_or_else(|| Self::host_not_found(name))?;
        host.reachable = reachable;
        Ok(host)
    }

    /// What a host has and what its VMs use at `now`, whether it answers
    /// or not.
    pub fn host_usage(&self, name: &str, now: u64) -> Result<HostUsage, SimError> {
        let host = self.host(name).ok_or_else(|| Self::host_not_found(name))?;
        let mut usage = HostUsage {
            cpu: host.cpu,
            memory_mb: host.memory_mb,
            used_cpu: 0.0,
            used_memory_mb: 0,
            vm_ids: Vec::new(),
        };
        let vms = self.host_vms.get(name).into_iter().flat_map(BTreeSet::iter);
        for vm in vms.filter_map(|id| self.vms.get(id)) {
            if vm.state_at(now).0 == State::Done {
                continue;
            }
            let (cpu, memory_mb) = vm.allocation();
            usage.used_cpu += cpu;
            usage.used_memory_mb += memory_mb;
            usage.vm_ids.push(vm.id.to_string());
        }
        Ok(usage)
    }

    pub fn host_view(&self, name: &str, now: u64) -> Result<HostView, SimError> {
        Ok(HostView {
            name: name.to_string(),
            reachable: self.host(name).is_some_and(|h| h.reachable),
            usage: self.host_usage(name, now)?,
        })
    }

    /// A host's monitoring as its hypervisor would answer it: an error for
    /// a host that does not exist, or does not answer.
    pub fn monitor_host(&self, name: &str, now: u64) -> Result<HostUsage, SimError> {
        match self.host(name) {
            None => Err(Self::host_not_found(name)),
            Some(host) if !host.reachable => Err(SimError::Unavailable(does_not_answer(name))),
            Some(_) => self.host_usage(name, now),
        }
    }

    /// Why nobody hears from a VM: its host does not answer.
    pub(crate) fn cut_off(&self, vm: &Vm) -> Option<String> {
        cut_off(&self.hosts, vm)
    }

    /// Where a new VM goes: the host its template names, which must exist
    /// and answer.
    pub(crate) fn place(&self, template: &serde_json::Value) -> Result<Option<String>, SimError> {
        let Some(name) = placement(template)? else {
            return Ok(None);
        };
        match self.hosts.get(&name) {
            None => Err(SimError::Invalid(format!(
                "template.HOST: host {name} does not exist"
            ))),
            Some(host) if !host.reachable => Err(SimError::Unavailable(does_not_answer(&name))),
            Some(_) => Ok(Some(name)),
        }
    }

    /// A VM as the API shows it at `now`: as its own state says, unless
    /// its host does not answer; then it is UNKNOWN, with the reason, and
    /// without monitoring.
    pub fn view(&self, vm: &Vm, now: u64) -> VmView {
        let mut view = vm.view(now);
        if view.state != State::Done
            && let Some(reason) = self.cut_off(vm)
        {
            view.state = State::Unknown;
            view.reason = Some(reason);
            view.monitoring.clear();
        }
        view
    }

    /// The VM with this id as the API shows it at `now`.
    pub fn view_of(&self, id: u64, now: u64) -> Option<VmView> {
        self.vms.get(&id).map(|vm| self.view(vm, now))
    }
}
