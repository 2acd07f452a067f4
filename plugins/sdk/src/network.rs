//! Network modes (`flotilla:network@0.1.0`).
//!
//! A network mode makes (or finds) the virtual network a service's roles
//! attach to, and removes what it made when the service goes away.

pub use crate::types::{Error, KeyValue, PluginInfo, lookup};
pub use flotilla_model::{NetworkLease, NetworkRequest, NetworkSource};

pub trait NetworkMode: 'static {
    fn new() -> Self
    where
        Self: Sized;

    fn info(&self) -> PluginInfo;

    /// Make the network for a request. Idempotent on
    /// `request.operation_id`.
    fn deploy(&mut self, request: NetworkRequest) -> Result<NetworkLease, Error>;

    /// Refresh a lease (readiness, attributes).
    fn status(&mut self, lease: NetworkLease) -> Result<NetworkLease, Error>;

    /// Remove what `deploy` made. Leases with `created == false` name
    /// networks the mode did not make and must be left alone.
    fn undeploy(&mut self, lease: NetworkLease) -> Result<(), Error>;
}

/// Export a [`NetworkMode`] implementation as the plugin's
/// `flotilla:network` world. Outside Wasm the macro expands to nothing.
#[macro_export]
macro_rules! export_network {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::network::exports::flotilla::network::mode as __wit;
            use $crate::network::NetworkMode as _;

            struct __FlotillaNetworkExport;

            $crate::__instance_slot!($ty);

            type __Error = $crate::bindings::driver::flotilla::types::types::Error;

            impl __wit::Guest for __FlotillaNetworkExport {
                fn info() -> $crate::bindings::driver::flotilla::types::types::PluginInfo {
                    __with(|n| n.info()).into()
                }
                fn deploy(request: __wit::NetworkRequest) -> Result<__wit::NetworkLease, __Error> {
                    __with(|n| n.deploy(request.into()))
                        .map(Into::into)
                        .map_err(Into::into)
                }
                fn status(lease: __wit::NetworkLease) -> Result<__wit::NetworkLease, __Error> {
                    __with(|n| n.status(lease.into()))
                        .map(Into::into)
                        .map_err(Into::into)
                }
                fn undeploy(lease: __wit::NetworkLease) -> Result<(), __Error> {
                    __with(|n| n.undeploy(lease.into())).map_err(Into::into)
                }
            }

            $crate::bindings::network::__export_network_world!(__FlotillaNetworkExport with_types_in $crate::bindings::network);
        };
    };
}

/// Flotilla's own virtual networks (`flotilla:network/registry`), for a
/// mode that keeps its addresses there. Outside Wasm these calls are
/// `unsupported`.
pub mod registry {
    pub use flotilla_model::{VnetInfo, VnetRange};

    use crate::types::Error;

    #[cfg(target_arch = "wasm32")]
    use crate::bindings::network::flotilla::network::registry as host;

    #[cfg(not(target_arch = "wasm32"))]
    fn native() -> Error {
        Error::Unsupported("the network registry exists only inside the host".into())
    }

    /// A network by id.
    pub fn get(id: &str) -> Result<VnetInfo, Error> {
        #[cfg(target_arch = "wasm32")]
        return host::get(id).map(Into::into).map_err(Into::into);
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = id;
            Err(native())
        }
    }

    /// Reserve `size` consecutive addresses of `parent` as network `name`.
    /// Idempotent on `operation_id`.
    pub fn reserve(
        operation_id: &str,
        service_id: u64,
        parent: &str,
        name: &str,
        size: u32,
    ) -> Result<VnetInfo, Error> {
        #[cfg(target_arch = "wasm32")]
        return host::reserve(operation_id, service_id, parent, name, size)
            .map(Into::into)
            .map_err(Into::into);
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = (operation_id, service_id, parent, name, size);
            Err(native())
        }
    }

    /// A network from a network template with `extra` template text.
    /// Idempotent on `operation_id`.
    pub fn instantiate(
        operation_id: &str,
        service_id: u64,
        template: &str,
        name: &str,
        extra: &str,
    ) -> Result<VnetInfo, Error> {
        #[cfg(target_arch = "wasm32")]
        return host::instantiate(operation_id, service_id, template, name, extra)
            .map(Into::into)
            .map_err(Into::into);
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = (operation_id, service_id, template, name, extra);
            Err(native())
        }
    }

    /// Delete a network made by `reserve` or `instantiate`.
    pub fn delete(id: &str) -> Result<(), Error> {
        #[cfg(target_arch = "wasm32")]
        return host::delete(id).map_err(Into::into);
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = id;
            Err(native())
        }
    }
}
