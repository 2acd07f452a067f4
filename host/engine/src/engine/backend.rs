//! What the engine needs from a driver, so that the same engine runs on the
//! Wasm plugin (always, in the server) or on another implementation handed
//! to it (the deploy benchmark's sim driver compiled natively, to measure
//! what Wasm costs).

use crate::plugin::{
    CallError, Driver, HostMonitoring, HostProbe, KeyValue, ManagedVm, VmAction, VmSpec, VmState,
};
use crate::service::lifecycle::Observed;
use flotilla_model::BackendError;
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A VM the driver manages, for reconciliation.
#[derive(Debug, Clone)]
pub struct ManagedRecord {
    pub id: String,
    pub operation_id: String,
    pub service_id: u64,
    pub done: bool,
}

/// A driver's refusal (the VM or its template is wrong) comes back apart
/// from a fault (the plugin or the hypervisor broke); the engine logs
/// either in the service's log as the error's sentence.
pub trait VmBackend: Send + Sync + 'static {
    /// Create VMs in one call: one outcome per spec, in order; a failure
    /// of the call as a whole is every VM's outcome.
    fn create_many(&self, specs: Vec<VmSpec>) -> BoxFuture<'_, Vec<Result<String, BackendError>>>;
    /// `args`: the action's parameters (`name`, `disk_id`).
    fn act(
        &self,
        vm_id: String,
        action: VmAction,
        args: Vec<KeyValue>,
    ) -> BoxFuture<'_, Result<(), BackendError>>;
    fn poll(&self, vm_ids: Vec<String>) -> BoxFuture<'_, Result<Vec<Observed>, BackendError>>;
    fn list(&self) -> BoxFuture<'_, Result<Vec<ManagedRecord>, BackendError>>;

    /// Whether the driver monitors a fleet of hosts (its plugin exports
    /// `flotilla:driver/hosts`), so VMs may be placed on them. By default
    /// not.
    fn manages_hosts(&self) -> bool {
        false
    }

    /// Monitor hosts in one call: one outcome per host, in order (a host
    /// that does not answer is an error for that host only); an error of
    /// the call as a whole is every host's. By default refused: the driver
    /// does not manage hosts.
    fn monitor_hosts(
        &self,
        hosts: Vec<HostProbe>,
    ) -> BoxFuture<'_, Result<Vec<Result<HostMonitoring, BackendError>>, BackendError>> {
        let _ = hosts;
        Box::pin(async { Err(does_not_manage_hosts()) })
    }
}

/// What a backend without hosts answers when asked about them.
fn does_not_manage_hosts() -> BackendError {
    BackendError::Refused("driver error: the driver does not manage hosts".into())
}

/// A driver call's error: what the plugin returned is its refusal, a
/// fault is the host's report of it.
pub fn call_error(e: CallError) -> BackendError {
    match e {
        CallError::Plugin(e) => BackendError::Refused(format!("driver error: {e}")),
        CallError::Fault(f) => BackendError::Fault(f.to_string()),
    }
}

impl From<ManagedVm> for ManagedRecord {
    fn from(v: ManagedVm) -> ManagedRecord {
        ManagedRecord {
            done: v.state == VmState::Done,
            id: v.id,
            operation_id: v.operation_id,
            service_id: v.service_id,
        }
    }
}

/// The Wasm driver plugin.
impl VmBackend for Driver {
    fn create_many(&self, specs: Vec<VmSpec>) -> BoxFuture<'_, Vec<Result<String, BackendError>>> {
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
    ) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            Driver::act(self, vm_id, action, args)
                .await
                .map_err(call_error)
        })
    }

    fn poll(&self, vm_ids: Vec<String>) -> BoxFuture<'_, Result<Vec<Observed>, BackendError>> {
        Box::pin(async move {
            let statuses = Driver::poll(self, vm_ids).await.map_err(call_error)?;
            Ok(statuses.into_iter().map(Observed::from).collect())
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ManagedRecord>, BackendError>> {
        Box::pin(async move {
            let vms = Driver::list(self).await.map_err(call_error)?;
            Ok(vms.into_iter().map(ManagedRecord::from).collect())
        })
    }

    fn manages_hosts(&self) -> bool {
        Driver::manages_hosts(self)
    }

    /// A plugin without `flotilla:driver/hosts` is refused by the plugin
    /// host before any call (`unsupported`, which reads as a refusal).
    fn monitor_hosts(
        &self,
        hosts: Vec<HostProbe>,
    ) -> BoxFuture<'_, Result<Vec<Result<HostMonitoring, BackendError>>, BackendError>> {
        Box::pin(async move {
            let outcomes = Driver::monitor_hosts(self, hosts)
                .await
                .map_err(call_error)?;
            Ok(outcomes
                .into_iter()
                .map(|o| o.map_err(|e| call_error(CallError::Plugin(e))))
                .collect())
        })
    }
}
