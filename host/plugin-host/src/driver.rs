//! Hypervisor drivers: a warm instance ([`DriverInstance`]) and the
//! supervised handle the rest of Flotilla uses ([`Driver`]).

use super::bindings::driver::DriverPlugin;
use super::engine::{KindPre, LoadError, LoadedPlugin};
use super::fault::CallError;
use super::instance::Instance;
use super::supervisor::{Supervisor, WarmInstance};
use super::{
    KeyValue, ManagedVm, PluginError, PluginFault, PluginInfo, VmAction, VmSpec, VmStatus,
};
use crate::bindings::driver::exports::flotilla::driver::driver as wit;
use std::sync::Arc;

/// One live instance of a driver. Calls block the calling thread.
pub type DriverInstance = Instance<DriverPlugin>;

impl DriverInstance {
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<DriverInstance, PluginFault> {
        Instance::start(plugin, "a driver", |pre, store| match pre {
            KindPre::Driver(pre) => Some(pre.instantiate(store)),
            _ => None,
        })
    }

    pub fn info(&mut self) -> Result<PluginInfo, CallError> {
        self.call("info", |b, s| {
            b.flotilla_driver_driver().call_info(s).map(Ok)
        })
        .map(Into::into)
    }

    pub fn create(&mut self, spec: &VmSpec) -> Result<String, CallError> {
        let spec = wit::VmSpec::from(spec);
        self.call("create", |b, s| {
            b.flotilla_driver_driver().call_create(s, &spec)
        })
    }

    /// One outcome per spec, in order; an `Err` of the call itself is a
    /// fault (or the plugin's answer was not one outcome per spec).
    pub fn create_many(
        &mut self,
        specs: &[VmSpec],
    ) -> Result<Vec<Result<String, PluginError>>, CallError> {
        let wit_specs: Vec<wit::VmSpec> = specs.iter().map(Into::into).collect();
        let outcomes = self.call("create-many", |b, s| {
            b.flotilla_driver_driver()
                .call_create_many(s, &wit_specs)
                .map(Ok)
        })?;
        if outcomes.len() != specs.len() {
            return Err(CallError::Plugin(PluginError::Other(format!(
                "create-many answered {} outcomes for {} VMs",
                outcomes.len(),
                specs.len()
            ))));
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.map_err(Into::into))
            .collect())
    }

    pub fn act(
        &mut self,
        vm_id: &str,
        action: VmAction,
        args: &[KeyValue],
    ) -> Result<(), CallError> {
        let args: Vec<_> = args.iter().map(Into::into).collect();
        self.call("act", |b, s| {
            b.flotilla_driver_driver()
                .call_act(s, vm_id, action.into(), &args)
        })
    }

    pub fn poll(&mut self, vm_ids: &[String]) -> Result<Vec<VmStatus>, CallError> {
        self.call("poll", |b, s| {
            b.flotilla_driver_driver().call_poll(s, vm_ids)
        })
        .map(|vms| vms.into_iter().map(Into::into).collect())
    }

    pub fn list(&mut self) -> Result<Vec<ManagedVm>, CallError> {
        self.call("list", |b, s| b.flotilla_driver_driver().call_list(s))
            .map(|vms| vms.into_iter().map(Into::into).collect())
    }
}

impl WarmInstance for DriverInstance {
    fn start(plugin: &Arc<LoadedPlugin>) -> Result<Self, PluginFault> {
        DriverInstance::new(plugin.clone())
    }
}

/// A driver as the rest of Flotilla sees it: cheap to clone, callable from
/// async code, backed by one supervised warm instance.
#[derive(Clone)]
pub struct Driver {
    /// Warm instances, each on its own thread; calls go round-robin, so
    /// concurrent services' calls overlap instead of queueing behind one.
    instances: Arc<[Supervisor<DriverInstance>]>,
    next: Arc<std::sync::atomic::AtomicUsize>,
}

impl Driver {
    pub fn start(plugin: Arc<LoadedPlugin>) -> Result<Driver, LoadError> {
        Driver::start_pool(plugin, 1)
    }

    /// A driver served by `instances` warm instances (at least one).
    pub fn start_pool(plugin: Arc<LoadedPlugin>, instances: usize) -> Result<Driver, LoadError> {
        plugin.expect_kind(super::PluginKind::Driver, "a driver")?;
        Ok(Driver {
            instances: (0..instances.max(1))
                .map(|_| Supervisor::start(plugin.clone()))
                .collect(),
            next: Arc::default(),
        })
    }

    /// The next instance, round-robin.
    fn supervisor(&self) -> &Supervisor<DriverInstance> {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.instances[i % self.instances.len()]
    }

    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        self.instances[0].plugin()
    }

    pub async fn info(&self) -> Result<PluginInfo, CallError> {
        self.supervisor().call(|d| d.info()).await
    }

    pub async fn create(&self, spec: VmSpec) -> Result<String, CallError> {
        self.supervisor().call(move |d| d.create(&spec)).await
    }

    /// Create several VMs in one call: one outcome per spec, in order.
    pub async fn create_many(
        &self,
        specs: Vec<VmSpec>,
    ) -> Result<Vec<Result<String, PluginError>>, CallError> {
        self.supervisor().call(move |d| d.create_many(&specs)).await
    }

    pub async fn act(
        &self,
        vm_id: String,
        action: VmAction,
        args: Vec<KeyValue>,
    ) -> Result<(), CallError> {
        self.supervisor()
            .call(move |d| d.act(&vm_id, action, &args))
            .await
    }

    pub async fn poll(&self, vm_ids: Vec<String>) -> Result<Vec<VmStatus>, CallError> {
        self.supervisor().call(move |d| d.poll(&vm_ids)).await
    }

    pub async fn list(&self) -> Result<Vec<ManagedVm>, CallError> {
        self.supervisor().call(|d| d.list()).await
    }

    /// Run any sequence of calls on the warm instance, blocking; for tools
    /// (`plugin check`, benchmarks) that run outside the async runtime.
    pub fn with_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DriverInstance) -> Result<R, CallError> + Send + 'static,
    ) -> Result<R, CallError> {
        self.supervisor().call_blocking(f)
    }
}
