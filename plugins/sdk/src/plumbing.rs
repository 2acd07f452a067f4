//! A network's host plumbing (`flotilla:network/plumbing@0.1.0`): the
//! devices on the host that carry a network's packets and connect each
//! VM's NICs to it, made with [`crate::link`] inside the operator's grant.

pub use crate::link::{self, Device, DeviceKind, Vxlan};
pub use crate::types::{Error, KeyValue, PluginInfo, lookup};
pub use flotilla_model::{Port, Segment};

pub trait Plumbing: 'static {
    fn new() -> Self
    where
        Self: Sized;

    fn info(&self) -> PluginInfo;

    /// Before a VM boots: make the segment's devices when missing, and
    /// the NIC's device on it; the name of the device the hypervisor
    /// attaches the NIC to. Idempotent.
    fn pre(&mut self, segment: Segment, port: Port) -> Result<String, Error>;

    /// Remove every device this plugin made that belongs to none of
    /// `segments` and `ports`: how many it removed.
    fn sweep(&mut self, segments: Vec<Segment>, ports: Vec<Port>) -> Result<u32, Error>;
}

/// Export a [`Plumbing`] implementation as the plugin's
/// `flotilla:network/plumbing` world. Outside Wasm the macro expands to
/// nothing.
#[macro_export]
macro_rules! export_plumbing {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::plumbing::exports::flotilla::network::plumbing as __wit;
            use $crate::plumbing::Plumbing as _;

            struct __FlotillaPlumbingExport;

            $crate::__instance_slot!($ty);

            type __Error = $crate::bindings::driver::flotilla::types::types::Error;

            impl __wit::Guest for __FlotillaPlumbingExport {
                fn info() -> $crate::bindings::driver::flotilla::types::types::PluginInfo {
                    __with(|p| p.info()).into()
                }
                fn pre(segment: __wit::Segment, port: __wit::Port) -> Result<String, __Error> {
                    __with(|p| p.pre(segment.into(), port.into())).map_err(Into::into)
                }
                fn sweep(
                    segments: ::std::vec::Vec<__wit::Segment>,
                    ports: ::std::vec::Vec<__wit::Port>,
                ) -> Result<u32, __Error> {
                    __with(|p| {
                        p.sweep(
                            segments.into_iter().map(Into::into).collect(),
                            ports.into_iter().map(Into::into).collect(),
                        )
                    })
                    .map_err(Into::into)
                }
            }

            $crate::bindings::plumbing::__export_plumbing_world!(__FlotillaPlumbingExport with_types_in $crate::bindings::plumbing);
        };
    };
}
