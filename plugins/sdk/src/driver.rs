//! Hypervisor drivers (`flotilla:driver@0.1.0`).
//!
//! A driver creates VMs, acts on them and reports their state. The host owns
//! retries, ordering and service state; a driver translates calls to its
//! backend's API (reached through [`crate::http`]) and nothing more.

pub use crate::bindings::driver::exports::flotilla::driver::driver::{
    ManagedVm, VmAction, VmSpec, VmStatus,
};
pub use crate::types::{Error, KeyValue, Metric, PluginInfo, VmState, lookup};

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

    fn act(&mut self, vm_id: String, action: VmAction, args: Vec<KeyValue>) -> Result<(), Error>;

    /// The state of many VMs, in the order asked. A VM the backend does not
    /// know is reported as `VmState::Done` with a reason.
    fn poll(&mut self, vm_ids: Vec<String>) -> Result<Vec<VmStatus>, Error>;

    /// Every VM this driver manages, for reconciliation after a restart.
    fn list(&mut self) -> Result<Vec<ManagedVm>, Error>;
}

impl VmAction {
    pub const ALL: [VmAction; 19] = [
        VmAction::Terminate,
        VmAction::TerminateHard,
        VmAction::Undeploy,
        VmAction::UndeployHard,
        VmAction::Hold,
        VmAction::Release,
        VmAction::Stop,
        VmAction::Suspend,
        VmAction::Resume,
        VmAction::Reboot,
        VmAction::RebootHard,
        VmAction::Poweroff,
        VmAction::PoweroffHard,
        VmAction::SnapshotCreate,
        VmAction::SnapshotRevert,
        VmAction::SnapshotDelete,
        VmAction::DiskSnapshotCreate,
        VmAction::DiskSnapshotRevert,
        VmAction::DiskSnapshotDelete,
    ];

    /// The action's name as OneFlow spells it (`terminate-hard`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            VmAction::Terminate => "terminate",
            VmAction::TerminateHard => "terminate-hard",
            VmAction::Undeploy => "undeploy",
            VmAction::UndeployHard => "undeploy-hard",
            VmAction::Hold => "hold",
            VmAction::Release => "release",
            VmAction::Stop => "stop",
            VmAction::Suspend => "suspend",
            VmAction::Resume => "resume",
            VmAction::Reboot => "reboot",
            VmAction::RebootHard => "reboot-hard",
            VmAction::Poweroff => "poweroff",
            VmAction::PoweroffHard => "poweroff-hard",
            VmAction::SnapshotCreate => "snapshot-create",
            VmAction::SnapshotRevert => "snapshot-revert",
            VmAction::SnapshotDelete => "snapshot-delete",
            VmAction::DiskSnapshotCreate => "disk-snapshot-create",
            VmAction::DiskSnapshotRevert => "disk-snapshot-revert",
            VmAction::DiskSnapshotDelete => "disk-snapshot-delete",
        }
    }

    pub fn parse(name: &str) -> Option<VmAction> {
        VmAction::ALL
            .into_iter()
            .find(|a| a.as_str() == name.to_ascii_lowercase().replace('_', "-"))
    }
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

            impl __wit::Guest for __FlotillaDriverExport {
                fn info() -> $crate::types::PluginInfo {
                    __with(|d| d.info())
                }
                fn create(spec: __wit::VmSpec) -> Result<String, $crate::types::Error> {
                    __with(|d| d.create(spec))
                }
                fn act(
                    vm_id: String,
                    action: __wit::VmAction,
                    args: Vec<$crate::types::KeyValue>,
                ) -> Result<(), $crate::types::Error> {
                    __with(|d| d.act(vm_id, action, args))
                }
                fn poll(vm_ids: Vec<String>) -> Result<Vec<__wit::VmStatus>, $crate::types::Error> {
                    __with(|d| d.poll(vm_ids))
                }
                fn list() -> Result<Vec<__wit::ManagedVm>, $crate::types::Error> {
                    __with(|d| d.list())
                }
            }

            $crate::bindings::driver::__export_driver_world!(__FlotillaDriverExport with_types_in $crate::bindings::driver);
        };
    };
}
