//! Hypervisor drivers: a warm instance ([`DriverInstance`]) and the
//! supervised handle the rest of Flotilla uses ([`Driver`]).
//!
//! A driver for a fleet also exports `flotilla:driver/hosts`: found once,
//! when the plugin is loaded ([`DriverPre`]), and called beside the
//! `driver` functions on the same instance. A driver without it loads and
//! runs as before; asking it about hosts is refused before any call.

use super::bindings::driver::{DriverPlugin, DriverPluginIndices};
use super::bindings::fleet::exports::flotilla::driver::hosts as wit_hosts;
use super::engine::{KindPre, LoadError, LoadedPlugin};
use super::fault::CallError;
use super::instance::Instance;
use super::state::PluginState;
use super::supervisor::{Supervisor, WarmInstance};
use super::{
    HostMonitoring, HostProbe, KeyValue, ManagedVm, PluginError, PluginFault, PluginInfo, VmAction,
    VmSpec, VmStatus,
};
use crate::bindings::driver::exports::flotilla::driver::driver as wit;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::InstancePre;

/// The export a fleet driver adds beside `flotilla:driver/driver`.
const HOSTS: &str = "flotilla:driver/hosts@0.1.0";

/// A driver ready to instantiate: where its `driver` functions are, and
/// its `hosts` functions when it exports them.
pub(crate) struct DriverPre {
    instance_pre: InstancePre<PluginState>,
    driver: DriverPluginIndices,
    hosts: Option<wit_hosts::GuestIndices>,
}

impl DriverPre {
    /// Fails when the component lacks a `driver` function, or exports a
    /// `hosts` interface without its functions.
    pub(crate) fn new(instance_pre: InstancePre<PluginState>) -> wasmtime::Result<DriverPre> {
        let driver = DriverPluginIndices::new(&instance_pre)?;
        let hosts = match instance_pre.component().get_export_index(None, HOSTS) {
            Some(_) => Some(wit_hosts::GuestIndices::new(&instance_pre)?),
            None => None,
        };
        Ok(DriverPre {
            instance_pre,
            driver,
            hosts,
        })
    }

    /// Whether the driver exports `flotilla:driver/hosts`.
    pub(crate) fn manages_hosts(&self) -> bool {
        self.hosts.is_some()
    }

    fn instantiate(&self, store: &mut Store<PluginState>) -> wasmtime::Result<DriverBindings> {
        let instance = self.instance_pre.instantiate(&mut *store)?;
        let driver = self.driver.load(&mut *store, &instance)?;
        let hosts = match &self.hosts {
            Some(indices) => Some(indices.load(&mut *store, &instance)?),
            None => None,
        };
        Ok(DriverBindings { driver, hosts })
    }
}

/// A driver instance's exports.
pub struct DriverBindings {
    driver: DriverPlugin,
    hosts: Option<wit_hosts::Guest>,
}

/// One live instance of a driver. Calls block the calling thread.
pub type DriverInstance = Instance<DriverBindings>;

/// The refusal of a hosts call to a driver that does not export `hosts`.
fn no_hosts(plugin: &LoadedPlugin) -> CallError {
    CallError::Plugin(PluginError::Unsupported(format!(
        "driver `{}` does not manage hosts (it does not export {HOSTS})",
        plugin.id
    )))
}

impl DriverInstance {
    pub fn new(plugin: Arc<LoadedPlugin>) -> Result<DriverInstance, PluginFault> {
        Instance::start(plugin, "a driver", |pre, store| match pre {
            KindPre::Driver(pre) => Some(pre.instantiate(store)),
            _ => None,
        })
    }

    /// Whether the driver exports `flotilla:driver/hosts`.
    pub fn manages_hosts(&self) -> bool {
        self.bindings().hosts.is_some()
    }

    /// Monitor hosts: one outcome per host, in order; an `Err` of the call
    /// itself is a fault, a driver that does not manage hosts (refused
    /// here, `unsupported`, without calling it) or an answer that is not
    /// one outcome per host.
    pub fn monitor_hosts(
        &mut self,
        hosts: &[HostProbe],
    ) -> Result<Vec<Result<HostMonitoring, PluginError>>, CallError> {
        if !self.manages_hosts() {
            return Err(no_hosts(self.plugin()));
        }
        let probes: Vec<wit_hosts::Host> = hosts.iter().map(Into::into).collect();
        let outcomes = self.call("monitor", |b, s| match &b.hosts {
            Some(hosts) => hosts.call_monitor(s, &probes).map(Ok),
            // Checked above; an instance's exports do not change.
            None => Ok(Err(crate::bindings::types::Error::Unsupported(
                "no hosts export".into(),
            ))),
        })?;
        if outcomes.len() != hosts.len() {
            return Err(CallError::Plugin(PluginError::Other(format!(
                "monitor answered {} outcomes for {} hosts",
                outcomes.len(),
                hosts.len()
            ))));
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.map(Into::into).map_err(Into::into))
            .collect())
    }

    pub fn info(&mut self) -> Result<PluginInfo, CallError> {
        self.call("info", |b, s| {
            b.driver.flotilla_driver_driver().call_info(s).map(Ok)
        })
        .map(Into::into)
    }

    pub fn create(&mut self, spec: &VmSpec) -> Result<String, CallError> {
        let spec = wit::VmSpec::from(spec);
        self.call("create", |b, s| {
            b.driver.flotilla_driver_driver().call_create(s, &spec)
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
            b.driver
                .flotilla_driver_driver()
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
            b.driver
                .flotilla_driver_driver()
                .call_act(s, vm_id, action.into(), &args)
        })
    }

    pub fn poll(&mut self, vm_ids: &[String]) -> Result<Vec<VmStatus>, CallError> {
        self.call("poll", |b, s| {
            b.driver.flotilla_driver_driver().call_poll(s, vm_ids)
        })
        .map(|vms| vms.into_iter().map(Into::into).collect())
    }

    pub fn list(&mut self) -> Result<Vec<ManagedVm>, CallError> {
        self.call("list", |b, s| {
            b.driver.flotilla_driver_driver().call_list(s)
        })
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

    /// Whether the driver exports `flotilla:driver/hosts` (a driver for a
    /// fleet), found when it was loaded.
    pub fn manages_hosts(&self) -> bool {
        self.plugin().manages_hosts()
    }

    /// Monitor hosts in one call: one outcome per host, in order. A
    /// driver that does not manage hosts is refused at once
    /// (`CallError::Plugin(PluginError::Unsupported)`), without a call.
    pub async fn monitor_hosts(
        &self,
        hosts: Vec<HostProbe>,
    ) -> Result<Vec<Result<HostMonitoring, PluginError>>, CallError> {
        if !self.manages_hosts() {
            return Err(no_hosts(self.plugin()));
        }
        self.supervisor()
            .call(move |d| d.monitor_hosts(&hosts))
            .await
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
