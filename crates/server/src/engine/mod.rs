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

pub use backend::{ManagedRecord, NativeSimDriver, VmBackend};

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

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: SharedStore,
    driver: Arc<dyn VmBackend>,
    clock: SharedClock,
    settings: Settings,
    locks: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<()>>>>,
}

/// The operator's settings the engine applies (`[engine]` in flotilla.toml).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a deploy, scale or undeploy may wait for VMs.
    pub wait_ms: u64,
    /// The most VMs one role may have, whatever `force` says.
    pub max_vms_per_role: u32,
    /// Cooldown of roles that set none.
    pub default_cooldown_s: u32,
}

impl Default for Settings {
    fn default() -> Self {
        let engine = crate::config::EngineConfig::default();
        Settings {
            wait_ms: engine.wait_seconds * 1000,
            max_vms_per_role: engine.max_vms_per_role,
            default_cooldown_s: engine.default_cooldown_seconds,
        }
    }
}

/// The service is written after this many driver answers, or after a
/// quarter of the answers so far if that is more (and after the last):
/// answers not yet written when a crash comes are asked again, and writing
/// after each one would make a role of thousands of VMs cost a write of
/// the whole service per VM. Growing the batch keeps a large scale linear.
const ANSWERS_PER_WRITE: usize = 64;
/// Creates sent to the driver in one call: a round's creates go together,
/// up to this many, so a VM costs a share of a call rather than a whole
/// one. Bounded so that one call stays well within the plugin's deadline
/// and memory, and answers are written as often as `ANSWERS_PER_WRITE`.
const CREATES_PER_CALL: usize = ANSWERS_PER_WRITE;

impl Engine {
    /// `wait_ms`: how long a deploy, scale or undeploy may wait for VMs;
    /// the other settings take their defaults.
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
        Engine {
            inner: Arc::new(Inner {
                store: SharedStore::new(store),
                driver,
                clock,
                settings,
                locks: Mutex::new(HashMap::new()),
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

    /// The store, for resources outside the life cycle (VM templates).
    pub fn store(&self) -> StoreGuard<'_> {
        self.inner.store.lock()
    }

    fn now(&self) -> u64 {
        self.inner.clock.now_ms()
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
        self.instantiate_for(document, crate::access::Ownership::default())
            .await
    }

    /// Instantiate a service owned by `ownership`.
    pub async fn instantiate_for(
        &self,
        document: &serde_json::Value,
        ownership: crate::access::Ownership,
    ) -> Result<u64, EngineError> {
        let mut template = parse_template(document).map_err(EngineError::Invalid)?;
        crate::service::validate::fill_inputs(&mut template).map_err(EngineError::Invalid)?;
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
            let settings = self.inner.settings;
            let mut service =
                Service::new(store.next_service_id()?, template, now, settings.wait_ms);
            service.default_cooldown_s = settings.default_cooldown_s;
            service.ownership = ownership;
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
        ownership: crate::access::Ownership,
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
    pub async fn purge_done(&self) -> Result<Vec<u64>, EngineError> {
        let mut purged = Vec::new();
        for id in self.service_ids()? {
            let lock = self.lock_for(id);
            let _guard = lock.lock().await;
            let store = self.store();
            if let Some(service) = store.service(id)?
                && service.state == crate::service::ServiceState::Done
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

    /// One round for one service: retry creates that were recorded but not
    /// confirmed (after a crash), poll its VMs, move it on.
    pub async fn tick(&self, id: u64) -> Result<(), EngineError> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let mut service = match self.store().service(id)? {
            Some(s) => s,
            None => return Ok(()),
        };
        if service.state == crate::service::ServiceState::Pending {
            // Stored but never started (a crash right after it was
            // created): start it now.
            let effects = service.start(self.now());
            return self.commit(&mut service, effects).await;
        }
        // What a crash interrupted: creates recorded but not confirmed
        // (retried under the same operation id) and VM actions recorded but
        // not answered (sent again; they are idempotent).
        let retries: Vec<Effect> = service
            .unconfirmed_creates()
            .into_iter()
            .map(Effect::Create)
            .chain(service.outbox.iter().cloned().map(Effect::Act))
            .collect();
        if !retries.is_empty() {
            self.execute(&mut service, retries).await?;
        }
        let ids = service.vm_ids();
        let observed = if ids.is_empty() {
            Vec::new()
        } else {
            match self.inner.driver.poll(ids).await {
                Ok(observed) => observed,
                Err(e) => {
                    let message = format!("Polling VMs failed: {e}");
                    if service.log.last().map(|l| &l.message) != Some(&message) {
                        service.error(self.now(), message);
                        self.store().save_service(&service)?;
                    }
                    return Ok(());
                }
            }
        };
        // Write only when the round changed something: most rounds of a
        // running service change nothing.
        let before = service.clone();
        let effects = service.observe(&observed, self.now());
        if service != before || !effects.is_empty() {
            self.commit(&mut service, effects).await?;
        }
        Ok(())
    }

    /// A round over every service; services progress concurrently.
    pub async fn tick_all(&self) -> Result<(), EngineError> {
        let ids = self.service_ids()?;
        tracing::debug!(services = ids.len(), "engine round");
        let mut tasks = tokio::task::JoinSet::new();
        for id in ids {
            let engine = self.clone();
            tasks.spawn(async move { engine.tick(id).await });
        }
        while let Some(result) = tasks.join_next().await {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!("engine round: {e}"),
                Err(e) => tracing::error!("engine round task failed: {e}"),
            }
        }
        Ok(())
    }

    /// Write the service with the VM actions among `effects` in its
    /// outbox, then carry them out: an intent is on disk before the driver
    /// hears of it.
    async fn commit(&self, service: &mut Service, effects: Vec<Effect>) -> Result<(), EngineError> {
        service.record(&effects);
        self.store().save_service(service)?;
        self.execute(service, effects).await
    }

    /// Carry out effects (and those their results lead to), writing the
    /// service every few answers and after the last. An answer lost to a
    /// crash is asked again: creates by operation id, actions from the
    /// outbox.
    async fn execute(
        &self,
        service: &mut Service,
        effects: Vec<Effect>,
    ) -> Result<(), EngineError> {
        let mut queue: VecDeque<Effect> = effects.into();
        let (mut unwritten, mut answered) = (0, 0);
        while let Some(effect) = queue.pop_front() {
            let done = match effect {
                Effect::Create(create) => {
                    // The creates that follow go in the same call.
                    let mut batch = vec![create];
                    while batch.len() < CREATES_PER_CALL {
                        match queue.pop_front() {
                            Some(Effect::Create(next)) => batch.push(next),
                            Some(other) => {
                                queue.push_front(other);
                                break;
                            }
                            None => break,
                        }
                    }
                    let results = self.create_many(service, &batch).await;
                    for (create, result) in batch.iter().zip(results) {
                        service.observe_created(create, result, self.now());
                    }
                    batch.len()
                }
                Effect::Act(act) => {
                    let result = self.act(&act).await;
                    queue.extend(service.observe_acted(&act, result, self.now()));
                    1
                }
            };
            unwritten += done;
            answered += done;
            if unwritten >= ANSWERS_PER_WRITE.max(answered / 4) || queue.is_empty() {
                self.store().save_service(service)?;
                unwritten = 0;
            }
        }
        if service.deleted {
            self.store().delete_service(service.id)?;
        }
        Ok(())
    }

    /// One VM action. A terminate of a VM that is already gone (DONE, or
    /// unknown to the driver) has done its job: a retried DELETE or an
    /// action resent after a crash must not fail the service.
    async fn act(&self, act: &VmAct) -> Result<(), String> {
        let driver = &self.inner.driver;
        let refused = match driver
            .act(
                act.vm_id.clone(),
                act.action,
                act.args
                    .iter()
                    .map(|(k, v)| crate::plugin::KeyValue::new(k, v))
                    .collect(),
            )
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if act.is_terminate()
            && let Ok(seen) = driver.poll(vec![act.vm_id.clone()]).await
            && seen
                .iter()
                .all(|o| o.state == crate::service::lifecycle::VmState::Done)
        {
            return Ok(());
        }
        Err(refused)
    }

    /// Create VMs in one driver call: one outcome per create, in order. A
    /// create whose spec cannot be built (its VM template is gone) fails
    /// alone, without a call.
    async fn create_many(
        &self,
        service: &Service,
        creates: &[CreateVm],
    ) -> Vec<Result<String, String>> {
        let mut outcomes: Vec<Option<Result<String, String>>> = Vec::with_capacity(creates.len());
        let mut specs = Vec::with_capacity(creates.len());
        for create in creates {
            match self.vm_spec(service, create) {
                Ok(spec) => {
                    specs.push(spec);
                    outcomes.push(None);
                }
                Err(e) => outcomes.push(Some(Err(e))),
            }
        }
        let mut answers = if specs.is_empty() {
            Vec::new()
        } else {
            self.inner.driver.create_many(specs).await
        }
        .into_iter();
        outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| {
                    answers
                        .next()
                        .unwrap_or_else(|| Err("the driver gave no answer for this VM".into()))
                })
            })
            .collect()
    }

    fn vm_spec(&self, service: &Service, create: &CreateVm) -> Result<VmSpec, String> {
        let vm_template = self
            .store()
            .vm_template(create.template_id)
            .map_err(|e| format!("{e:#}"))?
            .ok_or_else(|| format!("VM template {} does not exist", create.template_id))?;
        let mut template = self.role_template(service, &create.role, &vm_template.attributes)?;
        // `${PARENT.path}` references, from the template the parent's VMs
        // were created with. The parent's template is built only when a
        // reference asks for it: most templates have none.
        let parents = service
            .template
            .role(&create.role)
            .map(|r| r.parents.clone())
            .unwrap_or_default();
        let lookup = |role: &str, path: &str| {
            let t = service.template.role(role)?;
            let attrs = self
                .store()
                .vm_template(t.template_id)
                .ok()
                .flatten()?
                .attributes;
            lookup_path(&self.role_template(service, role, &attrs).ok()?, path)
        };
        crate::service::merge::resolve_parent_refs(&mut template, &parents, &lookup);
        Ok(VmSpec {
            operation_id: create.operation_id.clone(),
            service_id: service.id,
            role_name: create.role.clone(),
            vm_name: create.name.clone(),
            template: serde_json::Value::Object(template).to_string(),
            hold: create.hold,
        })
    }

    fn role_template(
        &self,
        service: &Service,
        role: &str,
        vm_template: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        crate::service::lifecycle::vm_template_json(service, role, vm_template)
            .ok_or_else(|| format!("role {role} is not in the service"))
    }

    /// After a restart: match the driver's VMs with the services. A VM
    /// whose create was recorded but not confirmed gets its id; a VM that
    /// carries a service operation id no service knows is an orphan and is
    /// terminated. Returns how many VMs were adopted and terminated.
    pub async fn reconcile(&self) -> Result<(usize, usize), EngineError> {
        let managed = self
            .inner
            .driver
            .list()
            .await
            .map_err(|e| EngineError::Storage(format!("listing the driver's VMs: {e}")))?;
        // By service, so each service is read and written once.
        let mut by_service: std::collections::BTreeMap<u64, Vec<ManagedRecord>> =
            Default::default();
        for vm in managed {
            if !vm.done && vm.operation_id.starts_with("service-") {
                by_service.entry(vm.service_id).or_default().push(vm);
            }
        }
        let (mut adopted, mut orphans) = (0, Vec::new());
        for (id, vms) in by_service {
            let lock = self.lock_for(id);
            let _guard = lock.lock().await;
            let mut service = self.store().service(id)?;
            let mut changed = false;
            for vm in vms {
                let node = service.as_mut().and_then(|s| {
                    s.roles
                        .iter_mut()
                        .flat_map(|r| r.nodes.iter_mut())
                        .find(|n| n.operation_id == vm.operation_id)
                });
                match node {
                    Some(node) if node.vm_id.is_none() => {
                        node.vm_id = Some(vm.id);
                        adopted += 1;
                        changed = true;
                    }
                    Some(_) => {}
                    None => orphans.push(vm),
                }
            }
            if let (Some(service), true) = (&service, changed) {
                self.store().save_service(service)?;
            }
        }
        for vm in &orphans {
            tracing::warn!(vm = %vm.id, operation = %vm.operation_id, "terminating a VM no service owns");
            if let Err(e) = self
                .inner
                .driver
                .act(
                    vm.id.clone(),
                    crate::plugin::VmAction::TerminateHard,
                    Vec::new(),
                )
                .await
            {
                tracing::error!(vm = %vm.id, "terminating an orphan VM failed: {e}");
            }
        }
        Ok((adopted, orphans.len()))
    }

    /// Tick every service every `interval` until the engine is dropped.
    pub fn spawn_loop(&self, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = engine.tick_all().await {
                    tracing::error!("engine round: {e}");
                }
                tokio::time::sleep(interval).await;
            }
        })
    }
}

/// The value at an OpenNebula-style path (`TEMPLATE/CONTEXT/DB_NAME`) in a
/// VM template; the leading `TEMPLATE` is optional.
fn lookup_path(
    template: &serde_json::Map<String, serde_json::Value>,
    path: &str,
) -> Option<String> {
    let mut parts: Vec<&str> = path.split('/').collect();
    if parts.first() == Some(&"TEMPLATE") {
        parts.remove(0);
    }
    let first = *parts.first()?;
    let mut current = template
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(first))?
        .1;
    for part in &parts[1..] {
        current = current
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(part))?
            .1;
    }
    crate::service::inputs::as_text(current)
}
