//! The fleet: the hosts VMs run on, their monitoring, placing each VM on
//! one, and what happens to the VMs of a host that is lost.
//!
//! A server with no host of its driver places nothing: its driver runs
//! every VM where it is (the qemu driver on the server's machine). Once
//! the operator creates a host for the driver, every new VM is placed on
//! one before its create, and a VM no host can take waits with the reason.
//!
//! The books are the placements written on the services' nodes: a VM
//! counts on its host from the moment its placement is written (before
//! the driver is asked) until it is gone, so two services placing at once
//! cannot both take the last room (`placing` serializes the choice and the
//! write). A host in ERROR has its VMs shown UNKNOWN; a VM terminated
//! while its host is lost is recorded on the host (`stale_vm_ids`) and
//! destroyed when the host answers again.

use super::*;
use crate::fleet::{
    Allocation, Capacity, Demand, Group, GroupPolicy, Host, HostMode, HostState, NewHost, Placer,
};
use crate::service::lifecycle::{Observed, Placement, VmState};
use flotilla_model::{BackendError, HostProbe};

impl Engine {
    fn driver_id(&self) -> &str {
        self.inner.driver_id.get().map_or("", String::as_str)
    }

    /// Every host, from memory: each round of each service reads them,
    /// and only the engine writes them (`save_host` forgets the copy).
    pub fn hosts(&self) -> Result<Arc<Vec<Host>>, EngineError> {
        let mut cached = self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hosts) = &*cached {
            return Ok(hosts.clone());
        }
        let hosts = Arc::new(self.store().hosts()?);
        *cached = Some(hosts.clone());
        Ok(hosts)
    }

    fn save_host(&self, host: &Host) -> Result<(), EngineError> {
        self.store().save_host(host)?;
        self.forget_hosts();
        Ok(())
    }

    fn forget_hosts(&self) {
        *self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The hosts of this server's driver in ERROR, by name: their VMs
    /// are UNKNOWN, and not asked about.
    fn lost_hosts(&self) -> Result<HashMap<String, Host>, EngineError> {
        let driver = self.driver_id();
        Ok(self
            .hosts()?
            .iter()
            .filter(|h| h.driver == driver && h.state == HostState::Error)
            .map(|h| (h.name.clone(), h.clone()))
            .collect())
    }

    /// The hosts of this server's driver.
    fn own_hosts(&self) -> Result<Vec<Host>, EngineError> {
        let driver = self.driver_id();
        Ok(self
            .hosts()?
            .iter()
            .filter(|h| h.driver == driver)
            .cloned()
            .collect())
    }

    /// Every host with what the VMs placed on it take.
    pub fn hosts_with_allocation(&self) -> Result<Vec<(Host, Allocation)>, EngineError> {
        let hosts: HashMap<String, Host> = self
            .hosts()?
            .iter()
            .map(|h| (h.name.clone(), h.clone()))
            .collect();
        let mut books = HashMap::new();
        let services = self.store().services()?;
        for service in services.iter() {
            book(&mut books, &hosts, service);
        }
        let mut all: Vec<(Host, Allocation)> = hosts
            .into_values()
            .map(|h| {
                let allocated = books.remove(&h.id).unwrap_or_default();
                (h, allocated)
            })
            .collect();
        all.sort_by_key(|(h, _)| h.id);
        Ok(all)
    }

    pub fn host(&self, id: u64) -> Result<Host, EngineError> {
        self.store()
            .host(id)?
            .ok_or_else(|| EngineError::NotFound(format!("host {id} does not exist")))
    }

    /// Create a host and monitor it at once, so it answers with what the
    /// host has (or why it cannot be reached).
    pub async fn create_host(&self, new: NewHost) -> Result<Host, EngineError> {
        new.validate().map_err(EngineError::Invalid)?;
        let driver = self.driver_id();
        if new.driver != driver {
            return Err(EngineError::Invalid(vec![FieldError::new(
                "driver",
                format!(
                    "`{}` is not this server's driver: it runs `{driver}` (engine.driver)",
                    new.driver
                ),
            )]));
        }
        if !self.inner.driver.manages_hosts() {
            return Err(EngineError::Invalid(vec![FieldError::new(
                "driver",
                format!(
                    "`{driver}` runs every VM on the server's machine: it does not manage hosts"
                ),
            )]));
        }
        let name = new.name.clone();
        let host = self.store().create_host(new)?.ok_or_else(|| {
            EngineError::Lifecycle(LifecycleError::WrongState(format!(
                "a host named `{name}` exists"
            )))
        })?;
        self.forget_hosts();
        self.monitor(vec![host]).await?;
        self.host_by_name(&name)
    }

    fn host_by_name(&self, name: &str) -> Result<Host, EngineError> {
        self.store()
            .host_by_name(name)?
            .ok_or_else(|| EngineError::NotFound(format!("host {name} does not exist")))
    }

    /// Enable, disable or take a host offline. Offline is refused while
    /// VMs are placed on it: they would be lost to monitoring.
    pub async fn set_host_mode(&self, id: u64, mode: HostMode) -> Result<Host, EngineError> {
        let _placing = self.inner.placing.lock().await;
        let mut host = self.host(id)?;
        if mode == HostMode::Offline {
            self.refuse_if_used(&host, "taken offline")?;
        }
        host.set_mode(mode);
        self.save_host(&host)?;
        Ok(host)
    }

    /// Delete a host that no VM is placed on.
    pub async fn delete_host(&self, id: u64) -> Result<Host, EngineError> {
        let _placing = self.inner.placing.lock().await;
        let host = self.host(id)?;
        self.refuse_if_used(&host, "deleted")?;
        self.store().delete_host(id)?;
        self.forget_hosts();
        Ok(host)
    }

    fn refuse_if_used(&self, host: &Host, what: &str) -> Result<(), EngineError> {
        let services = self.store().services()?;
        let mut users: Vec<String> = Vec::new();
        for service in &services {
            let vms = service.vms_on(&host.name).len();
            if vms > 0 {
                users.push(format!("service {} ({vms} VMs)", service.id));
            }
        }
        if users.is_empty() && host.stale_vm_ids.is_empty() {
            return Ok(());
        }
        let mut holders = users.join(", ");
        if !host.stale_vm_ids.is_empty() {
            if !holders.is_empty() {
                holders.push_str(", ");
            }
            holders.push_str(&format!(
                "{} VMs to destroy when it answers again",
                host.stale_vm_ids.len()
            ));
        }
        Err(EngineError::Lifecycle(LifecycleError::WrongState(format!(
            "host {} cannot be {what} while it holds VMs: {holders}",
            host.name
        ))))
    }

    /// One monitoring round over every host of this driver that is not
    /// offline; then the lost hosts' VMs are recovered if the operator
    /// asked for it.
    pub async fn monitor_hosts(&self) -> Result<(), EngineError> {
        let hosts: Vec<Host> = self
            .own_hosts()?
            .into_iter()
            .filter(Host::is_monitored)
            .collect();
        if hosts.is_empty() {
            return Ok(());
        }
        self.monitor(hosts).await?;
        if self.inner.settings.fleet.recover_lost_hosts {
            self.recover_lost_hosts().await?;
        }
        Ok(())
    }

    /// Ask the driver about `hosts` and write what it said; destroy the
    /// stale VMs of those that answered.
    async fn monitor(&self, hosts: Vec<Host>) -> Result<(), EngineError> {
        let probes = hosts
            .iter()
            .map(|h| HostProbe {
                name: h.name.clone(),
                address: h.address.clone(),
            })
            .collect();
        let answers = match self.inner.driver.monitor_hosts(probes).await {
            Ok(answers) => answers,
            Err(e) => vec![Err(e); hosts.len()],
        };
        let now = self.now();
        let mut answered = Vec::new();
        // Hosts that answer again (or at last): what plumbing left there
        // while they could not be reached is swept, with what their stale
        // VMs had.
        let mut to_sweep = Vec::new();
        for (host, answer) in hosts.iter().zip(answers) {
            // Written over the latest record: an operator's enable or
            // disable during the call stays.
            let _placing = self.inner.placing.lock().await;
            let Some(mut current) = self.store().host(host.id)? else {
                continue;
            };
            let was = current.state;
            match answer {
                Ok(m) => {
                    current.monitored(
                        Capacity {
                            cpu: m.cpu,
                            memory_mb: m.memory_mb,
                        },
                        Capacity {
                            cpu: m.used_cpu,
                            memory_mb: m.used_memory_mb,
                        },
                        m.vm_ids,
                        now,
                    );
                    let stale = !current.stale_vm_ids.is_empty();
                    if stale {
                        answered.push(current.id);
                    }
                    if stale || !matches!(was, HostState::Monitored | HostState::Disabled) {
                        to_sweep.push(current.name.clone());
                    }
                }
                Err(e) => current.failed(e.to_string(), now),
            }
            if current.state != was {
                match current.state {
                    HostState::Error => tracing::error!(
                        host = %current.name,
                        reason = current.reason.as_deref().unwrap_or(""),
                        "host lost"
                    ),
                    state => tracing::info!(host = %current.name, %state, "host state"),
                }
            }
            self.save_host(&current)?;
        }
        for id in answered {
            self.destroy_stale(id).await?;
        }
        if !to_sweep.is_empty() {
            self.sweep_plumbing_at(&to_sweep).await?;
        }
        Ok(())
    }

    /// The VMs a host kept while it was lost (their services replaced them)
    /// are destroyed once it answers: each is forgotten once the driver
    /// destroyed it or the host no longer has it.
    async fn destroy_stale(&self, id: u64) -> Result<(), EngineError> {
        let Some(host) = self.store().host(id)? else {
            return Ok(());
        };
        let mut gone = Vec::new();
        for vm in &host.stale_vm_ids {
            if !host.vm_ids.contains(vm) {
                gone.push(vm.clone());
                continue;
            }
            match self
                .inner
                .driver
                .act(
                    vm.clone(),
                    crate::plugin::VmAction::TerminateHard,
                    Vec::new(),
                )
                .await
            {
                Ok(()) => {
                    tracing::info!(host = %host.name, vm = %vm, "destroyed a VM of a lost host");
                    gone.push(vm.clone());
                }
                Err(e) => {
                    tracing::warn!(host = %host.name, vm = %vm, "destroying a VM of a lost host failed: {e}")
                }
            }
        }
        if gone.is_empty() {
            return Ok(());
        }
        let _placing = self.inner.placing.lock().await;
        // Read first: the store's guard must be gone before `save_host`.
        let host = self.store().host(id)?;
        if let Some(mut host) = host {
            host.stale_vm_ids.retain(|vm| !gone.contains(vm));
            self.save_host(&host)?;
        }
        Ok(())
    }

    /// Replace, in every service that runs, the VMs of each host that has
    /// been in ERROR for the grace period.
    async fn recover_lost_hosts(&self) -> Result<(), EngineError> {
        let now = self.now();
        let grace = self.inner.settings.fleet.lost_grace_ms;
        let lost: Vec<String> = self
            .own_hosts()?
            .into_iter()
            .filter(|h| h.state == HostState::Error)
            .filter(|h| {
                h.error_since_ms
                    .is_some_and(|t| now.saturating_sub(t) >= grace)
            })
            .map(|h| h.name)
            .collect();
        if lost.is_empty() {
            return Ok(());
        }
        // Only the services with VMs there: the others are not written.
        let services = self.store().services()?;
        let holders: Vec<(u64, Vec<&String>)> = services
            .iter()
            .map(|s| {
                let hosts: Vec<&String> = lost.iter().filter(|h| !s.vms_on(h).is_empty()).collect();
                (s.id, hosts)
            })
            .filter(|(_, hosts)| !hosts.is_empty())
            .collect();
        for (id, hosts) in holders {
            for host in hosts {
                let result = self
                    .operate(id, |s, now| Ok(s.replace_lost(host, now)))
                    .await;
                if let Err(e) = result {
                    tracing::error!(service = id, host = %host, "replacing the VMs of a lost host: {e}");
                }
            }
        }
        Ok(())
    }

    /// Monitor the hosts every `interval` until the engine is dropped.
    pub fn spawn_monitor(&self, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = engine.monitor_hosts().await {
                    tracing::error!("monitoring hosts: {e}");
                }
                tokio::time::sleep(interval).await;
            }
        })
    }

    /// The hosts of this driver by name, when there are any: `None` means
    /// the server places nothing.
    fn fleet(&self) -> Result<Option<HashMap<String, Host>>, EngineError> {
        let hosts = self.own_hosts()?;
        Ok((!hosts.is_empty()).then(|| hosts.into_iter().map(|h| (h.name.clone(), h)).collect()))
    }

    /// Place the VMs of `batch` that have no host yet. Returns the creates
    /// to send (placed, or placed before); the others are recorded on
    /// their nodes with the reason. The placements are written before
    /// the lock is let go, so the next placement counts them.
    pub(super) async fn place(
        &self,
        service: &mut Service,
        batch: Vec<CreateVm>,
    ) -> Result<Vec<CreateVm>, EngineError> {
        let Some(hosts) = self.fleet()? else {
            return Ok(batch);
        };
        let _placing = self.inner.placing.lock().await;
        let mut books: HashMap<u64, Allocation> = HashMap::new();
        let others = self.store().services()?;
        for s in others.iter().filter(|s| s.id != service.id) {
            book(&mut books, &hosts, s);
        }
        book(&mut books, &hosts, service);
        let mut placer = Placer::new(
            hosts
                .values()
                .map(|h| (h.clone(), books.remove(&h.id).unwrap_or_default()))
                .collect(),
            self.inner.settings.fleet.strategy,
        );
        let now = self.now();
        let mut send = Vec::with_capacity(batch.len());
        for create in batch {
            if service.placement_of(&create).is_some() {
                send.push(create);
                continue;
            }
            let demand = match self.demand(service, &create) {
                Ok(demand) => demand,
                Err(reason) => {
                    service.observe_created(&create, Err(reason), now);
                    continue;
                }
            };
            match placer.place(&demand) {
                Ok(host_id) => {
                    let Some(host) = hosts.values().find(|h| h.id == host_id) else {
                        continue;
                    };
                    service.placed(
                        &create,
                        Placement {
                            host_id,
                            host: host.name.clone(),
                            cpu: demand.cpu,
                            memory_mb: demand.memory_mb,
                        },
                    );
                    send.push(create);
                }
                Err(unplaced) => service.observe_unplaced(&create, unplaced.to_string(), now),
            }
        }
        self.store().save_service(service)?;
        Ok(send)
    }

    /// What a VM asks of its host: read from the template it will be
    /// created with (CPU, MEMORY, SCHED_REQUIREMENTS, SCHED_RANK), and its
    /// role's affinity.
    fn demand(&self, service: &Service, create: &CreateVm) -> Result<Demand, BackendError> {
        let vm_template = self
            .store()
            .vm_template(create.template_id)
            .map_err(effects::database)?
            .ok_or_else(|| {
                BackendError::Refused(format!("VM template {} does not exist", create.template_id))
            })?;
        let template = self.role_template(service, &create.role, &vm_template.attributes)?;
        let mut demand = Demand::from_template(&serde_json::Value::Object(template))
            .map_err(|e| BackendError::Refused(e.to_string()))?;
        demand.group = group(service, &create.role);
        Ok(demand)
    }

    /// The VM's host, for its template: `HOST` with the name and the
    /// address its driver reaches it by.
    pub(super) fn host_attribute(&self, placement: &Placement) -> Option<serde_json::Value> {
        let hosts = self.hosts().ok()?;
        let host = hosts.iter().find(|h| h.id == placement.host_id)?;
        Some(serde_json::json!({"NAME": host.name, "ADDRESS": host.address}))
    }

    /// Where the network devices of a VM placed on `host` are made: the
    /// host, through the operator's `[fleet] host_command`.
    pub(super) fn link_site(&self, host: &str) -> Result<crate::plugin::LinkSite, String> {
        let Some(template) = &self.inner.settings.fleet.host_command else {
            return Err(format!(
                "the VM is placed on host `{host}`, where the server cannot make network \
                 devices: [fleet] host_command in flotilla.toml says how to run a program there"
            ));
        };
        let hosts = self.hosts().map_err(|e| e.to_string())?;
        let found = hosts
            .iter()
            .find(|h| h.name == host)
            .ok_or_else(|| format!("host `{host}`: there is none"))?;
        Ok(crate::plugin::LinkSite {
            host: found.name.clone(),
            command: found.command(template)?,
        })
    }

    /// The hosts a sweep of network devices goes to: the driver's that
    /// answer, when the server can run a program on them at all.
    pub(super) fn plumbed_hosts(&self) -> Result<Vec<String>, EngineError> {
        if self.inner.settings.fleet.host_command.is_none() {
            return Ok(Vec::new());
        }
        let driver = self.driver_id();
        Ok(self
            .hosts()?
            .iter()
            .filter(|h| h.driver == driver)
            .filter(|h| matches!(h.state, HostState::Monitored | HostState::Disabled))
            .map(|h| h.name.clone())
            .collect())
    }

    /// The VMs of `service` to ask the driver about: not those on a host
    /// in ERROR, which are UNKNOWN whatever it would say
    /// (`with_lost_hosts`), and whose host would only hold the poll (and
    /// the service's lock, and so its users' requests) until the driver
    /// gives up on it.
    pub(super) fn vms_to_poll(&self, service: &Service) -> Result<Vec<String>, EngineError> {
        let ids = service.vm_ids();
        let lost = self.lost_hosts()?;
        if lost.is_empty() {
            return Ok(ids);
        }
        let on_lost: std::collections::HashSet<&str> = service
            .roles
            .iter()
            .flat_map(|r| r.nodes.iter())
            .filter(|n| {
                n.placement
                    .as_ref()
                    .is_some_and(|p| lost.contains_key(&p.host))
            })
            .filter_map(|n| n.vm_id.as_deref())
            .collect();
        Ok(ids
            .into_iter()
            .filter(|id| !on_lost.contains(id.as_str()))
            .collect())
    }

    /// What the driver's poll says, corrected by what the fleet knows: a
    /// VM on a host in ERROR is UNKNOWN whatever the driver last saw, and
    /// one the service terminated there is gone (the host destroys it
    /// when it answers again).
    pub(super) fn with_lost_hosts(
        &self,
        service: &Service,
        mut observed: Vec<Observed>,
    ) -> Result<Vec<Observed>, EngineError> {
        let lost = self.lost_hosts()?;
        if lost.is_empty() {
            return Ok(observed);
        }
        for node in service.roles.iter().flat_map(|r| r.nodes.iter()) {
            let (Some(vm_id), Some(placement)) = (&node.vm_id, &node.placement) else {
                continue;
            };
            let Some(host) = lost.get(&placement.host) else {
                continue;
            };
            let (state, reason) = if node.terminating {
                (
                    VmState::Done,
                    format!(
                        "terminated while host {} is lost: destroyed when it answers again",
                        host.name
                    ),
                )
            } else {
                (
                    VmState::Unknown,
                    format!(
                        "host {} is in ERROR: {}",
                        host.name,
                        host.reason.as_deref().unwrap_or("its monitoring failed")
                    ),
                )
            };
            let seen = Observed {
                vm_id: vm_id.clone(),
                state,
                reason: Some(reason),
                ready: false,
                values: Default::default(),
            };
            match observed.iter_mut().find(|o| o.vm_id == *vm_id) {
                Some(o) => *o = seen,
                None => observed.push(seen),
            }
        }
        Ok(observed)
    }

    /// A terminate of a VM whose host is lost cannot reach it: the host
    /// keeps it to destroy when it answers again, and the terminate is
    /// done as far as the service goes. `None`: the host is not lost.
    pub(super) async fn terminate_on_lost_host(
        &self,
        placement: &Placement,
        vm_id: &str,
    ) -> Result<Option<()>, EngineError> {
        let _placing = self.inner.placing.lock().await;
        let Some(mut host) = self.store().host(placement.host_id)? else {
            return Ok(None);
        };
        if host.state != HostState::Error {
            return Ok(None);
        }
        if !host.stale_vm_ids.iter().any(|v| v == vm_id) {
            host.stale_vm_ids.push(vm_id.to_string());
            self.save_host(&host)?;
        }
        Ok(Some(()))
    }
}

/// A role's affinity as the placement's group: its VMs kept together, or
/// apart.
fn group(service: &Service, role: &str) -> Option<Group> {
    let policy: GroupPolicy = service.template.role(role)?.affinity?;
    Some(Group {
        key: format!("service {} role {role}", service.id),
        policy,
    })
}

/// Add what `service`'s VMs take to the books of their hosts. A VM that is
/// gone (DONE) takes nothing.
fn book(books: &mut HashMap<u64, Allocation>, hosts: &HashMap<String, Host>, service: &Service) {
    for role in &service.roles {
        let group = group(service, &role.name);
        for node in &role.nodes {
            let Some(p) = &node.placement else { continue };
            if node.vm_state == Some(VmState::Done) || !hosts.contains_key(&p.host) {
                continue;
            }
            books.entry(p.host_id).or_default().add(&Demand {
                cpu: p.cpu,
                memory_mb: p.memory_mb,
                requirements: None,
                rank: None,
                group: group.clone(),
            });
        }
    }
}
