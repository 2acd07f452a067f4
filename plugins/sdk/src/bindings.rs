//! Generated bindings, one module per plugin world. The shared packages
//! (`flotilla:types`, `flotilla:host`) are generated once, in `driver`, and
//! reused by the other worlds so that every kind sees the same Rust types.

pub mod driver {
    wit_bindgen::generate!({
        path: ["../../wit/types", "../../wit/host", "../../wit/driver"],
        world: "flotilla:driver/driver-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_driver_world",
        default_bindings_module: "flotilla_plugin_sdk::bindings::driver",
        generate_all,
    });
}

/// What a driver for a fleet of hosts exports beside the driver world:
/// `hosts` (the world `flotilla:sdk/driver-hosts`, see `wit/fleet.wit`;
/// `export_fleet_driver!` exports it with the driver world, which together
/// make `flotilla:driver/fleet-driver-plugin`).
pub mod fleet {
    wit_bindgen::generate!({
        path: ["../../wit/types", "../../wit/host", "../../wit/driver", "wit"],
        world: "flotilla:sdk/driver-hosts",
        pub_export_macro: true,
        export_macro_name: "__export_hosts_world",
        default_bindings_module: "flotilla_plugin_sdk::bindings::fleet",
        with: {
            "flotilla:types/types@0.1.0": crate::bindings::driver::flotilla::types::types,
        },
    });
}

pub mod elasticity {
    wit_bindgen::generate!({
        path: ["../../wit/types", "../../wit/host", "../../wit/elasticity"],
        world: "flotilla:elasticity/elasticity-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_elasticity_world",
        default_bindings_module: "flotilla_plugin_sdk::bindings::elasticity",
        with: {
            "flotilla:types/types@0.1.0": crate::bindings::driver::flotilla::types::types,
            "flotilla:host/log@0.1.0": crate::bindings::driver::flotilla::host::log,
            "flotilla:host/config@0.1.0": crate::bindings::driver::flotilla::host::config,
        },
    });
}

pub mod network {
    wit_bindgen::generate!({
        path: ["../../wit/types", "../../wit/host", "../../wit/network"],
        world: "flotilla:network/network-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_network_world",
        default_bindings_module: "flotilla_plugin_sdk::bindings::network",
        with: {
            "flotilla:types/types@0.1.0": crate::bindings::driver::flotilla::types::types,
            "flotilla:host/log@0.1.0": crate::bindings::driver::flotilla::host::log,
            "flotilla:host/config@0.1.0": crate::bindings::driver::flotilla::host::config,
        },
    });
}

pub mod plumbing {
    wit_bindgen::generate!({
        path: ["../../wit/types", "../../wit/host", "../../wit/network"],
        world: "flotilla:network/plumbing-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plumbing_world",
        default_bindings_module: "flotilla_plugin_sdk::bindings::plumbing",
        with: {
            "flotilla:types/types@0.1.0": crate::bindings::driver::flotilla::types::types,
            "flotilla:host/log@0.1.0": crate::bindings::driver::flotilla::host::log,
            "flotilla:host/config@0.1.0": crate::bindings::driver::flotilla::host::config,
            "flotilla:host/link@0.1.0": generate,
        },
    });
}
