//! The Flotilla plugin SDK.
//!
//! A plugin is a type that implements one of [`Driver`], [`Policy`],
//! [`NetworkMode`] or [`Plumbing`], exported with one macro:
//!
//! ```ignore
//! use flotilla_plugin_sdk::policy::*;
//!
//! struct Always;
//! impl Policy for Always {
//!     fn new() -> Self { Always }
//!     fn info(&self) -> PluginInfo { PluginInfo::new("always", "0.1.0", "never scales") }
//!     fn evaluate(&mut self, input: Evaluation) -> Result<Recommendation, Error> {
//!         Ok(Recommendation::keep("nothing to do"))
//!     }
//! }
//! flotilla_plugin_sdk::export_policy!(Always);
//! ```
//!
//! A driver for a fleet of hosts implements [`driver::Hosts`] beside
//! [`Driver`] and is exported with [`export_fleet_driver!`] instead of
//! [`export_driver!`]: the host then monitors its hosts and places VMs on
//! them (each VM's template names its host, [`driver::placed_host`]).
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the
//! `.wasm` file is the plugin. The same code also compiles natively, so a
//! policy can be unit-tested with `cargo test` and benchmarked against its
//! Wasm build.

#[doc(hidden)]
pub mod arena;
#[doc(hidden)]
pub mod convert;
pub mod driver;
pub mod http;
pub mod link;
pub mod log;
pub mod network;
pub mod plumbing;
pub mod policy;
pub mod process;

/// The argument patterns of a host-process grant, as the host matches them.
pub use flotilla_model::pattern;
pub mod types;

#[doc(hidden)]
pub mod bindings;

/// The one instance of a plugin type that an export macro's glue calls
/// into, created on first use. Wasm components are single-threaded, so a
/// thread-local is the whole instance.
#[doc(hidden)]
#[macro_export]
macro_rules! __instance_slot {
    ($ty:ty) => {
        ::std::thread_local! {
            static __INSTANCE: ::std::cell::RefCell<::std::option::Option<$ty>> =
                const { ::std::cell::RefCell::new(::std::option::Option::None) };
        }

        fn __with<R>(f: impl FnOnce(&mut $ty) -> R) -> R {
            __INSTANCE.with(|cell| {
                let mut slot = cell.borrow_mut();
                f(slot.get_or_insert_with(<$ty>::new))
            })
        }
    };
}

/// Without WASI (wasm32-unknown-unknown) the standard library's panic
/// message goes nowhere: send it through the host's log instead.
#[doc(hidden)]
#[inline]
pub fn __install_panic_hook() {
    #[cfg(all(target_arch = "wasm32", not(target_os = "wasi")))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                log::log(log::Level::Error, &info.to_string());
            }))
        });
    }
}

/// Read a configuration value the operator set for this plugin
/// (`[plugins.<id>.config]` in flotilla.toml).
pub fn config(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    {
        bindings::driver::flotilla::host::config::get(key)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        native_config::get(key)
    }
}

/// Outside Wasm (unit tests, native benchmarks) configuration comes from
/// the process: `FLOTILLA_PLUGIN_<KEY>` environment variables or values set
/// with [`native_config::set`].
#[cfg(not(target_arch = "wasm32"))]
pub mod native_config {
    use std::collections::HashMap;
    use std::sync::Mutex;

    static VALUES: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

    pub fn set(key: &str, value: &str) {
        let mut values = VALUES.lock().unwrap_or_else(|e| e.into_inner());
        values
            .get_or_insert_with(HashMap::new)
            .insert(key.to_string(), value.to_string());
    }

    pub fn get(key: &str) -> Option<String> {
        let values = VALUES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = values.as_ref().and_then(|m| m.get(key)) {
            return Some(v.clone());
        }
        let env_key = format!(
            "FLOTILLA_PLUGIN_{}",
            key.to_ascii_uppercase().replace('-', "_")
        );
        std::env::var(env_key).ok()
    }
}
