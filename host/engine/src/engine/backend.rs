//! What the engine needs from a driver, so that the same engine runs on the
//! Wasm plugin (always, in the server) or on the same driver logic compiled
//! natively (in the deploy benchmark, to measure what Wasm costs).

use crate::plugin::{CallError, Driver, KeyValue, VmAction, VmSpec, VmState, VmStatus};
use crate::service::lifecycle::Observed;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A VM the driver manages, for reconciliation.
#[derive(Debug, Clone)]
pub struct ManagedRecord {
    pub id: String,
    pub operation_id: String,
    pub service_id: u64,
    pub done: bool,
}

/// Errors are strings: the engine only logs them in the service's log.
pub trait VmBackend: Send + Sync + 'static {
    /// Create VMs in one call: one outcome per spec, in order; a failure
    /// of the call as a whole is every VM's outcome.
    fn create_many(&self, specs: Vec<VmSpec>) -> BoxFuture<'_, Vec<Result<String, String>>>;
    /// `args`: the action's parameters (`name`, `disk_id`).
    fn act(
        &self,
        vm_id: String,
        action: VmAction,
        args: Vec<KeyValue>,
    ) -> BoxFuture<'_, Result<(), String>>;
    fn poll(&self, vm_ids: Vec<String>) -> BoxFuture<'_, Result<Vec<Observed>, String>>;
    fn list(&self) -> BoxFuture<'_, Result<Vec<ManagedRecord>, String>>;
}

pub fn call_error(e: CallError) -> String {
    match e {
        e @ CallError::Plugin(_) => format!("driver error: {e}"),
        CallError::Fault(f) => f.to_string(),
    }
}

fn observed(statuses: Vec<VmStatus>) -> Vec<Observed> {
    statuses.into_iter().map(Observed::from).collect()
}

fn managed(vms: Vec<crate::plugin::ManagedVm>) -> Vec<ManagedRecord> {
    vms.into_iter()
        .map(|v| ManagedRecord {
            done: v.state == VmState::Done,
            id: v.id,
            operation_id: v.operation_id,
            service_id: v.service_id,
        })
        .collect()
}

/// The Wasm driver plugin.
impl VmBackend for Driver {
    fn create_many(&self, specs: Vec<VmSpec>) -> BoxFuture<'_, Vec<Result<String, String>>> {
        let n = specs.len();
        Box::pin(async move {
            match Driver::create_many(self, specs).await {
                Ok(outcomes) => outcomes
                    .into_iter()
                    .map(|o| o.map_err(|e| call_error(CallError::Plugin(e))))
                    .collect(),
                Err(e) => vec![Err(call_error(e)); n],
            }
        })
    }

    fn act(
        &self,
        vm_id: String,
        action: VmAction,
        args: Vec<KeyValue>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            Driver::act(self, vm_id, action, args)
                .await
                .map_err(call_error)
        })
    }

    fn poll(&self, vm_ids: Vec<String>) -> BoxFuture<'_, Result<Vec<Observed>, String>> {
        Box::pin(async move {
            let statuses = Driver::poll(self, vm_ids).await.map_err(call_error)?;
            Ok(observed(statuses))
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ManagedRecord>, String>> {
        Box::pin(async move {
            let vms = Driver::list(self).await.map_err(call_error)?;
            Ok(managed(vms))
        })
    }
}

/// The sim driver's logic compiled natively: a few instances, each serving
/// one call at a time, as the Wasm plugin's pool does.
pub struct NativeSimDriver {
    instances: Vec<Arc<Mutex<flotilla_driver_sim::SimDriver>>>,
    next: std::sync::atomic::AtomicUsize,
}

impl NativeSimDriver {
    /// `instances` driver values, used round-robin as the plugin's pool is.
    pub fn new(endpoint: &str, instances: usize) -> NativeSimDriver {
        use flotilla_plugin_sdk::driver::Driver as _;
        flotilla_plugin_sdk::native_config::set("endpoint", endpoint);
        NativeSimDriver {
            instances: (0..instances.max(1))
                .map(|_| Arc::new(Mutex::new(flotilla_driver_sim::SimDriver::new())))
                .collect(),
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut flotilla_driver_sim::SimDriver) -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let driver = self.instances[i % self.instances.len()].clone();
        tokio::task::spawn_blocking(move || {
            let mut d = driver.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut d)
        })
        .await
        .map_err(|e| format!("native driver task: {e}"))?
    }
}

impl VmBackend for NativeSimDriver {
    fn create_many(&self, specs: Vec<VmSpec>) -> BoxFuture<'_, Vec<Result<String, String>>> {
        use flotilla_plugin_sdk::driver::Driver as _;
        let n = specs.len();
        Box::pin(async move {
            let outcomes = self.run(move |d| {
                Ok(d.create_many(specs)
                    .into_iter()
                    .map(|o| o.map_err(|e| e.to_string()))
                    .collect())
            });
            outcomes.await.unwrap_or_else(|e| vec![Err(e); n])
        })
    }

    fn act(
        &self,
        vm_id: String,
        action: VmAction,
        args: Vec<KeyValue>,
    ) -> BoxFuture<'_, Result<(), String>> {
        use flotilla_plugin_sdk::driver::Driver as _;
        Box::pin(self.run(move |d| d.act(vm_id, action, args).map_err(|e| e.to_string())))
    }

    fn poll(&self, vm_ids: Vec<String>) -> BoxFuture<'_, Result<Vec<Observed>, String>> {
        use flotilla_plugin_sdk::driver::Driver as _;
        Box::pin(self.run(move |d| Ok(observed(d.poll(vm_ids).map_err(|e| e.to_string())?))))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ManagedRecord>, String>> {
        use flotilla_plugin_sdk::driver::Driver as _;
        Box::pin(self.run(|d| Ok(managed(d.list().map_err(|e| e.to_string())?))))
    }
}
