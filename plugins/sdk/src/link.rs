//! Network devices on the host (`flotilla:host/link`), for plumbing
//! plugins: typed operations the host checks against the operator's grant
//! (`[plugins.<id>.link]`: device-name prefixes, VXLAN underlays) and
//! performs itself. A call outside the grant is `denied`; outside Wasm
//! every call is `unsupported`.
//!
//! ```ignore
//! use flotilla_plugin_sdk::link::{self, DeviceKind};
//! link::add("flb-br0", DeviceKind::Bridge)?;
//! link::set_up("flb-br0", true)?;
//! ```

pub use crate::types::Error;
pub use flotilla_model::{Device, DeviceKind, Vxlan};

#[cfg(target_arch = "wasm32")]
use crate::bindings::plumbing::flotilla::host::link as host;

#[cfg(not(target_arch = "wasm32"))]
fn native() -> Error {
    Error::Unsupported("network devices exist only inside the host".into())
}

/// The devices inside the grant's prefixes.
pub fn list() -> Result<Vec<Device>, Error> {
    #[cfg(target_arch = "wasm32")]
    return host::list()
        .map(|ds| ds.into_iter().map(Into::into).collect())
        .map_err(Into::into);
    #[cfg(not(target_arch = "wasm32"))]
    Err(native())
}

/// Make a device (down); one of that name and kind already there is not
/// an error.
pub fn add(name: &str, kind: DeviceKind) -> Result<(), Error> {
    #[cfg(target_arch = "wasm32")]
    return host::add(name, &kind.into()).map_err(Into::into);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (name, kind);
        Err(native())
    }
}

/// Make `name` a port of the bridge `master`, or of none.
pub fn set_master(name: &str, master: Option<&str>) -> Result<(), Error> {
    #[cfg(target_arch = "wasm32")]
    return host::set_master(name, master).map_err(Into::into);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (name, master);
        Err(native())
    }
}

/// Bring a device up or down.
pub fn set_up(name: &str, up: bool) -> Result<(), Error> {
    #[cfg(target_arch = "wasm32")]
    return host::set_up(name, up).map_err(Into::into);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (name, up);
        Err(native())
    }
}

/// Give a device an address (`10.0.0.1/24`); one it has is not an error.
pub fn add_address(name: &str, address: &str) -> Result<(), Error> {
    #[cfg(target_arch = "wasm32")]
    return host::add_address(name, address).map_err(Into::into);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (name, address);
        Err(native())
    }
}

/// Remove a device; one already gone is not an error.
pub fn delete(name: &str) -> Result<(), Error> {
    #[cfg(target_arch = "wasm32")]
    return host::delete(name).map_err(Into::into);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = name;
        Err(native())
    }
}
