//! Hypervisor drivers (`flotilla:driver@0.1.0`).
//!
//! A driver creates VMs, acts on them and reports their state. The host owns
//! retries, ordering and service state; a driver translates calls to its
//! backend's API (reached through [`crate::http`]) and nothing more.
//!
//! A driver for a fleet of hosts (OpenNebula's `onehost`) also implements
//! [`Hosts`] and is exported with [`export_fleet_driver!`](crate::export_fleet_driver)
//! instead of [`export_driver!`](crate::export_driver): the host then
//! places VMs on its hosts (a VM's template says where, in `HOST`, see
//! [`placed_host`]) and monitors them through it.

pub use crate::types::{Error, KeyValue, Metric, PluginInfo, VmState, lookup};
/// For a driver whose `create_many` checks each spec before one request.
pub use flotilla_model::batch::{Prechecked, precheck};
pub use flotilla_model::{HostMonitoring, HostProbe, ManagedVm, VmAction, VmSpec, VmStatus};

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

/// The hosts of a fleet, for a driver whose VMs run on many machines
/// (`flotilla:driver/hosts`). Export a type that implements it and
/// [`Driver`] with [`export_fleet_driver!`](crate::export_fleet_driver).
pub trait Hosts: Driver {
    /// Monitor hosts: one outcome per host, in the order given. A host
    /// that does not answer is an error for that host only
    /// ([`Error::Unavailable`]), as is one the backend does not know
    /// ([`Error::NotFound`]). Each host's `address` is how to reach it
    /// (a libvirt URI, a simulated hypervisor's host name); `name` is what
    /// Flotilla calls it.
    fn monitor(&mut self, hosts: Vec<HostProbe>) -> Vec<Result<HostMonitoring, Error>>;
}

/// The host a VM was placed on, from its spec's template: the `HOST`
/// attribute the host sets (`{"NAME": .., "ADDRESS": ..}`) when it placed
/// the VM on a host of the fleet; `None` without one. A template that is
/// not JSON, or a `HOST` without a `NAME`, is invalid input.
pub fn placed_host(spec: &VmSpec) -> Result<Option<HostProbe>, Error> {
    let template: serde_json::Value = serde_json::from_str(&spec.template)
        .map_err(|e| Error::InvalidInput(format!("template: not JSON: {e}")))?;
    let Some((_, host)) = template
        .as_object()
        .and_then(|t| t.iter().find(|(k, _)| k.eq_ignore_ascii_case("HOST")))
    else {
        return Ok(None);
    };
    let field = |key: &str| {
        host.as_object()
            .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    };
    let name = field("NAME")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Error::InvalidInput("template.HOST.NAME: must be a host's name".into()))?;
    let address = field("ADDRESS").unwrap_or_else(|| name.clone());
    Ok(Some(HostProbe { name, address }))
}

/// The `driver` interface's functions on the export type `$export`, in
/// an export macro's scope (`__wit`, `__with`, `__Error`).
#[doc(hidden)]
#[macro_export]
macro_rules! __driver_guest {
    ($export:ident) => {
        impl __wit::Guest for $export {
            fn info() -> $crate::bindings::driver::flotilla::types::types::PluginInfo {
                __with(|d| d.info()).into()
            }
            fn create(spec: __wit::VmSpec) -> Result<String, __Error> {
                __with(|d| d.create(spec.into())).map_err(Into::into)
            }
            fn create_many(specs: Vec<__wit::VmSpec>) -> Vec<Result<String, __Error>> {
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
    };
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

            $crate::__driver_guest!(__FlotillaDriverExport);

            $crate::bindings::driver::__export_driver_world!(__FlotillaDriverExport with_types_in $crate::bindings::driver);
        };
    };
}

/// Export a type that implements [`Driver`] and [`Hosts`] as the plugin's
/// `flotilla:driver/fleet-driver-plugin` world: a driver that also
/// monitors the hosts of its fleet. One instance serves both. Outside Wasm
/// the macro expands to nothing.
#[macro_export]
macro_rules! export_fleet_driver {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::driver::exports::flotilla::driver::driver as __wit;
            use $crate::bindings::fleet::exports::flotilla::driver::hosts as __wit_hosts;
            use $crate::driver::{Driver as _, Hosts as _};

            struct __FlotillaFleetDriverExport;

            $crate::__instance_slot!($ty);

            type __Error = $crate::bindings::driver::flotilla::types::types::Error;

            $crate::__driver_guest!(__FlotillaFleetDriverExport);

            impl __wit_hosts::Guest for __FlotillaFleetDriverExport {
                fn monitor(
                    hosts: ::std::vec::Vec<__wit_hosts::Host>,
                ) -> ::std::vec::Vec<Result<__wit_hosts::HostMonitoring, __Error>> {
                    let hosts = hosts.into_iter().map(Into::into).collect();
                    __with(|d| d.monitor(hosts))
                        .into_iter()
                        .map(|outcome| outcome.map(Into::into).map_err(Into::into))
                        .collect()
                }
            }

            // The driver world and the `hosts` export beside it: the
            // component is the fleet driver world.
            $crate::bindings::driver::__export_driver_world!(__FlotillaFleetDriverExport with_types_in $crate::bindings::driver);
            $crate::bindings::fleet::__export_hosts_world!(__FlotillaFleetDriverExport with_types_in $crate::bindings::fleet);
        };
    };
}
