//! Hypervisor drivers (`flotilla:driver@0.1.0`).
//!
//! A driver creates VMs, acts on them and reports their state. The host owns
//! retries, ordering and service state; a driver translates calls to its
//! backend's API (reached through [`crate::http`]) and nothing more.

pub use crate::types::{Error, KeyValue, Metric, PluginInfo, VmState, lookup};
/// For a driver whose `create_many` checks each spec before one request.
pub use flotilla_model::batch::{Prechecked, precheck};
pub use flotilla_model::{ManagedVm, VmAction, VmSpec, VmStatus};

pub trait Driver: 'static {
    /// Called once, before the first call the instance serves. The host
    /// may replace an instance at any time (after a fault, or to recycle
    /// it), so keep nothing here that the backend cannot tell you again.
    fn new() -> Self
    where
        Self: Sized;

    fn info(&self) -> PluginInfo;

    /// Create a VM and return its id. Must be idempotent on
    /// `spec.operation_id`: the host retries with the same id after a crash
    /// and expects the VM the first call made.
    fn create(&mut self, spec: VmSpec) -> Result<String, Error>;

    /// Create several VMs: one outcome per spec, in the order given, each
    /// as [`Driver::create`] would answer it (idempotent on its operation
    /// id; one refused VM does not fail the others). The host sends a
    /// round's creates together, so a backend that can create many VMs in
    /// one request saves a round trip per VM by overriding this; the
    /// default creates them one at a time.
    fn create_many(&mut self, specs: Vec<VmSpec>) -> Vec<Result<String, Error>> {
        specs.into_iter().map(|spec| self.create(spec)).collect()
    }

    fn act(&mut self, vm_id: String, action: VmAction, args: Vec<KeyValue>) -> Result<(), Error>;

    /// The state of many VMs, in the order asked. A VM the backend does not
    /// know is reported as `VmState::Done` with a reason.
    fn poll(&mut self, vm_ids: Vec<String>) -> Result<Vec<VmStatus>, Error>;

    /// Every VM this driver manages, for reconciliation after a restart.
    fn list(&mut self) -> Result<Vec<ManagedVm>, Error>;
}

/// Export a [`Driver`] implementation as the plugin's `flotilla:driver`
/// world. Outside Wasm the macro expands to nothing, so the same crate can
/// be used natively.
#[macro_export]
macro_rules! export_driver {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::driver::exports::flotilla::driver::driver as __wit;
            use $crate::driver::Driver as _;

            struct __FlotillaDriverExport;

            $crate::__instance_slot!($ty);

            type __Error = $crate::bindings::driver::flotilla::types::types::Error;

            impl __wit::Guest for __FlotillaDriverExport {
                fn info() -> $crate::bindings::driver::flotilla::types::types::PluginInfo {
                    __with(|d| d.info()).into()
                }
                fn create(spec: __wit::VmSpec) -> Result<String, __Error> {
                    __with(|d| d.create(spec.into())).map_err(Into::into)
                }
                fn create_many(
                    specs: Vec<__wit::VmSpec>,
                ) -> Vec<Result<String, __Error>> {
                    let specs = specs.into_iter().map(Into::into).collect();
                    __with(|d| d.create_many(specs))
                        .into_iter()
                        .map(|outcome| outcome.map_err(Into::into))
                        .collect()
                }
                fn act(
                    vm_id: String,
                    action: __wit::VmAction,
                    args: Vec<$crate::bindings::driver::flotilla::types::types::KeyValue>,
                ) -> Result<(), __Error> {
                    let args = args.into_iter().map(Into::into).collect();
                    __with(|d| d.act(vm_id, action.into(), args)).map_err(Into::into)
                }
                fn poll(vm_ids: Vec<String>) -> Result<Vec<__wit::VmStatus>, __Error> {
                    __with(|d| d.poll(vm_ids))
                        .map(|vms| vms.into_iter().map(Into::into).collect())
                        .map_err(Into::into)
                }
                fn list() -> Result<Vec<__wit::ManagedVm>, __Error> {
                    __with(|d| d.list())
                        .map(|vms| vms.into_iter().map(Into::into).collect())
                        .map_err(Into::into)
                }
            }

            $crate::bindings::driver::__export_driver_world!(__FlotillaDriverExport with_types_in $crate::bindings::driver);
        };
    };
}
