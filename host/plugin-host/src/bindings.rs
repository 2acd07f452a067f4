//! Host-side bindings for the plugin worlds. The shared packages
//! (`flotilla:types`, `flotilla:host`) are generated once, with the driver
//! world, and reused by the others so every kind shares one set of types
//! and one implementation of the host imports.

pub mod driver {
    wasmtime::component::bindgen!({
        path: ["../../wit/types", "../../wit/host", "../../wit/driver"],
        world: "flotilla:driver/driver-plugin",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

/// The driver world with the `hosts` export, for its `hosts` functions
/// only: a driver's `driver` export and imports are the `driver` module's.
/// A driver is instantiated from its `driver` bindings, and its `hosts`
/// export found beside them when it has one (see `driver.rs`).
pub mod fleet {
    wasmtime::component::bindgen!({
        path: ["../../wit/types", "../../wit/host", "../../wit/driver"],
        world: "flotilla:driver/fleet-driver-plugin",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        with: {
            "flotilla:types/types": crate::bindings::driver::flotilla::types::types,
            "flotilla:host/log": crate::bindings::driver::flotilla::host::log,
            "flotilla:host/config": crate::bindings::driver::flotilla::host::config,
            "flotilla:host/process": crate::bindings::driver::flotilla::host::process,
        },
    });
}

pub mod elasticity {
    wasmtime::component::bindgen!({
        path: ["../../wit/types", "../../wit/host", "../../wit/elasticity"],
        world: "flotilla:elasticity/elasticity-plugin",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        with: {
            "flotilla:types/types": crate::bindings::driver::flotilla::types::types,
            "flotilla:host/log": crate::bindings::driver::flotilla::host::log,
            "flotilla:host/config": crate::bindings::driver::flotilla::host::config,
        },
    });
}

pub mod network {
    wasmtime::component::bindgen!({
        path: ["../../wit/types", "../../wit/host", "../../wit/network"],
        world: "flotilla:network/network-plugin",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        with: {
            "flotilla:types/types": crate::bindings::driver::flotilla::types::types,
            "flotilla:host/log": crate::bindings::driver::flotilla::host::log,
            "flotilla:host/config": crate::bindings::driver::flotilla::host::config,
        },
    });
}

pub mod plumbing {
    wasmtime::component::bindgen!({
        path: ["../../wit/types", "../../wit/host", "../../wit/network"],
        world: "flotilla:network/plumbing-plugin",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        with: {
            "flotilla:types/types": crate::bindings::driver::flotilla::types::types,
            "flotilla:host/log": crate::bindings::driver::flotilla::host::log,
            "flotilla:host/config": crate::bindings::driver::flotilla::host::config,
        },
    });
}

pub use driver::flotilla::host::{config, log};
pub use driver::flotilla::types::types;
