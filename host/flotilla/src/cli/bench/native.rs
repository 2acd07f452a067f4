//! What the benchmarks compare the Wasm plugins with: the sim driver's
//! logic and the built-in expression policy compiled into the binary,
//! handed to the engine as its `VmBackend` and `PolicyBackend`. Neither
//! the engine nor the server links them.

use crate::engine::{BoxFuture, ManagedRecord, PolicyBackend, VmBackend};
use crate::plugin::{
    Evaluation, HostMonitoring, HostProbe, KeyValue, Recommendation, VmAction, VmSpec,
};
use crate::service::lifecycle::Observed;
use flotilla_model::BackendError;
use flotilla_plugin_sdk::driver::{Driver as _, Hosts as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The sim driver's logic compiled natively: a few instances, each serving
/// one call at a time, as the Wasm plugin's pool does.
pub struct NativeSimDriver {
    instances: Vec<Arc<Mutex<flotilla_driver_sim::SimDriver>>>,
    next: AtomicUsize,
}

impl NativeSimDriver {
    /// `instances` driver values, used round-robin as the plugin's pool is.
    pub fn new(endpoint: &str, instances: usize) -> NativeSimDriver {
        flotilla_plugin_sdk::native_config::set("endpoint", endpoint);
        NativeSimDriver {
            instances: (0..instances.max(1))
                .map(|_| Arc::new(Mutex::new(flotilla_driver_sim::SimDriver::new())))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut flotilla_driver_sim::SimDriver) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, BackendError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let driver = self.instances[i % self.instances.len()].clone();
        tokio::task::spawn_blocking(move || {
            let mut d = driver.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut d)
        })
        .await
        .map_err(|e| BackendError::Fault(format!("native driver task: {e}")))?
    }
}

impl VmBackend for NativeSimDriver {
    fn create_many(&self, specs: Vec<VmSpec>) -> BoxFuture<'_, Vec<Result<String, BackendError>>> {
        let n = specs.len();
        Box::pin(async move {
            let outcomes = self.run(move |d| {
                Ok(d.create_many(specs)
                    .into_iter()
                    .map(|o| o.map_err(refused))
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
    ) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(self.run(move |d| d.act(vm_id, action, args).map_err(refused)))
    }

    fn poll(&self, vm_ids: Vec<String>) -> BoxFuture<'_, Result<Vec<Observed>, BackendError>> {
        Box::pin(self.run(move |d| {
            let statuses = d.poll(vm_ids).map_err(refused)?;
            Ok(statuses.into_iter().map(Observed::from).collect())
        }))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ManagedRecord>, BackendError>> {
        Box::pin(self.run(|d| {
            let vms = d.list().map_err(refused)?;
            Ok(vms.into_iter().map(ManagedRecord::from).collect())
        }))
    }

    /// The sim driver drives a fleet, natively as in Wasm.
    fn manages_hosts(&self) -> bool {
        true
    }

    fn monitor_hosts(
        &self,
        hosts: Vec<HostProbe>,
    ) -> BoxFuture<'_, Result<Vec<Result<HostMonitoring, BackendError>>, BackendError>> {
        Box::pin(self.run(move |d| {
            Ok(d.monitor(hosts)
                .into_iter()
                .map(|o| o.map_err(refused))
                .collect())
        }))
    }
}

/// What the sim driver returned: its refusal.
fn refused(e: impl std::fmt::Display) -> BackendError {
    BackendError::Refused(e.to_string())
}

/// The built-in expression policy compiled into the binary: what the
/// deploy and scale benchmarks' engines evaluate with, and the native side
/// of `bench policies`.
pub struct NativePolicies;

impl PolicyBackend for NativePolicies {
    fn evaluate(&self, id: &str, input: &Evaluation) -> Result<Recommendation, BackendError> {
        if id != flotilla_policy::builtin::ID {
            return Err(BackendError::Refused(format!(
                "plugin `{id}` is not available natively: nothing changes"
            )));
        }
        flotilla_policy::builtin::evaluate(input).map_err(|e| {
            BackendError::Refused(format!("plugin `{id}` refused the evaluation: {e}"))
        })
    }

    /// The policy as its template was read (the expression parsed then),
    /// not its params.
    fn evaluate_call(
        &self,
        call: &crate::service::lifecycle::PolicyCall,
    ) -> Result<Recommendation, BackendError> {
        match call.builtin() {
            Some(answer) => answer.map_err(|e| {
                BackendError::Refused(format!(
                    "plugin `{}` refused the evaluation: {e}",
                    call.plugin
                ))
            }),
            None => self.evaluate(&call.plugin, &call.input),
        }
    }
}
