//! `flotilla:host/link`: network devices a plumbing plugin may make and
//! change, under the operator's grant (`[plugins.<id>.link]`).
//!
//! Nothing is granted by default: the plugin's manifest must declare
//! `capabilities.link` and the operator must grant device-name `prefixes`
//! (and, for VXLAN devices, the `underlays` they may run over). Every name
//! a call carries is checked against the grant before anything runs
//! ([`Links`]); what passes becomes a typed [`LinkOp`], which a
//! [`LinkBackend`] performs: [`IpCommand`] runs iproute2's `ip` with an
//! argument vector the host builds from the typed values (never a string
//! of the plugin's as a command line), [`MemoryLinks`] keeps devices in
//! memory for `plugin check`, which must not touch the host's devices.

use crate::bindings::plumbing::flotilla::host::link as wit;
use crate::bindings::types as wit_types;
use crate::child::{RunError, run_to_end};
use crate::manifest::{Grant, LinkGrant, Manifest};
use crate::state::PluginState;
use flotilla_model::{Device, DeviceKind, PluginError, Vxlan};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The kernel's limit on a device name (IFNAMSIZ less its NUL).
pub const MAX_NAME_BYTES: usize = 15;
/// A prefix leaves room for a name of its own after it.
pub const MAX_PREFIX_BYTES: usize = 8;
/// How long one `ip` command may take when the call sets no deadline.
const IP_TIMEOUT: Duration = Duration::from_secs(5);
/// Of `ip`'s stderr, what an error keeps.
const STDERR_KEPT: usize = 2048;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Why `name` is no device name the host would use, if it is not.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.len() > MAX_NAME_BYTES {
        Some("is longer than 15 bytes (the kernel's limit)")
    } else if !name.chars().all(allowed) {
        Some("has a character outside [A-Za-z0-9_.-]")
    } else if name.starts_with('-') {
        // `ip` would read it as one of its options.
        Some("starts with `-`")
    } else if name == "." || name == ".." {
        Some("is not a device name")
    } else {
        None
    }
}

/// Why `prefix` is no device-name prefix a grant may hold, if it is not.
pub fn prefix_problem(prefix: &str) -> Option<&'static str> {
    if prefix.is_empty() {
        Some("is empty: it would grant every device")
    } else if prefix.len() > MAX_PREFIX_BYTES {
        Some("is longer than 8 characters")
    } else if !prefix.chars().all(allowed) {
        Some("has a character outside [A-Za-z0-9_.-]")
    } else if prefix.starts_with('-') {
        Some("starts with `-`")
    } else {
        None
    }
}

/// An address with its prefix length (`10.0.0.1/24`, `fd00::1/64`), as
/// `ip` prints it, or why not.
pub fn parse_cidr(address: &str) -> Result<String, String> {
    let (ip, len) = address
        .split_once('/')
        .ok_or_else(|| format!("address `{address}`: not ADDRESS/PREFIX (`10.0.0.1/24`)"))?;
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("address `{address}`: `{ip}` is not an IPv4 or IPv6 address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("address `{address}`: the prefix length must be 0 to {max}"))?;
    Ok(format!("{ip}/{len}"))
}

/// One change to the host's devices, its names checked against the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOp {
    /// A bridge, a tap or a VXLAN device (never another kind).
    Add {
        name: String,
        kind: DeviceKind,
    },
    SetMaster {
        name: String,
        master: Option<String>,
    },
    SetUp {
        name: String,
        up: bool,
    },
    /// `address` as [`parse_cidr`] writes it.
    AddAddress {
        name: String,
        address: String,
    },
    Delete {
        name: String,
    },
}

impl LinkOp {
    /// The arguments of `ip` that make the change. Every name comes after
    /// the keyword that says what it is (`name`, `dev`), so none is read
    /// as a keyword of its own.
    pub fn ip_args(&self) -> Vec<String> {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            LinkOp::Add {
                name,
                kind: DeviceKind::Bridge,
            } => words(&["link", "add", "name", name, "type", "bridge"]),
            // Persistent: the tap outlives the `ip` that made it, until
            // it is deleted.
            LinkOp::Add {
                name,
                kind: DeviceKind::Tap,
            } => words(&["tuntap", "add", "dev", name, "mode", "tap"]),
            LinkOp::Add {
                name,
                kind: DeviceKind::Vxlan(v),
            } => {
                let mut args = words(&["link", "add", "name", name]);
                // A link option: before `type`, after which every word
                // is the VXLAN's.
                if let Some(mtu) = v.mtu {
                    args.extend(words(&["mtu", &mtu.to_string()]));
                }
                args.extend(words(&[
                    "type",
                    "vxlan",
                    "id",
                    &v.vni.to_string(),
                    "dev",
                    &v.underlay,
                    "dstport",
                    &v.port.to_string(),
                ]));
                if let Some(group) = &v.group {
                    args.extend(words(&["group", group]));
                }
                args
            }
            // Refused before it gets here; `ip` would refuse it too.
            LinkOp::Add {
                name,
                kind: DeviceKind::Other(kind),
            } => words(&["link", "add", "name", name, "type", kind]),
            LinkOp::SetMaster {
                name,
                master: Some(master),
            } => words(&["link", "set", "dev", name, "master", master]),
            LinkOp::SetMaster { name, master: None } => {
                words(&["link", "set", "dev", name, "nomaster"])
            }
            LinkOp::SetUp { name, up } => {
                words(&["link", "set", "dev", name, if *up { "up" } else { "down" }])
            }
            LinkOp::AddAddress { name, address } => words(&["addr", "add", address, "dev", name]),
            LinkOp::Delete { name } => words(&["link", "del", "dev", name]),
        }
    }
}

/// What performs link operations: the host's kernel through `ip`, or
/// memory. Calls block and should be quick; `deadline` is when the plugin
/// call must be over (the epoch cannot interrupt a host call).
pub trait LinkBackend: Send + Sync + 'static {
    /// Every device there is (the capability keeps those in the grant).
    fn devices(&self, deadline: Instant) -> Result<Vec<Device>, String>;

    /// Make one change; the error says why it failed (`ip`'s stderr).
    fn apply(&self, op: &LinkOp, deadline: Instant) -> Result<(), String>;
}

/// A host of the fleet a plumbing call makes its devices on, instead of
/// the server's machine: VMs placed there attach to devices there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSite {
    /// The host's name, for errors and logs.
    pub host: String,
    /// The command that runs a program on the host, `ip` and its
    /// arguments appended (`ssh -o BatchMode=yes root@10.0.0.2`, or
    /// `ip netns exec h1` for a host that is a network namespace). Every
    /// argument `ip` gets is a keyword, a number, an address or a checked
    /// device name, so one a remote shell joins back reads the same.
    pub command: Vec<String>,
}

/// iproute2's `ip`, run with argument vectors.
#[derive(Debug, Clone)]
pub struct IpCommand {
    path: PathBuf,
    /// Where it runs: none, here.
    site: Option<LinkSite>,
}

impl IpCommand {
    /// `ip` at `path` (a bare `ip` is looked up on the server's PATH).
    pub fn new(path: impl Into<PathBuf>) -> IpCommand {
        IpCommand {
            path: path.into(),
            site: None,
        }
    }

    /// The same `ip`, run on `site` through its command.
    pub fn on(mut self, site: LinkSite) -> IpCommand {
        self.site = Some(site);
        self
    }

    /// Run `ip ARGS` to its end (killed at `deadline`): its stdout, or
    /// the command and the end of its stderr.
    fn run(&self, args: &[String], deadline: Instant) -> Result<String, String> {
        let said = || {
            let on = match &self.site {
                Some(site) => format!("on host `{}`: ", site.host),
                None => String::new(),
            };
            format!("{on}{} {}", self.path.display(), args.join(" "))
        };
        let mut command = match self.site.as_ref().map(|s| s.command.as_slice()) {
            Some([program, rest @ ..]) => {
                let mut c = std::process::Command::new(program);
                c.args(rest).arg(&self.path);
                c
            }
            _ => std::process::Command::new(&self.path),
        };
        command.args(args).stdin(std::process::Stdio::null());
        // All of stdout: a listing is read whole.
        let ran = run_to_end(command, deadline, usize::MAX).map_err(|e| match e {
            RunError::Start(e) => format!("{}: {e} (is iproute2 installed?)", said()),
            RunError::Read(e) => format!("{}: reading its output: {e}", said()),
            RunError::Late => format!("{}: did not finish in time", said()),
            RunError::Wait(e) => format!("{}: {e}", said()),
        })?;
        let (status, out, err) = (ran.status, ran.stdout, ran.stderr);
        if status.success() {
            return Ok(String::from_utf8_lossy(&out).into_owned());
        }
        let start = err.len().saturating_sub(STDERR_KEPT);
        let stderr = String::from_utf8_lossy(&err[start..]);
        Err(format!(
            "{}: {} ({status})",
            said(),
            stderr.trim().replace('\n', "; ")
        ))
    }
}

impl LinkBackend for IpCommand {
    fn devices(&self, deadline: Instant) -> Result<Vec<Device>, String> {
        // One command for kinds, masters, flags and addresses: `-d` adds
        // each device's linkinfo to `addr show`'s listing.
        let args = ["-j", "-d", "addr", "show"].map(String::from);
        parse_ip_json(&self.run(&args, deadline)?)
    }

    fn apply(&self, op: &LinkOp, deadline: Instant) -> Result<(), String> {
        self.run(&op.ip_args(), deadline).map(|_| ())
    }
}

/// The devices of `ip -j -d addr show`'s output (`ip -j -d link show`'s
/// reads too, without addresses).
pub fn parse_ip_json(text: &str) -> Result<Vec<Device>, String> {
    use serde_json::Value;
    let listed: Value =
        serde_json::from_str(text).map_err(|e| format!("ip's JSON listing does not read: {e}"))?;
    let Some(listed) = listed.as_array() else {
        return Err("ip's JSON listing is not a list".into());
    };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(String::from);
    let mut devices = Vec::with_capacity(listed.len());
    for d in listed {
        let Some(name) = text(d, "ifname") else {
            continue;
        };
        let info = d.get("linkinfo");
        let data = info.and_then(|i| i.get("info_data"));
        let kind = match info.and_then(|i| text(i, "info_kind")).as_deref() {
            Some("bridge") => DeviceKind::Bridge,
            Some("tun") if data.and_then(|x| text(x, "type")).as_deref() == Some("tap") => {
                DeviceKind::Tap
            }
            Some("vxlan") => {
                let data = data.cloned().unwrap_or_default();
                DeviceKind::Vxlan(Vxlan {
                    vni: data.get("id").and_then(Value::as_u64).unwrap_or(0) as u32,
                    underlay: text(&data, "link").unwrap_or_default(),
                    group: text(&data, "group").or_else(|| text(&data, "group6")),
                    port: data.get("port").and_then(Value::as_u64).unwrap_or(0) as u16,
                    mtu: d.get("mtu").and_then(Value::as_u64).map(|m| m as u32),
                })
            }
            Some(other) => DeviceKind::Other(other.to_string()),
            // A physical interface has no linkinfo.
            None => DeviceKind::Other(text(d, "link_type").unwrap_or_else(|| "device".into())),
        };
        let up = d
            .get("flags")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|f| f == "UP"));
        // The kernel's own link-local addresses are not ones a plugin gave.
        let addresses = d
            .get("addr_info")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|a| a.get("scope").and_then(Value::as_str) != Some("link"))
            .filter_map(|a| {
                let local = text(a, "local")?;
                let len = a.get("prefixlen")?.as_u64()?;
                Some(format!("{local}/{len}"))
            })
            .collect();
        devices.push(Device {
            name,
            kind,
            master: text(d, "master"),
            up,
            addresses,
        });
    }
    Ok(devices)
}

/// Devices in memory, refusing what the kernel would refuse: `plugin
/// check` runs a plumbing plugin on it, so the check never touches the
/// host's devices.
#[derive(Debug, Default)]
pub struct MemoryLinks {
    devices: Mutex<BTreeMap<String, Device>>,
}

impl MemoryLinks {
    pub fn new() -> MemoryLinks {
        MemoryLinks::default()
    }

    /// With `devices` there already (an underlay, a host interface).
    pub fn with(devices: impl IntoIterator<Item = Device>) -> MemoryLinks {
        MemoryLinks {
            devices: Mutex::new(devices.into_iter().map(|d| (d.name.clone(), d)).collect()),
        }
    }

    /// The devices now, by name.
    pub fn snapshot(&self) -> Vec<Device> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Device>> {
        self.devices.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LinkBackend for MemoryLinks {
    fn devices(&self, _deadline: Instant) -> Result<Vec<Device>, String> {
        Ok(self.snapshot())
    }

    fn apply(&self, op: &LinkOp, _deadline: Instant) -> Result<(), String> {
        let mut devices = self.lock();
        let missing = |name: &str| format!("Cannot find device \"{name}\"");
        match op {
            LinkOp::Add { name, kind } => {
                if devices.contains_key(name) {
                    return Err("RTNETLINK answers: File exists".into());
                }
                if let DeviceKind::Vxlan(v) = kind
                    && !devices.contains_key(&v.underlay)
                {
                    return Err(missing(&v.underlay));
                }
                if let DeviceKind::Other(kind) = kind {
                    return Err(format!("Error: Unknown device type `{kind}`."));
                }
                devices.insert(
                    name.clone(),
                    Device {
                        name: name.clone(),
                        kind: kind.clone(),
                        master: None,
                        up: false,
                        addresses: Vec::new(),
                    },
                );
            }
            LinkOp::SetMaster { name, master } => {
                if let Some(m) = master {
                    match devices.get(m) {
                        None => return Err(missing(m)),
                        Some(d) if d.kind != DeviceKind::Bridge || m == name => {
                            return Err("RTNETLINK answers: Operation not supported".into());
                        }
                        Some(_) => {}
                    }
                }
                let device = devices.get_mut(name).ok_or_else(|| missing(name))?;
                device.master = master.clone();
            }
            LinkOp::SetUp { name, up } => {
                devices.get_mut(name).ok_or_else(|| missing(name))?.up = *up;
            }
            LinkOp::AddAddress { name, address } => {
                let device = devices.get_mut(name).ok_or_else(|| missing(name))?;
                if device.addresses.contains(address) {
                    return Err("RTNETLINK answers: File exists".into());
                }
                device.addresses.push(address.clone());
            }
            LinkOp::Delete { name } => {
                devices.remove(name).ok_or_else(|| missing(name))?;
                // A bridge's ports are set free with it, as the kernel does.
                for d in devices.values_mut() {
                    if d.master.as_deref() == Some(name) {
                        d.master = None;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The link grant in force for one plugin: what its manifest declares
/// and the operator grants, both.
#[derive(Debug, Clone, Default)]
pub struct LinkPolicy {
    /// Why nothing is granted (no grant, or the manifest does not ask).
    refused: Option<String>,
    prefixes: Vec<String>,
    underlays: Vec<String>,
    ip: PathBuf,
}

impl LinkPolicy {
    pub fn new(manifest: &Manifest, grant: &Grant) -> LinkPolicy {
        let id = &manifest.id;
        match (&grant.link, manifest.capabilities.link) {
            (Some(link), true) => LinkPolicy::granted(link),
            (None, _) => LinkPolicy {
                refused: Some(format!(
                    "this plugin has no [plugins.{id}.link] grant in flotilla.toml (prefixes = \
                     [...])"
                )),
                ..LinkPolicy::default()
            },
            (Some(_), false) => LinkPolicy {
                refused: Some(format!(
                    "the manifest of `{id}` does not declare capabilities.link, so its \
                     [plugins.{id}.link] grant gives it nothing"
                )),
                ..LinkPolicy::default()
            },
        }
    }

    /// The grant alone (checked by [`Grant::validate`]).
    pub fn granted(link: &LinkGrant) -> LinkPolicy {
        LinkPolicy {
            refused: None,
            prefixes: link.prefixes.clone(),
            underlays: link.underlays.clone(),
            ip: link.ip.clone().unwrap_or_else(|| PathBuf::from("ip")),
        }
    }

    /// Whether any device is granted.
    pub fn is_granted(&self) -> bool {
        self.refused.is_none()
    }

    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    pub fn underlays(&self) -> &[String] {
        &self.underlays
    }

    /// The `ip` this grant runs.
    pub fn ip(&self) -> &Path {
        &self.ip
    }

    fn granted_or_refused(&self) -> Result<(), NotGranted> {
        match &self.refused {
            Some(why) => Err(NotGranted(format!("network devices: {why}"))),
            None => Ok(()),
        }
    }

    fn in_prefixes(&self, name: &str) -> bool {
        self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }

    /// `name` is a device name inside the grant's prefixes.
    pub fn check_name(&self, name: &str) -> Result<(), NotGranted> {
        self.granted_or_refused()?;
        if let Some(why) = name_problem(name) {
            return Err(NotGranted(format!("device `{name}`: the name {why}")));
        }
        if !self.in_prefixes(name) {
            return Err(NotGranted(format!(
                "device `{name}`: outside the granted prefixes ({})",
                self.prefixes.join(", ")
            )));
        }
        Ok(())
    }

    /// `underlay` is one the grant lets a VXLAN device run over.
    pub fn check_underlay(&self, underlay: &str) -> Result<(), NotGranted> {
        self.granted_or_refused()?;
        if self.underlays.iter().any(|u| u == underlay) {
            return Ok(());
        }
        Err(NotGranted(if self.underlays.is_empty() {
            format!("underlay `{underlay}`: the grant names no underlays (underlays = [...])")
        } else {
            format!(
                "underlay `{underlay}`: not a granted underlay ({})",
                self.underlays.join(", ")
            )
        }))
    }
}

/// Why a plugin may not touch a device: what it hears back as `denied`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotGranted(pub String);

impl std::fmt::Display for NotGranted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn denied(e: NotGranted) -> PluginError {
    PluginError::Denied(e.0)
}

/// The link capability: each operation checked against `policy`, made
/// idempotent as the contract says, and performed by `backend`.
pub struct Links<'a> {
    pub policy: &'a LinkPolicy,
    pub backend: &'a dyn LinkBackend,
    /// When the plugin call must be over.
    pub deadline: Instant,
}

impl Links<'_> {
    fn unavailable(e: String) -> PluginError {
        PluginError::Unavailable(e)
    }

    fn all(&self) -> Result<Vec<Device>, PluginError> {
        self.backend
            .devices(self.deadline)
            .map_err(Self::unavailable)
    }

    fn find(&self, name: &str) -> Result<Option<Device>, PluginError> {
        Ok(self.all()?.into_iter().find(|d| d.name == name))
    }

    fn existing(&self, name: &str) -> Result<Device, PluginError> {
        self.find(name)?
            .ok_or_else(|| PluginError::NotFound(format!("device `{name}`: there is none")))
    }

    fn apply(&self, op: &LinkOp) -> Result<(), PluginError> {
        self.backend
            .apply(op, self.deadline)
            .map_err(Self::unavailable)
    }

    /// The devices inside the grant's prefixes.
    pub fn list(&self) -> Result<Vec<Device>, PluginError> {
        self.policy.granted_or_refused().map_err(denied)?;
        Ok(self
            .all()?
            .into_iter()
            .filter(|d| self.policy.in_prefixes(&d.name))
            .collect())
    }

    /// Make a device (down); one of that name and kind already there is
    /// not an error.
    pub fn add(&self, name: &str, kind: &DeviceKind) -> Result<(), PluginError> {
        self.policy.check_name(name).map_err(denied)?;
        match kind {
            DeviceKind::Bridge | DeviceKind::Tap => {}
            DeviceKind::Vxlan(v) => self.check_vxlan(v)?,
            DeviceKind::Other(other) => {
                return Err(PluginError::Unsupported(format!(
                    "device `{name}`: a device of kind `{other}` is listed, never made (bridge, \
                     tap and vxlan are)"
                )));
            }
        }
        // A VXLAN device is the one asked for when it carries the same
        // segment (VNI) over the same underlay; the kernel reports its MTU
        // whether or not one was asked for, so that is not compared.
        let same = |d: &Device| match (&d.kind, kind) {
            (DeviceKind::Vxlan(a), DeviceKind::Vxlan(b)) => {
                a.vni == b.vni && a.underlay == b.underlay
            }
            (a, b) => a == b,
        };
        let other_kind = |d: &Device| {
            PluginError::Denied(format!(
                "device `{name}`: there is one already, a {}{}",
                d.kind.name(),
                match &d.kind {
                    DeviceKind::Vxlan(v) => format!(" of VNI {} over `{}`", v.vni, v.underlay),
                    _ => String::new(),
                }
            ))
        };
        match self.find(name)? {
            Some(d) if same(&d) => return Ok(()),
            Some(d) => return Err(other_kind(&d)),
            None => {}
        }
        let op = LinkOp::Add {
            name: name.to_string(),
            kind: kind.clone(),
        };
        match self.apply(&op) {
            Ok(()) => Ok(()),
            // Made meanwhile by another call: the same answer as before.
            Err(e) => match self.find(name)? {
                Some(d) if same(&d) => Ok(()),
                Some(d) => Err(other_kind(&d)),
                None => Err(e),
            },
        }
    }

    fn check_vxlan(&self, v: &Vxlan) -> Result<(), PluginError> {
        self.policy.check_underlay(&v.underlay).map_err(denied)?;
        let invalid = |m: String| Err(PluginError::InvalidInput(m));
        if !(1..=16_777_215).contains(&v.vni) {
            return invalid(format!("vxlan vni {}: must be 1 to 16777215", v.vni));
        }
        if v.port == 0 {
            return invalid("vxlan port 0: must be 1 to 65535 (4789 is IANA's)".into());
        }
        if let Some(mtu) = v.mtu
            && !(68..=65_535).contains(&mtu)
        {
            return invalid(format!("vxlan mtu {mtu}: must be 68 to 65535"));
        }
        if let Some(group) = &v.group {
            match group.parse::<IpAddr>() {
                Ok(ip) if ip.is_multicast() => {}
                _ => {
                    return invalid(format!(
                        "vxlan group `{group}`: not a multicast address (`239.0.0.1`)"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Make `name` a port of the bridge `master`, or of none.
    pub fn set_master(&self, name: &str, master: Option<&str>) -> Result<(), PluginError> {
        self.policy.check_name(name).map_err(denied)?;
        if let Some(m) = master {
            self.policy.check_name(m).map_err(denied)?;
        }
        let all = self.all()?;
        let find = |n: &str| all.iter().find(|d| d.name == n);
        let device = find(name)
            .ok_or_else(|| PluginError::NotFound(format!("device `{name}`: there is none")))?;
        if let Some(m) = master {
            match find(m) {
                None => {
                    return Err(PluginError::NotFound(format!(
                        "bridge `{m}`: there is none"
                    )));
                }
                Some(b) if b.kind != DeviceKind::Bridge => {
                    return Err(PluginError::Denied(format!(
                        "device `{m}`: a {}, not a bridge: only a bridge is a master",
                        b.kind.name()
                    )));
                }
                Some(_) if m == name => {
                    return Err(PluginError::InvalidInput(format!(
                        "bridge `{m}`: not a port of itself"
                    )));
                }
                Some(_) => {}
            }
        }
        if device.master.as_deref() == master {
            return Ok(());
        }
        self.apply(&LinkOp::SetMaster {
            name: name.to_string(),
            master: master.map(String::from),
        })
    }

    /// Bring a device up or down.
    pub fn set_up(&self, name: &str, up: bool) -> Result<(), PluginError> {
        self.policy.check_name(name).map_err(denied)?;
        if self.existing(name)?.up == up {
            return Ok(());
        }
        self.apply(&LinkOp::SetUp {
            name: name.to_string(),
            up,
        })
    }

    /// Give a device an address; one it has already is not an error.
    pub fn add_address(&self, name: &str, address: &str) -> Result<(), PluginError> {
        self.policy.check_name(name).map_err(denied)?;
        let address = parse_cidr(address).map_err(PluginError::InvalidInput)?;
        if self.existing(name)?.addresses.contains(&address) {
            return Ok(());
        }
        self.apply(&LinkOp::AddAddress {
            name: name.to_string(),
            address,
        })
    }

    /// Remove a device; one already gone is not an error.
    pub fn delete(&self, name: &str) -> Result<(), PluginError> {
        self.policy.check_name(name).map_err(denied)?;
        if self.find(name)?.is_none() {
            return Ok(());
        }
        match self.apply(&LinkOp::Delete {
            name: name.to_string(),
        }) {
            Ok(()) => Ok(()),
            // Deleted meanwhile by another call.
            Err(_) if self.find(name)?.is_none() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The backend a plugin's link calls use instead of `ip` (`plugin check`
/// sets [`MemoryLinks`]); none: the grant's `ip`.
#[derive(Default)]
pub struct LinkSlot(RwLock<Option<Arc<dyn LinkBackend>>>);

impl std::fmt::Debug for LinkSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSlot")
    }
}

impl LinkSlot {
    pub fn set(&self, backend: Arc<dyn LinkBackend>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(backend);
    }

    pub fn get(&self) -> Option<Arc<dyn LinkBackend>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

// ---- the host import ----

impl PluginState {
    /// Run `f` on the link capability of this store's grant, logging a
    /// refusal so the operator sees it whatever the plugin makes of it.
    fn links<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&Links<'_>) -> Result<T, PluginError>,
    ) -> Result<T, wit_types::Error> {
        let terms = self.terms().clone();
        let site = self.link_site.clone();
        let backend: Arc<dyn LinkBackend> = terms.link_backend.get().unwrap_or_else(|| {
            let ip = IpCommand::new(terms.link.ip());
            Arc::new(match site {
                Some(site) => ip.on(site),
                None => ip,
            })
        });
        let deadline = self
            .outbound
            .deadline
            .unwrap_or_else(|| Instant::now() + IP_TIMEOUT);
        let links = Links {
            policy: &terms.link,
            backend: &*backend,
            deadline,
        };
        let result = f(&links);
        if let Err(PluginError::Denied(why)) = &result {
            tracing::warn!(plugin = %terms.plugin, call = what, reason = %why, "link call denied");
        }
        result.map_err(Into::into)
    }
}

impl From<wit::DeviceKind> for DeviceKind {
    fn from(k: wit::DeviceKind) -> Self {
        match k {
            wit::DeviceKind::Bridge => DeviceKind::Bridge,
            wit::DeviceKind::Tap => DeviceKind::Tap,
            wit::DeviceKind::Vxlan(v) => DeviceKind::Vxlan(Vxlan {
                vni: v.vni,
                underlay: v.underlay,
                group: v.group,
                port: v.port,
                mtu: v.mtu,
            }),
            wit::DeviceKind::Other(o) => DeviceKind::Other(o),
        }
    }
}

impl From<DeviceKind> for wit::DeviceKind {
    fn from(k: DeviceKind) -> Self {
        match k {
            DeviceKind::Bridge => wit::DeviceKind::Bridge,
            DeviceKind::Tap => wit::DeviceKind::Tap,
            DeviceKind::Vxlan(v) => wit::DeviceKind::Vxlan(wit::Vxlan {
                vni: v.vni,
                underlay: v.underlay,
                group: v.group,
                port: v.port,
                mtu: v.mtu,
            }),
            DeviceKind::Other(o) => wit::DeviceKind::Other(o),
        }
    }
}

impl From<Device> for wit::Device {
    fn from(d: Device) -> Self {
        wit::Device {
            name: d.name,
            kind: d.kind.into(),
            master: d.master,
            up: d.up,
            addresses: d.addresses,
        }
    }
}

impl wit::Host for PluginState {
    fn list(&mut self) -> Result<Vec<wit::Device>, wit_types::Error> {
        self.links("list", |l| l.list())
            .map(|ds| ds.into_iter().map(Into::into).collect())
    }

    fn add(&mut self, name: String, kind: wit::DeviceKind) -> Result<(), wit_types::Error> {
        let kind = DeviceKind::from(kind);
        self.links("add", |l| l.add(&name, &kind))
    }

    fn set_master(&mut self, name: String, master: Option<String>) -> Result<(), wit_types::Error> {
        self.links("set-master", |l| l.set_master(&name, master.as_deref()))
    }

    fn set_up(&mut self, name: String, up: bool) -> Result<(), wit_types::Error> {
        self.links("set-up", |l| l.set_up(&name, up))
    }

    fn add_address(&mut self, name: String, address: String) -> Result<(), wit_types::Error> {
        self.links("add-address", |l| l.add_address(&name, &address))
    }

    fn delete(&mut self, name: String) -> Result<(), wit_types::Error> {
        self.links("delete", |l| l.delete(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(prefixes: &[&str], underlays: &[&str]) -> LinkPolicy {
        LinkPolicy::granted(&LinkGrant {
            prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            underlays: underlays.iter().map(|s| s.to_string()).collect(),
            ip: None,
        })
    }

    fn vxlan(vni: u32, underlay: &str) -> DeviceKind {
        DeviceKind::Vxlan(Vxlan {
            vni,
            underlay: underlay.into(),
            group: Some("239.0.0.1".into()),
            port: 4789,
            mtu: Some(1400),
        })
    }

    #[test]
    fn each_operation_is_one_argument_vector() {
        let s = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let name = || "flb-0".to_string();
        for (op, args) in [
            (
                LinkOp::Add {
                    name: name(),
                    kind: DeviceKind::Bridge,
                },
                s(&["link", "add", "name", "flb-0", "type", "bridge"]),
            ),
            (
                LinkOp::Add {
                    name: name(),
                    kind: DeviceKind::Tap,
                },
                s(&["tuntap", "add", "dev", "flb-0", "mode", "tap"]),
            ),
            (
                LinkOp::Add {
                    name: name(),
                    kind: vxlan(42, "eth1"),
                },
                s(&[
                    "link",
                    "add",
                    "name",
                    "flb-0",
                    "mtu",
                    "1400",
                    "type",
                    "vxlan",
                    "id",
                    "42",
                    "dev",
                    "eth1",
                    "dstport",
                    "4789",
                    "group",
                    "239.0.0.1",
                ]),
            ),
            (
                LinkOp::Add {
                    name: name(),
                    kind: DeviceKind::Vxlan(Vxlan {
                        vni: 7,
                        underlay: "eth1".into(),
                        group: None,
                        port: 8472,
                        mtu: None,
                    }),
                },
                s(&[
                    "link", "add", "name", "flb-0", "type", "vxlan", "id", "7", "dev", "eth1",
                    "dstport", "8472",
                ]),
            ),
            (
                LinkOp::SetMaster {
                    name: name(),
                    master: Some("flb-br".into()),
                },
                s(&["link", "set", "dev", "flb-0", "master", "flb-br"]),
            ),
            (
                LinkOp::SetMaster {
                    name: name(),
                    master: None,
                },
                s(&["link", "set", "dev", "flb-0", "nomaster"]),
            ),
            (
                LinkOp::SetUp {
                    name: name(),
                    up: true,
                },
                s(&["link", "set", "dev", "flb-0", "up"]),
            ),
            (
                LinkOp::SetUp {
                    name: name(),
                    up: false,
                },
                s(&["link", "set", "dev", "flb-0", "down"]),
            ),
            (
                LinkOp::AddAddress {
                    name: name(),
                    address: "10.0.0.1/24".into(),
                },
                s(&["addr", "add", "10.0.0.1/24", "dev", "flb-0"]),
            ),
            (
                LinkOp::Delete { name: name() },
                s(&["link", "del", "dev", "flb-0"]),
            ),
        ] {
            assert_eq!(op.ip_args(), args, "{op:?}");
        }
    }

    #[test]
    fn names_prefixes_and_addresses_are_checked() {
        assert_eq!(name_problem("flb-br0"), None);
        assert_eq!(name_problem("flb-0123456789a"), None, "15 bytes");
        assert!(
            name_problem("flb-0123456789ab")
                .unwrap()
                .contains("15 bytes")
        );
        assert!(name_problem("flb br").unwrap().contains("[A-Za-z0-9_.-]"));
        assert!(name_problem("flb;rm").is_some());
        assert!(name_problem("").is_some());
        assert!(name_problem("-help").unwrap().contains("`-`"));
        assert!(prefix_problem("").unwrap().contains("every device"));
        assert!(
            prefix_problem("toolong-x")
                .unwrap()
                .contains("8 characters")
        );
        assert_eq!(prefix_problem("flb-"), None);
        assert_eq!(parse_cidr("10.0.0.1/24"), Ok("10.0.0.1/24".into()));
        assert_eq!(parse_cidr("fd00:0::1/64"), Ok("fd00::1/64".into()));
        for bad in [
            "10.0.0.1",
            "10.0.0.1/33",
            "fd00::1/129",
            "host/24",
            "10.0.0.1/x",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_name_outside_the_prefixes_or_an_ungranted_underlay_is_denied_naming_both() {
        let p = grant(&["flb-", "fx."], &["eth1"]);
        assert!(p.check_name("flb-br0").is_ok());
        assert!(p.check_name("fx.t0").is_ok());
        let err = p.check_name("eth-evil0").unwrap_err().to_string();
        assert_eq!(
            err,
            "device `eth-evil0`: outside the granted prefixes (flb-, fx.)"
        );
        let err = p.check_name("flb-0123456789abc").unwrap_err().to_string();
        assert!(err.contains("longer than 15 bytes"), "{err}");
        assert!(p.check_underlay("eth1").is_ok());
        let err = p.check_underlay("eth0").unwrap_err().to_string();
        assert_eq!(err, "underlay `eth0`: not a granted underlay (eth1)");
        let none = grant(&["flb-"], &[]);
        assert!(
            none.check_underlay("eth1")
                .unwrap_err()
                .to_string()
                .contains("names no underlays")
        );
    }

    #[test]
    fn without_a_grant_every_call_is_denied_naming_the_grant() {
        let manifest = Manifest {
            capabilities: crate::manifest::Capabilities {
                link: true,
                ..Default::default()
            },
            ..Manifest::bare("bridge", crate::PluginKind::Plumbing)
        };
        let policy = LinkPolicy::new(&manifest, &Grant::default());
        let backend = MemoryLinks::new();
        let links = Links {
            policy: &policy,
            backend: &backend,
            deadline: Instant::now() + IP_TIMEOUT,
        };
        for result in [
            links.list().map(|_| ()),
            links.add("flb-br0", &DeviceKind::Bridge),
            links.delete("flb-br0"),
        ] {
            match result {
                Err(PluginError::Denied(why)) => {
                    assert!(why.contains("no [plugins.bridge.link] grant"), "{why}")
                }
                other => panic!("{other:?}"),
            }
        }
        // Granted, but the manifest does not ask: still nothing.
        let grant = Grant {
            link: Some(LinkGrant {
                prefixes: vec!["flb-".into()],
                ..Default::default()
            }),
            ..Grant::default()
        };
        let undeclared = LinkPolicy::new(
            &Manifest::bare("bridge", crate::PluginKind::Plumbing),
            &grant,
        );
        let err = undeclared.check_name("flb-br0").unwrap_err().to_string();
        assert!(err.contains("does not declare capabilities.link"), "{err}");
        assert!(LinkPolicy::new(&manifest, &grant).is_granted());
    }

    #[test]
    fn operations_are_idempotent_and_refuse_other_kinds() {
        let policy = grant(&["flb-"], &["eth1"]);
        let backend = MemoryLinks::with([Device {
            name: "eth1".into(),
            kind: DeviceKind::Other("ether".into()),
            master: None,
            up: true,
            addresses: vec![],
        }]);
        let links = Links {
            policy: &policy,
            backend: &backend,
            deadline: Instant::now() + IP_TIMEOUT,
        };
        links.add("flb-br0", &DeviceKind::Bridge).unwrap();
        links.add("flb-br0", &DeviceKind::Bridge).unwrap();
        let err = links.add("flb-br0", &DeviceKind::Tap).unwrap_err();
        assert_eq!(
            err,
            PluginError::Denied("device `flb-br0`: there is one already, a bridge".into())
        );
        links.add("flb-vx0", &vxlan(42, "eth1")).unwrap();
        links.add("flb-vx0", &vxlan(42, "eth1")).unwrap();
        assert!(matches!(
            links.add("flb-vx0", &vxlan(43, "eth1")),
            Err(PluginError::Denied(m)) if m.contains("VNI 42")
        ));
        assert!(matches!(
            links.add("flb-vx1", &vxlan(42, "eth0")),
            Err(PluginError::Denied(m)) if m.contains("underlay `eth0`")
        ));
        assert!(matches!(
            links.add("flb-vx1", &vxlan(0, "eth1")),
            Err(PluginError::InvalidInput(m)) if m.contains("vni 0")
        ));
        assert!(matches!(
            links.add("flb-x", &DeviceKind::Other("veth".into())),
            Err(PluginError::Unsupported(_))
        ));
        links.add("flb-t0", &DeviceKind::Tap).unwrap();
        links.set_master("flb-t0", Some("flb-br0")).unwrap();
        links.set_master("flb-t0", Some("flb-br0")).unwrap();
        assert!(matches!(
            links.set_master("flb-br0", Some("flb-t0")),
            Err(PluginError::Denied(m)) if m.contains("not a bridge")
        ));
        // The host's own interfaces are never a port nor a master.
        assert!(matches!(
            links.set_master("eth1", Some("flb-br0")),
            Err(PluginError::Denied(_))
        ));
        links.set_up("flb-br0", true).unwrap();
        links.add_address("flb-br0", "10.0.0.1/24").unwrap();
        links.add_address("flb-br0", "10.0.0.1/24").unwrap();
        assert!(matches!(
            links.add_address("flb-br0", "10.0.0.1"),
            Err(PluginError::InvalidInput(_))
        ));
        assert!(matches!(
            links.set_up("flb-gone", true),
            Err(PluginError::NotFound(_))
        ));
        let listed = links.list().unwrap();
        let names: Vec<&str> = listed.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            ["flb-br0", "flb-t0", "flb-vx0"],
            "eth1 is not listed"
        );
        let br = &listed[0];
        assert!(br.up && br.addresses == ["10.0.0.1/24"]);
        assert_eq!(listed[1].master.as_deref(), Some("flb-br0"));
        links.delete("flb-br0").unwrap();
        links.delete("flb-br0").unwrap();
        assert_eq!(links.list().unwrap()[0].master, None);
    }

    #[test]
    fn ip_json_reads_kinds_masters_flags_and_addresses() {
        let text = r#"[
 {"ifname":"lo","flags":["LOOPBACK","UP"],"link_type":"loopback","addr_info":[{"local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
 {"ifname":"flb-br0","flags":["BROADCAST","UP"],"linkinfo":{"info_kind":"bridge"},
  "addr_info":[{"local":"10.0.0.1","prefixlen":24,"scope":"global"},{"local":"fe80::1","prefixlen":64,"scope":"link"}]},
 {"ifname":"flb-t0","flags":["BROADCAST"],"master":"flb-br0","linkinfo":{"info_kind":"tun","info_data":{"type":"tap"}}},
 {"ifname":"flb-vx0","mtu":1400,"flags":[],"linkinfo":{"info_kind":"vxlan","info_data":{"id":42,"group":"239.0.0.1","link":"eth1","port":4789}}},
 {"ifname":"v0","flags":[],"linkinfo":{"info_kind":"veth"}}
]"#;
        let d = parse_ip_json(text).unwrap();
        assert_eq!(d[0].kind, DeviceKind::Other("loopback".into()));
        assert_eq!(d[1].kind, DeviceKind::Bridge);
        assert!(d[1].up);
        assert_eq!(d[1].addresses, ["10.0.0.1/24"]);
        assert_eq!(d[2].kind, DeviceKind::Tap);
        assert_eq!(d[2].master.as_deref(), Some("flb-br0"));
        assert!(!d[2].up);
        assert_eq!(d[3].kind, vxlan(42, "eth1"));
        assert_eq!(d[4].kind, DeviceKind::Other("veth".into()));
        assert!(parse_ip_json("not json").is_err());
    }
}
