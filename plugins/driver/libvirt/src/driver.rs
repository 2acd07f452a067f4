//! The driver: VMs as libvirt domains on the fleet's hosts, reached with
//! virsh. Everything it asks of the host goes through [`Host`].

use crate::host::Host;
use crate::settings::{HostAddr, Settings, is_host_name};
use crate::store::{Store, VmRecord, vm_id};
use crate::template::{self, is_domain_name};
use crate::virsh::{self, DomState, Failure, VIRSH};
use crate::xml;
use flotilla_plugin_sdk::driver::*;
use std::collections::{BTreeMap, HashMap};

pub const DESCRIPTION: &str =
    "Runs each VM as a libvirt domain on a remote host (QEMU/TCG or KVM), through virsh";

/// How a virsh command ended.
enum Ran {
    Ok(String),
    /// It ran and failed: what it printed.
    Failed(String),
}

pub struct LibvirtDriver<H: Host> {
    host: H,
    /// Each VM's last CPU sample (ns of CPU time, ms of wall time), for
    /// its CPU percentage.
    cpu: HashMap<String, (u64, u64)>,
    /// Each host's last CPU times, for its used CPU.
    node_cpu: HashMap<String, virsh::CpuTimes>,
}

fn status(id: &str, state: VmState, reason: Option<String>) -> VmStatus {
    VmStatus {
        id: id.to_string(),
        state,
        monitoring: Vec::new(),
        user_attributes: Vec::new(),
        reason,
    }
}

/// Flotilla's state of a domain libvirt reports in `state`.
pub fn vm_state(state: DomState, hold: bool) -> (VmState, Option<String>) {
    match state {
        DomState::Running | DomState::ShuttingDown => (VmState::Running, None),
        DomState::Paused | DomState::ShutOff if hold => (VmState::Hold, None),
        DomState::Paused | DomState::PmSuspended => (VmState::Suspended, None),
        DomState::ShutOff => (VmState::Poweroff, None),
        DomState::Crashed => (VmState::Failed, Some("the domain crashed".into())),
        DomState::Other => (
            VmState::Unknown,
            Some("libvirt reports the domain in no known state".into()),
        ),
    }
}

impl<H: Host> LibvirtDriver<H> {
    pub fn with_host(host: H) -> Self {
        LibvirtDriver {
            host,
            cpu: HashMap::new(),
            node_cpu: HashMap::new(),
        }
    }

    /// The host, for tests.
    pub fn host(&mut self) -> &mut H {
        &mut self.host
    }

    fn settings(&self) -> Result<Settings, Error> {
        Settings::from_lookup(|k| self.host.config(k))
    }

    fn open(&self) -> Result<(Settings, Store), Error> {
        let s = self.settings()?;
        let store = Store::new(&s.state_dir);
        store.check_reachable()?;
        Ok((s, store))
    }

    /// Run `virsh -q -c <uri> <command…>`. A run that could not be made
    /// (not granted, past its time) is the error; one that failed is
    /// [`Ran::Failed`].
    fn virsh(&mut self, s: &Settings, host: &HostAddr, command: &[&str]) -> Result<Ran, Error> {
        let args = virsh::args(&host.uri, command);
        match self.host.run(VIRSH, &args, s.timeout_ms) {
            Ok(f) if virsh::succeeded(f.exit_code, &f.output) => Ok(Ran::Ok(f.output)),
            Ok(f) => Ok(Ran::Failed(f.output)),
            Err(Error::Unavailable(m)) => Err(Error::Unavailable(format!(
                "host {} ({}) does not answer: {m}",
                host.name, host.uri
            ))),
            Err(e) => Err(e),
        }
    }

    /// [`Self::virsh`], a failure as the driver's error.
    fn virsh_ok(
        &mut self,
        s: &Settings,
        host: &HostAddr,
        command: &[&str],
    ) -> Result<String, Error> {
        match self.virsh(s, host, command)? {
            Ran::Ok(out) => Ok(out),
            Ran::Failed(out) => Err(virsh::error(
                &format!("host {} ({}): {}", host.name, host.uri, command.join(" ")),
                &out,
            )),
        }
    }

    /// A command whose failure for `ok` reasons is success (destroying a
    /// domain that is not running, undefining one that is gone).
    fn virsh_unless(
        &mut self,
        s: &Settings,
        host: &HostAddr,
        command: &[&str],
        ok: &[Failure],
    ) -> Result<(), Error> {
        match self.virsh(s, host, command)? {
            Ran::Ok(_) => Ok(()),
            Ran::Failed(out) if ok.contains(&virsh::classify(&out)) => Ok(()),
            Ran::Failed(out) => Err(virsh::error(
                &format!("host {} ({}): {}", host.name, host.uri, command.join(" ")),
                &out,
            )),
        }
    }

    fn host_of(&self, store: &Store, record: &VmRecord) -> Result<HostAddr, Error> {
        let uri = store.host_uri(&record.host)?.ok_or_else(|| {
            Error::Other(format!(
                "VM {}: no URI recorded for host {}",
                record.id, record.host
            ))
        })?;
        Ok(HostAddr {
            name: record.host.clone(),
            uri,
        })
    }

    /// The domain's state, `None` when the host has no such domain.
    fn domstate(
        &mut self,
        s: &Settings,
        host: &HostAddr,
        domain: &str,
    ) -> Result<Option<DomState>, Error> {
        match self.virsh(s, host, &["domstate", domain])? {
            Ran::Ok(out) => Ok(Some(DomState::parse(out.lines().next().unwrap_or("")))),
            Ran::Failed(out) if virsh::classify(&out) == Failure::NoDomain => Ok(None),
            Ran::Failed(out) => Err(virsh::error(
                &format!("host {} ({}): domstate {domain}", host.name, host.uri),
                &out,
            )),
        }
    }

    pub fn create_vm(&mut self, spec: VmSpec) -> Result<String, Error> {
        self.create_vm_in(spec, &mut HashMap::new())
    }

    /// Several creates: a host found not answering (by its URI) is not
    /// asked again within the call, so a batch for a lost host fails
    /// fast instead of waiting for it once per VM.
    pub fn create_batch(&mut self, specs: Vec<VmSpec>) -> Vec<Result<String, Error>> {
        let mut down = HashMap::new();
        specs
            .into_iter()
            .map(|spec| self.create_vm_in(spec, &mut down))
            .collect()
    }

    fn create_vm_in(
        &mut self,
        spec: VmSpec,
        down: &mut HashMap<String, Error>,
    ) -> Result<String, Error> {
        let (s, store) = self.open()?;
        let template = template::parse(&spec.template)?;
        if let Some(id) = store.lookup_op(&spec.operation_id)?
            && let Some(record) = store.load(&id)?
        {
            self.ensure_defined(&s, &store, &record, &spec, &template)?;
            return Ok(id);
        }
        let host = template::host(&template, &s)?;
        if let Some(e) = down.get(&host.uri) {
            return Err(e.clone());
        }
        let name = template::domain_name(&spec);
        let id = vm_id(&host.name, &name);
        let domain = template::domain(&spec, &template, &s, &id)?;
        store.save_host(&host)?;
        store.record_op(&spec.operation_id, &id)?;
        let record = VmRecord {
            id: id.clone(),
            host: host.name.clone(),
            domain: name.clone(),
            operation_id: spec.operation_id.clone(),
            name: spec.vm_name.clone(),
            service_id: spec.service_id,
            role_name: spec.role_name.clone(),
            hold: spec.hold,
            created_ms: self.host.now_ms(),
        };
        let written = store
            .write_context(&name, domain.context.as_ref())
            .and_then(|()| store.write_xml(&name, &xml::domain_xml(&domain)));
        let path = match written {
            Ok(path) => path,
            Err(e) => {
                let _ = store.forget(&record);
                return Err(e);
            }
        };
        let made = self
            .virsh_ok(&s, &host, &["define", &path])
            .and_then(|_| store.save(&record))
            .and_then(|()| {
                if spec.hold {
                    Ok(())
                } else {
                    self.virsh_ok(&s, &host, &["start", &name]).map(|_| ())
                }
            });
        if let Err(e) = made {
            // Nothing stays of a create that failed: the host retries it
            // (with the same operation, so the same domain name: a domain
            // a lost host still has is defined over).
            if let Error::Unavailable(_) = e {
                down.insert(host.uri.clone(), e.clone());
            } else {
                let _ = self.virsh_unless(&s, &host, &["undefine", &name], &[Failure::NoDomain]);
            }
            let _ = store.forget(&record);
            return Err(e);
        }
        Ok(id)
    }

    /// A create repeated with an operation id already used: the domain
    /// is there (defined again from the template if a crash lost it), its
    /// context disk too, and running unless on hold.
    fn ensure_defined(
        &mut self,
        s: &Settings,
        store: &Store,
        record: &VmRecord,
        spec: &VmSpec,
        template: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Error> {
        let host = self.host_of(store, record)?;
        let state = self.domstate(s, &host, &record.domain)?;
        let start = !record.hold && matches!(state, None | Some(DomState::ShutOff));
        if state.is_none() || start {
            // The context disk is there (again) before the domain is
            // defined or started.
            let domain = template::domain(spec, template, s, &record.id)?;
            store.write_context(&record.domain, domain.context.as_ref())?;
            if state.is_none() {
                let path = store.write_xml(&record.domain, &xml::domain_xml(&domain))?;
                self.virsh_ok(s, &host, &["define", &path])?;
            }
        }
        if start {
            self.virsh_ok(s, &host, &["start", &record.domain])?;
        }
        Ok(())
    }

    pub fn act_on(&mut self, id: &str, action: VmAction, _args: &[KeyValue]) -> Result<(), Error> {
        let (s, store) = self.open()?;
        let mut record = store
            .load(id)?
            .ok_or_else(|| Error::NotFound(format!("VM {id}: not a VM of this driver")))?;
        let host = self.host_of(&store, &record)?;
        let domain = record.domain.clone();
        let d = domain.as_str();
        if matches!(action, VmAction::Terminate | VmAction::TerminateHard) {
            self.virsh_unless(
                &s,
                &host,
                &["destroy", d],
                &[Failure::NotRunning, Failure::NoDomain],
            )?;
            self.virsh_unless(&s, &host, &["undefine", d], &[Failure::NoDomain])?;
            self.cpu.remove(id);
            return store.forget(&record);
        }
        let state = self.domstate(&s, &host, d)?.ok_or_else(|| {
            Error::NotFound(format!(
                "VM {id}: domain {d} is gone from host {}",
                host.name
            ))
        })?;
        let wrong = |what: &str| {
            Error::InvalidInput(format!(
                "VM {id}: cannot {what} a domain that is {}",
                state.words()
            ))
        };
        let running = matches!(state, DomState::Running | DomState::ShuttingDown);
        match action {
            VmAction::Poweroff if state == DomState::ShutOff => Ok(()),
            VmAction::Poweroff => self.virsh_ok(&s, &host, &["shutdown", d]).map(drop),
            VmAction::PoweroffHard => {
                self.virsh_unless(&s, &host, &["destroy", d], &[Failure::NotRunning])
            }
            VmAction::Reboot if running => self.virsh_ok(&s, &host, &["reboot", d]).map(drop),
            VmAction::RebootHard if running => self.virsh_ok(&s, &host, &["reset", d]).map(drop),
            VmAction::Reboot | VmAction::RebootHard => Err(wrong("reboot")),
            VmAction::Suspend | VmAction::Stop if state == DomState::Paused => Ok(()),
            VmAction::Suspend | VmAction::Stop if running => {
                self.virsh_ok(&s, &host, &["suspend", d]).map(drop)
            }
            VmAction::Suspend | VmAction::Stop => Err(wrong("suspend")),
            VmAction::Resume | VmAction::Release => {
                if record.hold {
                    record.hold = false;
                    store.save(&record)?;
                }
                match state {
                    DomState::Paused => self.virsh_ok(&s, &host, &["resume", d]).map(drop),
                    DomState::ShutOff | DomState::Crashed => {
                        self.virsh_ok(&s, &host, &["start", d]).map(drop)
                    }
                    _ => Ok(()),
                }
            }
            VmAction::Hold => {
                if running {
                    self.virsh_ok(&s, &host, &["suspend", d])?;
                }
                record.hold = true;
                store.save(&record)
            }
            VmAction::Terminate | VmAction::TerminateHard => unreachable!("handled above"),
            other => Err(Error::Unsupported(format!(
                "{} is not supported by the libvirt driver",
                other.as_str()
            ))),
        }
    }

    pub fn poll_vms(&mut self, ids: Vec<String>) -> Result<Vec<VmStatus>, Error> {
        let (s, store) = self.open()?;
        let mut out: Vec<Option<VmStatus>> = vec![None; ids.len()];
        let mut by_host: BTreeMap<String, Vec<(usize, VmRecord)>> = BTreeMap::new();
        for (i, id) in ids.iter().enumerate() {
            match store.load(id)? {
                Some(record) => by_host
                    .entry(record.host.clone())
                    .or_default()
                    .push((i, record)),
                None => out[i] = Some(status(id, VmState::Done, Some("not found".into()))),
            }
        }
        let now = self.host.now_ms();
        for (host_name, vms) in by_host {
            let states = match store.host_uri(&host_name)? {
                None => Err(format!("no URI recorded for host {host_name}")),
                Some(uri) => {
                    let host = HostAddr {
                        name: host_name.clone(),
                        uri,
                    };
                    self.host_states(&s, &host, vms.iter().map(|(_, r)| r.domain.as_str()))
                        .map(|states| (host, states))
                }
            };
            let (host, states) = match states {
                Ok(found) => found,
                Err(reason) => {
                    for (i, record) in vms {
                        out[i] = Some(status(&record.id, VmState::Unknown, Some(reason.clone())));
                    }
                    continue;
                }
            };
            let active: Vec<&str> = vms
                .iter()
                .map(|(_, r)| r.domain.as_str())
                .filter(|d| {
                    states
                        .get(*d)
                        .is_some_and(|s| !matches!(s, DomState::ShutOff | DomState::Crashed))
                })
                .collect();
            let stats = self.domstats(&s, &host, &active);
            for (i, record) in vms {
                let st = match states.get(&record.domain) {
                    None => status(
                        &record.id,
                        VmState::Done,
                        Some(format!("not found on host {host_name}")),
                    ),
                    Some(state) => {
                        let (state, reason) = vm_state(*state, record.hold);
                        let mut st = status(&record.id, state, reason);
                        if let Some(stats) = stats.get(&record.domain) {
                            st.monitoring = self.monitoring(&record.id, stats, now);
                        }
                        st
                    }
                };
                out[i] = Some(st);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// The states of a host's domains (one `list --all`; a domain a cut
    /// listing may have lost is asked on its own), or why the host gave
    /// none (naming it).
    fn host_states<'a>(
        &mut self,
        s: &Settings,
        host: &HostAddr,
        wanted: impl Iterator<Item = &'a str>,
    ) -> Result<HashMap<String, DomState>, String> {
        let unanswered =
            |why: String| format!("host {} ({}) does not answer: {why}", host.name, host.uri);
        let output = match self.virsh(s, host, &["list", "--all"]) {
            Ok(Ran::Ok(out)) => out,
            Ok(Ran::Failed(out)) if virsh::classify(&out) == Failure::Unreachable => {
                return Err(unanswered(virsh::errors(&out)));
            }
            Ok(Ran::Failed(out)) => {
                return Err(format!(
                    "host {} ({}): list: {}",
                    host.name,
                    host.uri,
                    virsh::errors(&out)
                ));
            }
            Err(e) => return Err(e.message().to_string()),
        };
        let mut states = virsh::parse_list(&output);
        if virsh::maybe_truncated(&output) {
            for domain in wanted {
                if !states.contains_key(domain)
                    && let Ok(Some(state)) = self.domstate(s, host, domain)
                {
                    states.insert(domain.to_string(), state);
                }
            }
        }
        Ok(states)
    }

    /// `domstats` of the active domains, a few at a time; what fails is
    /// left out (monitoring is best effort).
    fn domstats(
        &mut self,
        s: &Settings,
        host: &HostAddr,
        domains: &[&str],
    ) -> HashMap<String, virsh::DomStats> {
        let mut out = HashMap::new();
        for chunk in domains.chunks(virsh::DOMSTATS_CHUNK) {
            let mut command = vec!["domstats", "--state", "--cpu-total", "--balloon"];
            command.extend_from_slice(chunk);
            if let Ok(Ran::Ok(text)) = self.virsh(s, host, &command) {
                out.extend(virsh::parse_domstats(&text));
            }
        }
        out
    }

    /// `CPU`: percent of one CPU since the previous poll (0 at the first);
    /// `MEMORY`: QEMU's resident memory (else the guest's), KiB.
    fn monitoring(&mut self, id: &str, stats: &virsh::DomStats, now_ms: u64) -> Vec<Metric> {
        let mut metrics = Vec::new();
        if let Some(ns) = stats.cpu_time_ns {
            let cpu = match self.cpu.insert(id.to_string(), (ns, now_ms)) {
                Some((before_ns, before_ms)) if now_ms > before_ms && ns >= before_ns => {
                    let used_ms = (ns - before_ns) as f64 / 1e6;
                    (used_ms * 100.0 / (now_ms - before_ms) as f64 * 10.0).round() / 10.0
                }
                _ => 0.0,
            };
            metrics.push(Metric::new("CPU", cpu));
        }
        if let Some(kib) = stats.balloon_rss_kib.or(stats.balloon_current_kib) {
            metrics.push(Metric::new("MEMORY", kib as f64));
        }
        metrics
    }

    pub fn list_vms(&mut self) -> Result<Vec<ManagedVm>, Error> {
        let (_, store) = self.open()?;
        let records = store.records()?;
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let statuses = self.poll_vms(ids)?;
        Ok(records
            .into_iter()
            .zip(statuses)
            .map(|(r, st)| ManagedVm {
                id: r.id,
                operation_id: r.operation_id,
                name: r.name,
                service_id: r.service_id,
                role_name: r.role_name,
                state: st.state,
            })
            .collect())
    }

    /// The `hosts` interface's `monitor`: each host's CPUs and memory
    /// (`nodeinfo`), what is in use (`nodememstats`, `nodecpustats`), and
    /// this driver's domains on it (`list --all --name`). One outcome per
    /// host, in order; a host that does not answer is `unavailable`,
    /// naming it.
    pub fn monitor_hosts(&mut self, hosts: Vec<HostProbe>) -> Vec<Result<HostMonitoring, Error>> {
        let s = match self.settings() {
            Ok(s) => s,
            Err(e) => return hosts.iter().map(|_| Err(e.clone())).collect(),
        };
        hosts
            .into_iter()
            .map(|h| self.monitor_host(&s, h))
            .collect()
    }

    fn monitor_host(&mut self, s: &Settings, h: HostProbe) -> Result<HostMonitoring, Error> {
        if !is_host_name(&h.name) {
            return Err(Error::InvalidInput(format!(
                "host `{}`: not a host name (letters, digits, `_.-`)",
                h.name
            )));
        }
        s.check_uri(&h.address)
            .map_err(|e| Error::InvalidInput(format!("host {}: {e}", h.name)))?;
        let host = HostAddr {
            name: h.name.clone(),
            uri: h.address.clone(),
        };
        let info = self.virsh_ok(s, &host, &["nodeinfo"])?;
        let info = virsh::parse_nodeinfo(&info)
            .ok_or_else(|| Error::Other(format!("host {}: nodeinfo did not read", h.name)))?;
        let used_memory_kib = match self.virsh(s, &host, &["nodememstats"])? {
            Ran::Ok(out) => virsh::parse_used_memory_kib(&out).unwrap_or(0),
            Ran::Failed(_) => 0,
        };
        let used_cpu = match self.virsh(s, &host, &["nodecpustats"])? {
            Ran::Ok(out) => match virsh::parse_cpu_times(&out) {
                Some(now) => {
                    let before = self.node_cpu.insert(h.name.clone(), now);
                    virsh::used_cpu(info.cpus, before, now)
                }
                None => 0.0,
            },
            Ran::Failed(_) => 0.0,
        };
        let names = self.virsh_ok(s, &host, &["list", "--all", "--name"])?;
        let vm_ids = virsh::parse_names(&names)
            .into_iter()
            .filter(|n| is_domain_name(n))
            .map(|n| vm_id(&h.name, &n))
            .collect();
        Ok(HostMonitoring {
            cpu: info.cpus as f64,
            memory_mb: info.memory_kib / 1024,
            used_cpu,
            used_memory_mb: used_memory_kib / 1024,
            vm_ids,
        })
    }
}

/// The `hosts` interface: the fleet's hosts, as [`LibvirtDriver::monitor_hosts`]
/// reports them.
impl<H: Host + Default + 'static> Hosts for LibvirtDriver<H> {
    fn monitor(&mut self, hosts: Vec<HostProbe>) -> Vec<Result<HostMonitoring, Error>> {
        self.monitor_hosts(hosts)
    }
}

impl<H: Host + Default + 'static> Driver for LibvirtDriver<H> {
    fn new() -> Self {
        LibvirtDriver::with_host(H::default())
    }

    fn info(&self) -> PluginInfo {
        PluginInfo::new("libvirt", env!("CARGO_PKG_VERSION"), DESCRIPTION)
    }

    fn create(&mut self, spec: VmSpec) -> Result<String, Error> {
        self.create_vm(spec)
    }

    fn create_many(&mut self, specs: Vec<VmSpec>) -> Vec<Result<String, Error>> {
        self.create_batch(specs)
    }

    fn act(&mut self, vm_id: String, action: VmAction, args: Vec<KeyValue>) -> Result<(), Error> {
        self.act_on(&vm_id, action, &args)
    }

    fn poll(&mut self, vm_ids: Vec<String>) -> Result<Vec<VmStatus>, Error> {
        self.poll_vms(vm_ids)
    }

    fn list(&mut self) -> Result<Vec<ManagedVm>, Error> {
        self.list_vms()
    }
}
