//! The lifecycle engine: runs the pure state machine of
//! `service::lifecycle` against the store and a driver plugin.
//!
//! Each operation on a service takes that service's lock (operations on one
//! service are serialized, different services progress concurrently),
//! applies the transition, writes the service, and only then carries out
//! the effects (driver calls), feeding their results back and writing
//! again.

use crate::clock::SharedClock;
mod backend;
mod disks;
mod effects;
mod fleet;
mod library;
mod nics;
mod plumbing;
mod rounds;
pub(crate) mod vnets;

pub use backend::{BoxFuture, ManagedRecord, VmBackend};
pub use library::{
    NetworkBackend, NoNetworks, NoPlumbing, NoPolicies, PluginLibrary, PlumbingBackend,
    PolicyBackend,
};

use crate::plugin::VmSpec;
use crate::service::lifecycle::{
    CreateVm, Effect, LifecycleError, Service, VmAct, VmActionRequest,
};
use crate::service::{FieldError, parse_template};
use crate::store::{SharedStore, Store, StoreGuard};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub enum EngineError {
    /// The template is not valid: every problem, with its field.
    Invalid(Vec<FieldError>),
    Lifecycle(LifecycleError),
    NotFound(String),
    Storage(String),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Invalid(errors) => {
                let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                write!(f, "{}", all.join("; "))
            }
            EngineError::Lifecycle(e) => write!(f, "{e}"),
            EngineError::NotFound(m) | EngineError::Storage(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<anyhow::Error> for EngineError {
    fn from(e: anyhow::Error) -> Self {
        EngineError::Storage(format!("{e:#}"))
    }
}

impl From<LifecycleError> for EngineError {
    fn from(e: LifecycleError) -> Self {
        EngineError::Lifecycle(e)
    }
}

/// What VMs reported of themselves through OneGate, and the context a
/// new VM needs to reach it. The server's OneGate implements it.
pub trait VmReports: Send + Sync + 'static {
    /// The attributes a VM reported (`READY`, an application's values).
    fn reported(&self, service_id: u64, operation_id: &str) -> Vec<crate::plugin::KeyValue>;
    /// `ONEGATE_ENDPOINT`, `ONEGATE_TOKEN`, … for a new VM's `CONTEXT`.
    fn context(&self, service_id: u64, operation_id: &str) -> Vec<(String, String)>;
    /// Forget the VMs of a service that `keep` refuses (they left it).
    fn forget(&self, service_id: u64, keep: &dyn Fn(&str) -> bool);
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: SharedStore,
    driver: Arc<dyn VmBackend>,
    policies: Arc<dyn PolicyBackend>,
    networks: Arc<dyn NetworkBackend>,
    /// Set once the server runs OneGate: VMs get its endpoint and a token
    /// in their context, and what they report counts as observed.
    onegate: std::sync::OnceLock<Arc<dyn VmReports>>,
    /// The driver plugin's id, recorded on each service it makes VMs for.
    driver_id: std::sync::OnceLock<String>,
    clock: SharedClock,
    settings: Settings,
    locks: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<()>>>>,
    /// Rounds `spawn_loop` has completed (`/metrics`).
    rounds: std::sync::atomic::AtomicU64,
    /// The host devices of networks that name a `VN_MAD` (plumbing.rs).
    plumbing: Arc<dyn PlumbingBackend>,
    /// Held while host plumbing makes or sweeps devices (see
    /// plumbing.rs); it holds the plumbing plugins and the sites where
    /// they may have devices, as (plugin id, host name; none: the
    /// server's machine), `None` until the first sweep: any may.
    plumbing_lock: tokio::sync::Mutex<Option<std::collections::BTreeSet<Holding>>>,
    /// Held while VMs are placed and their placements written, and while
    /// a host's record is read and written back (fleet.rs).
    placing: tokio::sync::Mutex<()>,
    /// The hosts as last written (fleet.rs).
    hosts: Mutex<Option<Arc<Vec<crate::fleet::Host>>>>,
}

/// A plumbing plugin's id and the site of its devices: a host's name;
/// none, the server's machine (plumbing.rs).
type Holding = (String, Option<String>);

/// The operator's settings the engine applies (`[engine]` in flotilla.toml).
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a deploy, scale or undeploy may wait for VMs.
    pub wait_ms: u64,
    /// The most VMs one role may have, whatever `force` says.
    pub max_vms_per_role: u32,
    /// Cooldown of roles that set none.
    pub default_cooldown_s: u32,
    /// How often each role's metric policies are evaluated.
    pub policy_evaluation_ms: u64,
    /// VM values older than this are stale: no policy reads them.
    pub metric_max_age_ms: u64,
    /// Placement and lost hosts.
    pub fleet: FleetSettings,
}

impl Default for Settings {
    fn default() -> Self {
        let engine = crate::config::EngineConfig::default();
        Settings {
            wait_ms: engine.wait_seconds.saturating_mul(1000),
            max_vms_per_role: engine.max_vms_per_role,
            default_cooldown_s: engine.default_cooldown_seconds,
            policy_evaluation_ms: engine.policy_evaluation_seconds.saturating_mul(1000),
            metric_max_age_ms: engine.metric_max_age_seconds.saturating_mul(1000),
            fleet: FleetSettings::default(),
        }
    }
}

/// The operator's fleet settings (`[fleet]` in flotilla.toml).
#[derive(Debug, Clone)]
pub struct FleetSettings {
    pub strategy: crate::fleet::Strategy,
    /// Recreate the VMs of a host in ERROR on the others by themselves
    /// (OpenNebula's host-error hook), once it has been in ERROR for
    /// `lost_grace_ms`.
    pub recover_lost_hosts: bool,
    pub lost_grace_ms: u64,
    /// How to run a program on a host (`{name}`, `{address}`,
    /// `{hostname}` in it), for the network devices of its VMs.
    pub host_command: Option<Vec<String>>,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings::from(&crate::config::FleetConfig::default())
    }
}

impl From<&crate::config::FleetConfig> for FleetSettings {
    fn from(fleet: &crate::config::FleetConfig) -> Self {
        FleetSettings {
            strategy: fleet.strategy,
            recover_lost_hosts: fleet.recover_lost_hosts,
            lost_grace_ms: fleet.lost_host_grace_seconds.saturating_mul(1000),
            host_command: fleet.host_command.clone(),
        }
    }
}

impl Engine {
    /// An engine of the driver alone, for tests of the engine: `wait_ms`
    /// is how long a deploy, scale or undeploy may wait for VMs, the other
    /// settings take their defaults, and it has no policy plugins and no
    /// network modes.
    pub fn new(
        store: Box<dyn Store>,
        driver: Arc<dyn VmBackend>,
        clock: SharedClock,
        wait_ms: u64,
    ) -> Engine {
        Engine::with_settings(
            store,
            driver,
            clock,
            Settings {
                wait_ms,
                ..Settings::default()
            },
        )
    }

    pub fn with_settings(
        store: Box<dyn Store>,
        driver: Arc<dyn VmBackend>,
        clock: SharedClock,
        settings: Settings,
    ) -> Engine {
        Engine::with_policies(store, driver, Arc::new(NoPolicies), clock, settings)
    }

    /// An engine whose elasticity policies are evaluated by `policies` (the
    /// server's policy plugins, or the benchmarks' native ones).
    pub fn with_policies(
        store: Box<dyn Store>,
        driver: Arc<dyn VmBackend>,
        policies: Arc<dyn PolicyBackend>,
        clock: SharedClock,
        settings: Settings,
    ) -> Engine {
        Engine::with_plugins(
            store,
            driver,
            policies,
            Arc::new(NoNetworks),
            Arc::new(NoPlumbing),
            clock,
            settings,
        )
    }

    /// An engine whose policies are evaluated by `policies`, whose
    /// services' networks are made by `networks` and plumbed on the host by
    /// `plumbing` (the server's plugins).
    pub fn with_plugins(
        store: Box<dyn Store>,
        driver: Arc<dyn VmBackend>,
        policies: Arc<dyn PolicyBackend>,
        networks: Arc<dyn NetworkBackend>,
        plumbing: Arc<dyn PlumbingBackend>,
        clock: SharedClock,
        settings: Settings,
    ) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                store: SharedStore::new(store),
                driver,
                policies,
                networks,
                onegate: std::sync::OnceLock::new(),
                driver_id: std::sync::OnceLock::new(),
                clock,
                settings,
                locks: Mutex::new(HashMap::new()),
                rounds: Default::default(),
                plumbing,
                plumbing_lock: Default::default(),
                placing: Default::default(),
                hosts: Default::default(),
            }),
        }
    }

    /// A role size past the server's cap, as the field error to answer.
    fn check_role_size(&self, field: String, vms: u32) -> Result<(), EngineError> {
        let max = self.inner.settings.max_vms_per_role;
        if vms <= max {
            return Ok(());
        }
        Err(EngineError::Invalid(vec![FieldError {
            field,
            reason: format!(
                "{vms} VMs is more than this server allows in one role ({max}, engine.max_vms_per_role)"
            ),
        }]))
    }

    /// Run OneGate alongside: VMs created from now on get its endpoint and
    /// a token, and what VMs report through it counts in every round.
    pub fn set_onegate(&self, reports: Arc<dyn VmReports>) {
        let _ = self.inner.onegate.set(reports);
    }

    pub fn onegate(&self) -> Option<&Arc<dyn VmReports>> {
        self.inner.onegate.get()
    }

    /// Take on the services of a data directory with driver `id`: each
    /// service records the driver that made its VMs, and a VM belongs to
    /// that driver alone (another has never heard of it and would call
    /// it gone). Refused, naming them, while services have live VMs of
    /// another driver; services from before the record are taken as the
    /// configured driver's.
    pub fn adopt_driver(&self, id: &str) -> Result<(), EngineError> {
        let _ = self.inner.driver_id.set(id.to_string());
        let store = self.store();
        let database = |e: anyhow::Error| EngineError::Storage(format!("database: {e:#}"));
        let services = store.services().map_err(database)?;
        let mut foreign = Vec::new();
        for service in services {
            match &service.driver {
                Some(driver) if driver != id => match service.live_vm_count() {
                    0 => {}
                    live => foreign.push(format!(
                        "service {} ({live} VMs of driver `{driver}`)",
                        service.id
                    )),
                },
                Some(_) => {}
                None => {
                    let mut service = (*service).clone();
                    service.driver = Some(id.to_string());
                    store.save_service(&service).map_err(database)?;
                }
            }
        }
        if foreign.is_empty() {
            return Ok(());
        }
        // The services' VMs forbid it until they are gone.
        Err(EngineError::Lifecycle(LifecycleError::WrongState(format!(
            "engine.driver is `{id}`, but {}: only the driver that made a VM can reach it. \
             Start with that driver again, or undeploy those services with it first",
            foreign.join(", ")
        ))))
    }

    /// The store, for resources outside the life cycle (VM templates).
    pub fn store(&self) -> StoreGuard<'_> {
        self.inner.store.lock()
    }

    /// The operator's settings the engine applies.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The policy plugins the engine evaluates with: a simulation through
    /// the API runs the same ones.
    pub fn policies(&self) -> Arc<dyn PolicyBackend> {
        self.inner.policies.clone()
    }

    fn now(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    /// The clock the engine runs on: what the server's answers date
    /// things by (a template's registration time, a VM token's issue).
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    fn lock_for(&self, id: u64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(id).or_default().clone()
    }

    pub fn service(&self, id: u64) -> Result<Service, EngineError> {
        self.store()
            .service(id)?
            .ok_or_else(|| EngineError::NotFound(format!("service {id} does not exist")))
    }

    pub fn service_ids(&self) -> Result<Vec<u64>, EngineError> {
        Ok(self.store().service_ids()?)
    }

    /// Validate a template, create the service and start deploying it.
    pub async fn instantiate(&self, document: &serde_json::Value) -> Result<u64, EngineError> {
        self.instantiate_for(document, crate::permissions::Ownership::default())
            .await
    }

    /// Instantiate a service owned by `ownership`.
    pub async fn instantiate_for(
        &self,
        document: &serde_json::Value,
        ownership: crate::permissions::Ownership,
    ) -> Result<u64, EngineError> {
        let mut template = parse_template(document).map_err(EngineError::Invalid)?;
        crate::service::validate::fill_inputs(&mut template).map_err(EngineError::Invalid)?;
        crate::service::validate::fill_networks(&mut template).map_err(EngineError::Invalid)?;
        let missing: Vec<FieldError> = {
            let store = self.store();
            template
                .roles
                .iter()
                .enumerate()
                .filter(|(_, r)| !matches!(store.vm_template(r.template_id), Ok(Some(_))))
                .map(|(i, r)| FieldError {
                    field: format!("roles[{i}].template_id"),
                    reason: format!("VM template {} does not exist", r.template_id),
                })
                .collect()
        };
        if !missing.is_empty() {
            return Err(EngineError::Invalid(missing));
        }
        for (i, role) in template.roles.iter().enumerate() {
            self.check_role_size(format!("roles[{i}].cardinality"), role.cardinality)?;
        }
        let now = self.now();
        // The id is taken and the service written under one hold of the
        // store, so concurrent instantiations never share an id.
        let mut service = {
            let store = self.store();
            let settings = &self.inner.settings;
            let mut service =
                Service::new(store.next_service_id()?, template, now, settings.wait_ms);
            service.default_cooldown_s = settings.default_cooldown_s;
            service.ownership = ownership;
            service.driver = self.inner.driver_id.get().cloned();
            store.save_service(&service)?;
            service
        };
        let id = service.id;
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let effects = service.start(now);
        self.commit(&mut service, effects).await?;
        Ok(id)
    }

    /// Instantiate a service template with an instantiate request's
    /// `merge_template` (user input values, role overrides, a new name).
    pub async fn instantiate_merged(
        &self,
        template: &serde_json::Value,
        merge: &serde_json::Value,
    ) -> Result<u64, EngineError> {
        self.instantiate(&crate::service::merge::apply_merge_template(
            template, merge,
        ))
        .await
    }

    /// Change a service's owner, group or permissions.
    pub async fn set_ownership(
        &self,
        id: u64,
        ownership: crate::permissions::Ownership,
    ) -> Result<Service, EngineError> {
        self.operate(id, |s, now| {
            s.info(
                now,
                format!(
                    "Owner {}:{}, permissions {}",
                    ownership.uid,
                    ownership.gid,
                    ownership.permissions.octet()
                ),
            );
            s.ownership = ownership;
            Ok(Vec::new())
        })
        .await
    }

    /// Delete the services in DONE (`purge_done`). Undeployed services are
    /// deleted when their last role is done, so DONE documents only come
    /// from older data; this clears them. Returns the ids purged.
    /// Delete the DONE services `may_purge` allows; their ids.
    pub async fn purge_done(
        &self,
        may_purge: impl Fn(&Service) -> bool,
    ) -> Result<Vec<u64>, EngineError> {
        let mut purged = Vec::new();
        for id in self.service_ids()? {
            let lock = self.lock_for(id);
            let _guard = lock.lock().await;
            let store = self.store();
            if let Some(service) = store.service(id)?
                && service.state == crate::service::ServiceState::Done
                && may_purge(&service)
            {
                store.delete_service(id)?;
                purged.push(id);
            }
        }
        Ok(purged)
    }

    /// Apply an operation to a service under its lock.
    async fn operate(
        &self,
        id: u64,
        op: impl FnOnce(&mut Service, u64) -> Result<Vec<Effect>, LifecycleError>,
    ) -> Result<Service, EngineError> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let mut service = self.service(id)?;
        let effects = op(&mut service, self.now())?;
        self.commit(&mut service, effects).await?;
        Ok(service)
    }

    pub async fn undeploy(&self, id: u64, force: bool) -> Result<Service, EngineError> {
        self.operate(id, |s, now| s.undeploy(now, force)).await
    }

    pub async fn scale(
        &self,
        id: u64,
        role: &str,
        cardinality: u32,
        force: bool,
    ) -> Result<Service, EngineError> {
        self.check_role_size("cardinality".into(), cardinality)?;
        self.operate(id, |s, now| s.scale(role, cardinality, force, now))
            .await
    }

    pub async fn release(&self, id: u64) -> Result<Service, EngineError> {
        self.operate(id, |s, now| s.release(now)).await
    }

    pub async fn role_action(
        &self,
        id: u64,
        role: &str,
        request: &VmActionRequest,
    ) -> Result<Service, EngineError> {
        self.operate(id, |s, now| s.role_action(role, request, now))
            .await
    }

    /// A VM action on one VM of a service (OneGate's
    /// `POST /vms/:id/action`).
    pub async fn vm_action(
        &self,
        id: u64,
        vm_id: &str,
        action: crate::service::lifecycle::VmAction,
        args: Vec<(String, String)>,
    ) -> Result<Service, EngineError> {
        self.operate(id, |s, now| s.vm_action(vm_id, action, args, now))
            .await
    }

    /// A VM action on every role's VMs (`POST /service/:id/action`).
    pub async fn service_action(
        &self,
        id: u64,
        request: &VmActionRequest,
    ) -> Result<Service, EngineError> {
        self.operate(id, |s, now| s.service_action(request, now))
            .await
    }

    pub async fn delete_sched_action(
        &self,
        id: u64,
        role: Option<&str>,
        sched_id: u64,
    ) -> Result<Service, EngineError> {
        self.operate(id, |s, now| {
            s.delete_sched_action(role, sched_id, now)
                .map(|_| Vec::new())
        })
        .await
    }

    pub async fn add_role(
        &self,
        id: u64,
        role: &serde_json::Value,
    ) -> Result<Service, EngineError> {
        let role: crate::service::Role = serde_json::from_value(role.clone()).map_err(|e| {
            EngineError::Invalid(vec![FieldError {
                field: "role".into(),
                reason: e.to_string(),
            }])
        })?;
        if !matches!(self.store().vm_template(role.template_id), Ok(Some(_))) {
            return Err(EngineError::Invalid(vec![FieldError {
                field: "role.template_id".into(),
                reason: format!("VM template {} does not exist", role.template_id),
            }]));
        }
        self.check_role_size("role.cardinality".into(), role.cardinality)?;
        self.operate(id, |s, now| s.add_role(role, now)).await
    }

    pub async fn remove_role(&self, id: u64, role: &str) -> Result<Service, EngineError> {
        self.operate(id, |s, now| s.remove_role(role, now)).await
    }

    pub async fn update(
        &self,
        id: u64,
        document: &serde_json::Value,
    ) -> Result<Service, EngineError> {
        let template = parse_template(document).map_err(EngineError::Invalid)?;
        self.operate(id, |s, now| s.update(template, now).map(|_| Vec::new()))
            .await
    }

    pub async fn rename(&self, id: u64, name: &str) -> Result<Service, EngineError> {
        self.operate(id, |s, now| s.rename(name, now).map(|_| Vec::new()))
            .await
    }

    pub async fn recover(&self, id: u64) -> Result<Service, EngineError> {
        self.operate(id, |s, now| s.recover(now)).await
    }
}
