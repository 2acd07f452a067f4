//! A host of the fleet: the operator's record and its monitoring.

use crate::model::FieldError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The longest host name: it is part of VM ids and log lines.
pub const MAX_NAME_LEN: usize = 128;
/// Labels a host may carry (`ZONE=a`): `SCHED_REQUIREMENTS` reads them.
pub const MAX_LABELS: usize = 64;

/// OpenNebula's host states, the ones Flotilla has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HostState {
    /// Created, not monitored yet: it gets no VM until its first
    /// monitoring says what it has.
    Init,
    /// Its last monitoring answered.
    Monitored,
    /// Its monitoring failed (`reason` says how): it gets no VM, and the
    /// VMs it had are lost until it answers again.
    Error,
    /// Set by the operator: monitored, keeps its VMs, gets no new ones.
    Disabled,
    /// Set by the operator: not monitored and gets nothing (a host taken
    /// out for maintenance once its VMs are gone).
    Offline,
}

impl HostState {
    /// OpenNebula's numbers (`onehost` shows them): INIT 0, MONITORED 2,
    /// ERROR 3, DISABLED 4, OFFLINE 8.
    pub fn number(self) -> u32 {
        match self {
            HostState::Init => 0,
            HostState::Monitored => 2,
            HostState::Error => 3,
            HostState::Disabled => 4,
            HostState::Offline => 8,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Init => "INIT",
            HostState::Monitored => "MONITORED",
            HostState::Error => "ERROR",
            HostState::Disabled => "DISABLED",
            HostState::Offline => "OFFLINE",
        }
    }
}

impl std::fmt::Display for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the operator asked of a host (`host enable|disable|offline`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostMode {
    #[default]
    Enabled,
    Disabled,
    Offline,
}

/// CPU and memory: a host's total, or what is in use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// In CPUs (OpenNebula's `CPU` of a VM template; 0.5 is half a CPU).
    pub cpu: f64,
    pub memory_mb: u64,
}

/// What an operator gives to create a host.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHost {
    pub name: String,
    /// The driver plugin that reaches it (`libvirt`, `sim`).
    pub driver: String,
    /// How the driver reaches it: a libvirt URI, the simulated
    /// hypervisor's host name.
    pub address: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl NewHost {
    /// Every problem with its field.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Err(reason) = check_name(&self.name) {
            errors.push(FieldError::new("name", reason));
        }
        if self.driver.trim().is_empty() {
            errors.push(FieldError::new("driver", "must name a driver plugin"));
        }
        if self.address.trim().is_empty() {
            errors.push(FieldError::new(
                "address",
                "must say how the driver reaches the host",
            ));
        } else if self.address.len() > 1024 || self.address.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "address",
                "must be at most 1024 characters, without control characters",
            ));
        }
        if self.labels.len() > MAX_LABELS {
            errors.push(FieldError::new(
                "labels",
                format!("at most {MAX_LABELS} labels"),
            ));
        }
        for (key, value) in &self.labels {
            let field = format!("labels.{key}");
            if key.is_empty()
                || !key.starts_with(|c: char| c.is_ascii_alphabetic())
                || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                errors.push(FieldError::new(
                    field,
                    "a label's name is letters, digits and `_`, starting with a letter",
                ));
            } else if value.len() > 256 || value.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    field,
                    "a label's value is at most 256 characters, without control characters",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A host name is letters, digits, `.`, `-` and `_`: it appears in VM ids
/// (`<host>/<domain>`), URIs and log lines, so nothing there needs quoting.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("must be 1 to {MAX_NAME_LEN} characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err("may hold only letters, digits, `.`, `-` and `_`".into());
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err("must not be a number: a number names a host by its id".into());
    }
    Ok(())
}

/// A host as the fleet knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub id: u64,
    pub name: String,
    pub driver: String,
    pub address: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The operator's choice; `state` follows from it and the monitoring.
    #[serde(default)]
    pub mode: HostMode,
    pub state: HostState,
    /// Why it is in ERROR (the monitoring's failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What it has, from its last monitoring that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Capacity>,
    /// What its hypervisor measured in use then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<Capacity>,
    /// The VMs (driver ids) its hypervisor had then.
    #[serde(default)]
    pub vm_ids: Vec<String>,
    /// When its monitoring last answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitored_ms: Option<u64>,
    /// When it went to ERROR (automatic recovery counts from there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_since_ms: Option<u64>,
    /// VMs terminated while the host was lost (their services replaced
    /// them elsewhere): destroyed when it answers again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale_vm_ids: Vec<String>,
}

impl Host {
    pub fn new(id: u64, new: NewHost) -> Host {
        Host {
            id,
            name: new.name,
            driver: new.driver,
            address: new.address,
            labels: new.labels,
            mode: HostMode::Enabled,
            state: HostState::Init,
            reason: None,
            total: None,
            used: None,
            vm_ids: Vec::new(),
            monitored_ms: None,
            error_since_ms: None,
            stale_vm_ids: Vec::new(),
        }
    }

    /// Whether the monitoring loop asks it: every state but OFFLINE.
    pub fn is_monitored(&self) -> bool {
        self.mode != HostMode::Offline
    }

    /// The state its mode and its monitoring make: OFFLINE and ERROR
    /// before DISABLED (a disabled host that stops answering is in
    /// ERROR, and DISABLED again once it answers), INIT until its first
    /// monitoring.
    fn settle(&mut self) {
        self.state = match self.mode {
            HostMode::Offline => HostState::Offline,
            _ if self.error_since_ms.is_some() => HostState::Error,
            HostMode::Disabled => HostState::Disabled,
            _ if self.monitored_ms.is_none() => HostState::Init,
            HostMode::Enabled => HostState::Monitored,
        };
    }

    pub fn set_mode(&mut self, mode: HostMode) {
        self.mode = mode;
        if mode == HostMode::Offline {
            // Not asked again until it is enabled: its last error is moot.
            self.error_since_ms = None;
            self.reason = None;
        }
        self.settle();
    }

    /// Its monitoring answered.
    pub fn monitored(&mut self, total: Capacity, used: Capacity, vm_ids: Vec<String>, now: u64) {
        self.total = Some(total);
        self.used = Some(used);
        self.vm_ids = vm_ids;
        self.monitored_ms = Some(now);
        self.error_since_ms = None;
        self.reason = None;
        self.settle();
    }

    /// Its monitoring failed: ERROR from the first failure, counted from
    /// the first.
    pub fn failed(&mut self, reason: String, now: u64) {
        self.error_since_ms.get_or_insert(now);
        self.reason = Some(reason);
        self.settle();
    }

    /// The machine its address names: the host part of a URI
    /// (`qemu+ssh://root@h1:22/system` is `h1`, `qemu+tcp://[fd00::2]/system`
    /// is `fd00::2`), or the address itself when it is no URI.
    pub fn hostname(&self) -> &str {
        let address = self.address.trim();
        let Some((_, rest)) = address.split_once("://") else {
            return address;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if let Some(bracketed) = host.strip_prefix('[') {
            return bracketed.split(']').next().unwrap_or("");
        }
        host.split(':').next().unwrap_or("")
    }

    /// The operator's command that runs a program on this host
    /// (`[fleet] host_command`), with `{name}`, `{address}` and
    /// `{hostname}` replaced by its own. Refused when a value is empty,
    /// would read as an option (`-…`) or holds a space or a control
    /// character: a host's address is the operator's text, not a word the
    /// command may split or take for a flag.
    pub fn command(&self, template: &[String]) -> Result<Vec<String>, String> {
        if template.is_empty() {
            return Err("[fleet] host_command is empty".into());
        }
        let values = [
            ("{name}", self.name.as_str()),
            ("{address}", self.address.as_str()),
            ("{hostname}", self.hostname()),
        ];
        let mut command = Vec::with_capacity(template.len());
        for word in template {
            let mut out = word.clone();
            for (placeholder, value) in values {
                if !out.contains(placeholder) {
                    continue;
                }
                if value.is_empty()
                    || value.starts_with('-')
                    || value.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(format!(
                        "host `{}`: its {} `{value}` cannot go in [fleet] host_command (empty, \
                         starting with `-`, or with a space)",
                        self.name,
                        &placeholder[1..placeholder.len() - 1],
                    ));
                }
                out = out.replace(placeholder, value);
            }
            command.push(out);
        }
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hosts_command_names_it_by_its_name_address_or_the_machine_in_its_uri() {
        let mut host = super::Host::new(
            1,
            super::NewHost {
                name: "h1".into(),
                driver: "libvirt".into(),
                address: "qemu+ssh://root@kvm1.example:22/system".into(),
                labels: Default::default(),
            },
        );
        let template: Vec<String> = ["ssh", "root@{hostname}", "#{name}", "{address}"]
            .map(String::from)
            .into();
        assert_eq!(
            host.command(&template).unwrap(),
            [
                "ssh",
                "root@kvm1.example",
                "#h1",
                "qemu+ssh://root@kvm1.example:22/system"
            ]
        );
        for (address, hostname) in [
            ("qemu+tcp://10.0.0.2/system", "10.0.0.2"),
            ("qemu+tcp://[fd00::2]:16509/system", "fd00::2"),
            ("10.0.0.3", "10.0.0.3"),
        ] {
            host.address = address.into();
            assert_eq!(host.hostname(), hostname, "{address}");
        }
        host.address = "-oProxyCommand=x".into();
        let refused = host.command(&template).unwrap_err();
        assert!(refused.contains("hostname `-oProxyCommand=x`"), "{refused}");
        assert!(host.command(&["ip".into(), "netns".into()]).is_ok());
        assert!(host.command(&[]).is_err());
    }

    use super::*;

    fn new_host() -> NewHost {
        NewHost {
            name: "kvm-1".into(),
            driver: "libvirt".into(),
            address: "qemu+tcp://10.0.0.2/system".into(),
            labels: BTreeMap::from([("ZONE".into(), "a".into())]),
        }
    }

    #[test]
    fn a_good_host_passes() {
        assert_eq!(new_host().validate(), Ok(()));
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut host = new_host();
        host.name = "kvm 1".into();
        host.address = String::new();
        host.labels.insert("9x".into(), "b".into());
        let errors = host.validate().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "address", "labels.9x"]);
    }

    #[test]
    fn the_state_follows_the_mode_and_the_monitoring() {
        let mut host = Host::new(0, new_host());
        assert_eq!(host.state, HostState::Init);
        let total = Capacity {
            cpu: 4.0,
            memory_mb: 8192,
        };
        host.monitored(total, Capacity::default(), vec![], 10);
        assert_eq!(host.state, HostState::Monitored);
        host.set_mode(HostMode::Disabled);
        assert_eq!(host.state, HostState::Disabled);
        host.failed("no route to host".into(), 20);
        host.failed("no route to host".into(), 30);
        assert_eq!(
            (host.state, host.error_since_ms),
            (HostState::Error, Some(20))
        );
        host.monitored(total, Capacity::default(), vec![], 40);
        assert_eq!(
            (host.state, host.reason.as_deref()),
            (HostState::Disabled, None)
        );
        host.set_mode(HostMode::Offline);
        assert_eq!(host.state, HostState::Offline);
        assert!(!host.is_monitored());
        host.set_mode(HostMode::Enabled);
        assert_eq!(host.state, HostState::Monitored);
    }

    #[test]
    fn a_number_is_not_a_name() {
        assert!(check_name("42").is_err());
        assert!(check_name("h42").is_ok());
    }
}
