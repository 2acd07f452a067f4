//! Network modes (`flotilla:network@0.1.0`).
//!
//! A network mode makes (or finds) the virtual network a service's roles
//! attach to, and removes what it made when the service goes away.

pub use crate::bindings::network::exports::flotilla::network::mode::{
    NetworkLease, NetworkRequest, NetworkSource,
};
pub use crate::types::{Error, KeyValue, PluginInfo, lookup};

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

            impl __wit::Guest for __FlotillaNetworkExport {
                fn info() -> $crate::types::PluginInfo {
                    __with(|n| n.info())
                }
                fn deploy(
                    request: __wit::NetworkRequest,
                ) -> Result<__wit::NetworkLease, $crate::types::Error> {
                    __with(|n| n.deploy(request))
                }
                fn status(
                    lease: __wit::NetworkLease,
                ) -> Result<__wit::NetworkLease, $crate::types::Error> {
                    __with(|n| n.status(lease))
                }
                fn undeploy(lease: __wit::NetworkLease) -> Result<(), $crate::types::Error> {
                    __with(|n| n.undeploy(lease))
                }
            }

            $crate::bindings::network::__export_network_world!(__FlotillaNetworkExport with_types_in $crate::bindings::network);
        };
    };
}
