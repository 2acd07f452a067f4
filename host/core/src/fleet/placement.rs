//! Where each VM goes: the host that fits it best among those that can
//! take it, as OpenNebula's scheduler chooses.
//!
//! A host takes a VM when
//! - it is MONITORED with a known capacity (INIT, ERROR, DISABLED and
//!   OFFLINE hosts never take one);
//! - what is placed there plus the VM fits its total, CPU and memory
//!   alike (never over-committed);
//! - the VM's `SCHED_REQUIREMENTS` hold for it;
//! - its role's group policy allows it: anti-affined, no VM of the same
//!   role is there; affined, the role's VMs are there, if it has any
//!   (on several hosts, as a change of policy may leave them: any of
//!   those).
//!
//! Among those hosts the VM goes to the highest `SCHED_RANK` if it has
//! one, then by the operator's [`Strategy`], then to the lowest host id:
//! the same hosts and VMs always give the same choice.
//!
//! The [`Placer`] books each VM it places, so the next one sees it; it
//! keeps the hosts that take VMs ordered by the strategy, so a VM without
//! a rank usually costs a few hosts' checks, not all of them. A VM with a
//! rank is checked against every host, once. When no host can take a VM,
//! [`Unplaced`] says why each host refused, in a line for the service log.

use super::host::{Host, HostState};
use super::requirements::{Attributes, Rank, Requirements, Value, parse_number};
use crate::model::FieldError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

/// The VM's MEMORY when its template has none, in MB: the qemu driver's
/// default.
pub const DEFAULT_MEMORY_MB: u64 = 256;
/// The VM's CPU when its template has none.
pub const DEFAULT_CPU: f64 = 1.0;
/// CPU is a fraction: sums of fractions may miss the total by a rounding.
const CPU_EPSILON: f64 = 1e-9;
/// Up to this many hosts, [`Unplaced`] names each with its reason;
/// above, it groups them by reason.
const LISTED_HOSTS: usize = 5;
/// Hosts named per reason when grouped.
const NAMED_PER_REASON: usize = 3;

/// Which host, among those that can take a VM, it goes to when it has no
/// `SCHED_RANK` (or for hosts of equal rank).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The host with the most VMs first: fill hosts one by one, keeping
    /// others free (OpenNebula's packing policy, `RANK = RUNNING_VMS`).
    Pack,
    /// The host with the fewest VMs first: spread VMs over the hosts
    /// (OpenNebula's striping policy, `RANK = -RUNNING_VMS`).
    #[default]
    Spread,
    /// The host with the most free CPU first (OpenNebula's load-aware
    /// policy, `RANK = FREE_CPU`).
    Load,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Pack => "pack",
            Strategy::Spread => "spread",
            Strategy::Load => "load",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Strategy, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pack" => Ok(Strategy::Pack),
            "spread" => Ok(Strategy::Spread),
            "load" => Ok(Strategy::Load),
            _ => Err(format!("`{s}` is not a strategy: pack, spread or load")),
        }
    }
}

/// OpenNebula's VM group role policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GroupPolicy {
    /// All the role's VMs on one host.
    Affined,
    /// Each of the role's VMs on a host of its own.
    AntiAffined,
}

/// The role a VM belongs to, for its policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Group {
    /// Names the role, in reasons too: `service 3 role web`.
    pub key: String,
    pub policy: GroupPolicy,
}

/// What one VM asks of a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demand {
    /// In CPUs (OpenNebula's `CPU`; 0.5 is half a CPU).
    pub cpu: f64,
    pub memory_mb: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements: Option<Requirements>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<Rank>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
}

impl Demand {
    /// Read from a merged VM template (attribute names in any case): `CPU`
    /// (a number or a numeric string above 0, default 1), `MEMORY` (a
    /// whole number of MB above 0, default 256), `SCHED_REQUIREMENTS` and
    /// `SCHED_RANK` (empty is none). `group` is left for the caller.
    pub fn from_template(template: &serde_json::Value) -> Result<Demand, FieldError> {
        let Some(map) = template.as_object() else {
            return Err(FieldError::new("template", "must be an object"));
        };
        let get = |name: &str| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        // A number or a string; `None` for anything else.
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Some(s.trim().to_string()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let cpu = match get("CPU") {
            None => DEFAULT_CPU,
            Some(v) => text(v)
                .as_deref()
                .and_then(parse_number)
                .filter(|c| *c > 0.0)
                .ok_or_else(|| FieldError::new("CPU", "must be a number of CPUs above 0"))?,
        };
        let memory_mb = match get("MEMORY") {
            None => DEFAULT_MEMORY_MB,
            Some(v) => text(v)
                .and_then(|t| t.parse::<u64>().ok())
                .filter(|m| *m > 0)
                .ok_or_else(|| FieldError::new("MEMORY", "must be a whole number of MB above 0"))?,
        };
        let expression = |name: &str| -> Result<Option<String>, FieldError> {
            match get(name) {
                None => Ok(None),
                Some(v) => match text(v) {
                    Some(t) if t.is_empty() => Ok(None),
                    Some(t) => Ok(Some(t)),
                    None => Err(FieldError::new(name, "must be a string")),
                },
            }
        };
        let requirements = expression("SCHED_REQUIREMENTS")?
            .map(|t| Requirements::parse(&t))
            .transpose()
            .map_err(|e| FieldError::new("SCHED_REQUIREMENTS", e.to_string()))?;
        let rank = expression("SCHED_RANK")?
            .map(|t| Rank::parse(&t))
            .transpose()
            .map_err(|e| FieldError::new("SCHED_RANK", e.to_string()))?;
        Ok(Demand {
            cpu,
            memory_mb,
            requirements,
            rank,
            group: None,
        })
    }
}

/// What is placed on a host: the sum of its VMs' demands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    /// In CPUs.
    pub cpu: f64,
    pub memory_mb: u64,
    pub vms: u32,
    /// The VMs of each group (by key) placed there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, u32>,
}

impl Allocation {
    /// Count one more VM.
    pub fn add(&mut self, demand: &Demand) {
        self.cpu += demand.cpu;
        self.memory_mb = self.memory_mb.saturating_add(demand.memory_mb);
        self.vms = self.vms.saturating_add(1);
        if let Some(group) = &demand.group {
            *self.groups.entry(group.key.clone()).or_default() += 1;
        }
    }

    /// Count one VM less (never below nothing).
    pub fn remove(&mut self, demand: &Demand) {
        self.cpu -= demand.cpu;
        if self.cpu < CPU_EPSILON {
            self.cpu = 0.0;
        }
        self.memory_mb = self.memory_mb.saturating_sub(demand.memory_mb);
        self.vms = self.vms.saturating_sub(1);
        if let Some(group) = &demand.group
            && let Some(n) = self.groups.get_mut(&group.key)
        {
            if *n > 1 {
                *n -= 1;
            } else {
                self.groups.remove(&group.key);
            }
        }
    }
}

/// A host's attributes as `SCHED_REQUIREMENTS` and `SCHED_RANK` read them
/// (the table in `requirements.rs`), computed when read: nothing is
/// collected per VM.
#[derive(Debug, Clone, Copy)]
pub struct HostAttributes<'a> {
    pub host: &'a Host,
    pub allocation: &'a Allocation,
}

impl<'a> HostAttributes<'a> {
    pub fn new(host: &'a Host, allocation: &'a Allocation) -> HostAttributes<'a> {
        HostAttributes { host, allocation }
    }

    /// The built-in attributes' names, in the order `to_map` lists them.
    pub const NAMES: [&'static str; 10] = [
        "ID",
        "NAME",
        "STATE",
        "MAX_CPU",
        "CPU_USAGE",
        "FREE_CPU",
        "MAX_MEM",
        "MEM_USAGE",
        "FREE_MEM",
        "RUNNING_VMS",
    ];

    /// Every attribute with its value, labels included: what a user's
    /// expression can read on this host.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        for (key, value) in &self.host.labels {
            map.entry(key.to_ascii_uppercase())
                .or_insert_with(|| value.clone());
        }
        for name in Self::NAMES {
            match self.get(name) {
                Some(Value::Number(n)) => map.insert(name.into(), n.to_string()),
                Some(Value::Text(t)) => map.insert(name.into(), t.into()),
                None => map.remove(name),
            };
        }
        map
    }
}

/// CPUs in OpenNebula's unit (× 100), without the noise of summed
/// fractions.
fn cpu_units(cpus: f64) -> f64 {
    (cpus * 100.0 * 1e6).round() / 1e6
}

impl Attributes for HostAttributes<'_> {
    fn get(&self, name: &str) -> Option<Value<'_>> {
        let total = self.host.total;
        let a = self.allocation;
        let number = |n: f64| Some(Value::Number(n));
        match name {
            "ID" => number(self.host.id as f64),
            "NAME" => Some(Value::Text(&self.host.name)),
            "STATE" => Some(Value::Text(self.host.state.as_str())),
            "MAX_CPU" => total.and_then(|t| number(cpu_units(t.cpu))),
            "CPU_USAGE" => number(cpu_units(a.cpu)),
            "FREE_CPU" => total.and_then(|t| number(cpu_units(t.cpu - a.cpu))),
            "MAX_MEM" => total.and_then(|t| number(t.memory_mb as f64 * 1024.0)),
            "MEM_USAGE" => number(a.memory_mb as f64 * 1024.0),
            "FREE_MEM" => {
                total.and_then(|t| number((t.memory_mb as f64 - a.memory_mb as f64) * 1024.0))
            }
            "RUNNING_VMS" => number(f64::from(a.vms)),
            _ => match self.host.labels.get(name) {
                Some(v) => Some(Value::Text(v)),
                // Labels are usually upper-case already; else find it in
                // any case (a host has at most 64).
                None => self
                    .host
                    .labels
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| Value::Text(v.as_str())),
            },
        }
    }
}

/// Why one host did not take a VM.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// Not MONITORED: INIT, ERROR, DISABLED or OFFLINE, with the host's
    /// reason if it has one.
    State {
        state: HostState,
        reason: Option<Arc<str>>,
    },
    /// MONITORED but no monitoring said what it has.
    NoCapacity,
    /// The VM's `SCHED_REQUIREMENTS` are false there.
    Requirements(Requirements),
    /// The host has a VM of the VM's anti-affined role (the group's key).
    AntiAffined(Arc<str>),
    /// The VM's role is affined and its VMs are on another host (the
    /// first of them).
    Affined {
        group: Arc<str>,
        host: Arc<str>,
    },
    Memory {
        free_mb: u64,
        needs_mb: u64,
    },
    Cpu {
        free: f64,
        needs: f64,
    },
}

impl fmt::Display for Refused {
    /// The reason for one host: `512 MB of memory free, needs 1024`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::State { state, reason } => match reason {
                Some(r) => write!(f, "{state} ({r})"),
                None => write!(f, "{state}"),
            },
            Refused::NoCapacity => f.write_str("its capacity is not known yet"),
            Refused::Requirements(r) => write!(f, "SCHED_REQUIREMENTS `{r}` is false"),
            Refused::AntiAffined(group) => {
                write!(f, "already has a VM of {group}, which is anti-affined")
            }
            Refused::Affined { group, host } => {
                write!(f, "{group} is affined to {host}")
            }
            Refused::Memory { free_mb, needs_mb } => {
                write!(f, "{free_mb} MB of memory free, needs {needs_mb}")
            }
            Refused::Cpu { free, needs } => {
                write!(f, "{} CPU free, needs {}", cpus(*free), cpus(*needs))
            }
        }
    }
}

/// A number of CPUs for a reason: `0.5`, `2`, `0.33`.
fn cpus(n: f64) -> String {
    let rounded = (n * 100.0).round() / 100.0;
    // `-0` reads badly.
    (rounded + 0.0).to_string()
}

/// One host's refusal.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub host_id: u64,
    pub host: Arc<str>,
    pub reason: Refused,
}

/// Why no host could take a VM: every host's refusal, in host id order.
#[derive(Debug, Clone, PartialEq)]
pub struct Unplaced {
    pub refusals: Vec<Refusal>,
}

impl Unplaced {
    /// How many hosts refused (all the placer had).
    pub fn hosts(&self) -> usize {
        self.refusals.len()
    }
}

/// The kinds [`Unplaced`] groups refusals by, in the order it lists
/// kinds of the same count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    State(u32),
    NoCapacity,
    Requirements,
    AntiAffined,
    Affined,
    Memory,
    Cpu,
}

fn kind(reason: &Refused) -> Kind {
    match reason {
        Refused::State { state, .. } => Kind::State(state.number()),
        Refused::NoCapacity => Kind::NoCapacity,
        Refused::Requirements(_) => Kind::Requirements,
        Refused::AntiAffined(_) => Kind::AntiAffined,
        Refused::Affined { .. } => Kind::Affined,
        Refused::Memory { .. } => Kind::Memory,
        Refused::Cpu { .. } => Kind::Cpu,
    }
}

impl fmt::Display for Unplaced {
    /// One line for the service log: each host's reason when there are a
    /// few; grouped by reason, a few hosts named each, when many.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.refusals.len();
        if n == 0 {
            return f.write_str("no host is registered for this driver");
        }
        write!(
            f,
            "no host can take it ({n} host{}): ",
            if n == 1 { "" } else { "s" }
        )?;
        if n <= LISTED_HOSTS {
            for (i, r) in self.refusals.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                write!(f, "{}: {}", r.host, r.reason)?;
            }
            return Ok(());
        }
        let mut kinds: BTreeMap<Kind, Vec<&Refusal>> = BTreeMap::new();
        for r in &self.refusals {
            kinds.entry(kind(&r.reason)).or_default().push(r);
        }
        let mut kinds: Vec<(Kind, Vec<&Refusal>)> = kinds.into_iter().collect();
        kinds.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        for (i, (_, refusals)) in kinds.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let count = refusals.len();
            let one = count == 1;
            let mut names = refusals
                .iter()
                .take(NAMED_PER_REASON)
                .map(|r| &*r.host)
                .collect::<Vec<_>>()
                .join(", ");
            if count > NAMED_PER_REASON {
                names.push_str(", …");
            }
            match &refusals[0].reason {
                Refused::State { state, .. } => write!(
                    f,
                    "{count} {} {state} ({names})",
                    if one { "is" } else { "are" }
                )?,
                Refused::NoCapacity => write!(
                    f,
                    "{count} {} no known capacity yet ({names})",
                    if one { "has" } else { "have" }
                )?,
                Refused::Requirements(r) => write!(
                    f,
                    "{count} {} not meet SCHED_REQUIREMENTS `{r}` ({names})",
                    if one { "does" } else { "do" }
                )?,
                Refused::AntiAffined(group) => write!(
                    f,
                    "{count} already {} a VM of {group}, which is anti-affined ({names})",
                    if one { "has" } else { "have" }
                )?,
                Refused::Affined { group, host } => write!(
                    f,
                    "{count} {} not {host}, to which {group} is affined ({names})",
                    if one { "is" } else { "are" }
                )?,
                Refused::Memory { needs_mb, .. } => {
                    let most = refusals
                        .iter()
                        .filter_map(|r| match r.reason {
                            Refused::Memory { free_mb, .. } => Some(free_mb),
                            _ => None,
                        })
                        .max()
                        .unwrap_or(0);
                    write!(
                        f,
                        "{count} lack{} memory ({names}; most free {most} MB, needs {needs_mb})",
                        if one { "s" } else { "" }
                    )?
                }
                Refused::Cpu { needs, .. } => {
                    let most = refusals
                        .iter()
                        .filter_map(|r| match r.reason {
                            Refused::Cpu { free, .. } => Some(free),
                            _ => None,
                        })
                        .fold(f64::NEG_INFINITY, f64::max);
                    write!(
                        f,
                        "{count} lack{} CPU ({names}; most free {} CPU, needs {})",
                        if one { "s" } else { "" },
                        cpus(most),
                        cpus(*needs)
                    )?
                }
            }
        }
        Ok(())
    }
}

impl std::error::Error for Unplaced {}

/// A host as the placer holds it.
#[derive(Debug)]
struct Slot {
    host: Host,
    name: Arc<str>,
    reason: Option<Arc<str>>,
    allocation: Allocation,
    /// MONITORED with a known total: in `order`.
    takes_vms: bool,
}

/// Chooses a host for each VM, booking each choice.
#[derive(Debug)]
pub struct Placer {
    strategy: Strategy,
    /// By host id.
    slots: Vec<Slot>,
    /// The hosts that take VMs, in the strategy's order: (key, host id,
    /// slot).
    order: BTreeSet<(u64, u64, usize)>,
    /// The slots that hold VMs of each group.
    groups: HashMap<String, BTreeSet<usize>>,
}

/// An `f64` as a `u64` of the same order.
fn ordered(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

impl Placer {
    /// The hosts, each with what is already placed on it.
    pub fn new(hosts: Vec<(Host, Allocation)>, strategy: Strategy) -> Placer {
        let mut slots: Vec<Slot> = hosts
            .into_iter()
            .map(|(host, allocation)| Slot {
                name: host.name.as_str().into(),
                reason: host.reason.as_deref().map(Arc::from),
                takes_vms: host.state == HostState::Monitored && host.total.is_some(),
                host,
                allocation,
            })
            .collect();
        slots.sort_by_key(|s| s.host.id);
        let mut placer = Placer {
            strategy,
            slots,
            order: BTreeSet::new(),
            groups: HashMap::new(),
        };
        for i in 0..placer.slots.len() {
            if placer.slots[i].takes_vms {
                placer.order.insert(placer.entry(i));
            }
            // A count of 0 is no VM: it holds nothing back.
            placer.slots[i].allocation.groups.retain(|_, n| *n > 0);
            for group in placer.slots[i].allocation.groups.keys() {
                placer.groups.entry(group.clone()).or_default().insert(i);
            }
        }
        placer
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The hosts with what is placed on each now, by id.
    pub fn hosts(&self) -> impl Iterator<Item = (&Host, &Allocation)> {
        self.slots.iter().map(|s| (&s.host, &s.allocation))
    }

    /// What is placed on a host now.
    pub fn allocation(&self, host_id: u64) -> Option<&Allocation> {
        self.slot(host_id).map(|i| &self.slots[i].allocation)
    }

    fn slot(&self, host_id: u64) -> Option<usize> {
        self.slots
            .binary_search_by_key(&host_id, |s| s.host.id)
            .ok()
    }

    /// The strategy's key: lower goes first.
    fn key(&self, i: usize) -> u64 {
        let s = &self.slots[i];
        match self.strategy {
            Strategy::Pack => ordered(-f64::from(s.allocation.vms)),
            Strategy::Spread => ordered(f64::from(s.allocation.vms)),
            Strategy::Load => {
                let total = s.host.total.map_or(0.0, |t| t.cpu);
                ordered(-(total - s.allocation.cpu))
            }
        }
    }

    fn entry(&self, i: usize) -> (u64, u64, usize) {
        (self.key(i), self.slots[i].host.id, i)
    }

    fn attributes(&self, i: usize) -> HostAttributes<'_> {
        HostAttributes::new(&self.slots[i].host, &self.slots[i].allocation)
    }

    /// Whether the group policy lets the VM go to slot `i`: `held` the
    /// slots that hold VMs of its group, `key` the group's key.
    fn group_allows(
        &self,
        i: usize,
        policy: GroupPolicy,
        key: &Arc<str>,
        held: Option<&BTreeSet<usize>>,
    ) -> Result<(), Refused> {
        let here = held.is_some_and(|h| h.contains(&i));
        match policy {
            GroupPolicy::AntiAffined if here => Err(Refused::AntiAffined(key.clone())),
            GroupPolicy::Affined if !here => match held.and_then(|h| h.first()) {
                Some(&first) => Err(Refused::Affined {
                    group: key.clone(),
                    host: self.slots[first].name.clone(),
                }),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// The slots that hold VMs of the demand's group.
    fn held(&self, demand: &Demand) -> Option<&BTreeSet<usize>> {
        demand.group.as_ref().and_then(|g| self.groups.get(&g.key))
    }

    /// Whether slot `i` (which takes VMs) can take the demand: the cheap
    /// checks first.
    fn fits(&self, i: usize, demand: &Demand, held: Option<&BTreeSet<usize>>) -> bool {
        let s = &self.slots[i];
        let Some(total) = s.host.total else {
            return false;
        };
        s.allocation.memory_mb.saturating_add(demand.memory_mb) <= total.memory_mb
            && s.allocation.cpu + demand.cpu <= total.cpu + CPU_EPSILON
            && demand.group.as_ref().is_none_or(|g| {
                let here = held.is_some_and(|h| h.contains(&i));
                match g.policy {
                    GroupPolicy::AntiAffined => !here,
                    GroupPolicy::Affined => here || held.is_none(),
                }
            })
            && demand
                .requirements
                .as_ref()
                .is_none_or(|r| r.holds(&self.attributes(i)))
    }

    /// Why slot `i` cannot take the demand, in the order a user reads
    /// reasons; `None` if it can. `group` is the demand's group's policy
    /// and key, made once for all the hosts.
    fn refusal(
        &self,
        i: usize,
        demand: &Demand,
        group: Option<&(GroupPolicy, Arc<str>)>,
    ) -> Option<Refused> {
        let s = &self.slots[i];
        if s.host.state != HostState::Monitored {
            return Some(Refused::State {
                state: s.host.state,
                reason: s.reason.clone(),
            });
        }
        let Some(total) = s.host.total else {
            return Some(Refused::NoCapacity);
        };
        if let Some(r) = &demand.requirements
            && !r.holds(&self.attributes(i))
        {
            return Some(Refused::Requirements(r.clone()));
        }
        if let Some((policy, key)) = group
            && let Err(refused) = self.group_allows(i, *policy, key, self.held(demand))
        {
            return Some(refused);
        }
        if s.allocation.memory_mb.saturating_add(demand.memory_mb) > total.memory_mb {
            return Some(Refused::Memory {
                free_mb: total.memory_mb.saturating_sub(s.allocation.memory_mb),
                needs_mb: demand.memory_mb,
            });
        }
        if s.allocation.cpu + demand.cpu > total.cpu + CPU_EPSILON {
            return Some(Refused::Cpu {
                free: (total.cpu - s.allocation.cpu).max(0.0),
                needs: demand.cpu,
            });
        }
        None
    }

    /// Choose a host for the VM and book it there, so later calls see it.
    pub fn place(&mut self, demand: &Demand) -> Result<u64, Unplaced> {
        let held = self.held(demand);
        let chosen = match &demand.rank {
            None => self
                .order
                .iter()
                .find(|&&(_, _, i)| self.fits(i, demand, held))
                .map(|&(_, _, i)| i),
            Some(rank) => {
                // Highest rank, then the strategy's order (lower key),
                // then the lowest id: `order` walks keys and ids upwards,
                // so only a strictly higher rank replaces the best.
                let mut best: Option<(f64, usize)> = None;
                for &(_, _, i) in &self.order {
                    if !self.fits(i, demand, held) {
                        continue;
                    }
                    let value = rank.value(&self.attributes(i));
                    if best.is_none_or(|(b, _)| value > b) {
                        best = Some((value, i));
                    }
                }
                best.map(|(_, i)| i)
            }
        };
        match chosen {
            Some(i) => {
                self.book(i, demand, true);
                Ok(self.slots[i].host.id)
            }
            None => {
                let group = demand
                    .group
                    .as_ref()
                    .map(|g| (g.policy, Arc::<str>::from(g.key.as_str())));
                Err(Unplaced {
                    refusals: (0..self.slots.len())
                        .map(|i| Refusal {
                            host_id: self.slots[i].host.id,
                            host: self.slots[i].name.clone(),
                            // A host that fits but was not chosen cannot
                            // happen: one that fits is chosen.
                            reason: self
                                .refusal(i, demand, group.as_ref())
                                .unwrap_or(Refused::NoCapacity),
                        })
                        .collect(),
                })
            }
        }
    }

    /// Undo a booking: the create the VM's driver refused. A host it does
    /// not know is ignored.
    pub fn release(&mut self, host_id: u64, demand: &Demand) {
        if let Some(i) = self.slot(host_id) {
            self.book(i, demand, false);
        }
    }

    fn book(&mut self, i: usize, demand: &Demand, add: bool) {
        let indexed = self.slots[i].takes_vms;
        if indexed {
            self.order.remove(&self.entry(i));
        }
        let allocation = &mut self.slots[i].allocation;
        if add {
            allocation.add(demand);
        } else {
            allocation.remove(demand);
        }
        if let Some(group) = &demand.group {
            let still = self.slots[i].allocation.groups.contains_key(&group.key);
            match (add, still) {
                (true, _) => {
                    if let Some(held) = self.groups.get_mut(&group.key) {
                        held.insert(i);
                    } else {
                        self.groups.insert(group.key.clone(), BTreeSet::from([i]));
                    }
                }
                (false, false) => {
                    if let Some(held) = self.groups.get_mut(&group.key) {
                        held.remove(&i);
                        if held.is_empty() {
                            self.groups.remove(&group.key);
                        }
                    }
                }
                (false, true) => {}
            }
        }
        if indexed {
            self.order.insert(self.entry(i));
        }
    }
}

#[cfg(test)]
mod tests;
