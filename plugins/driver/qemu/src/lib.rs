//! Flotilla's QEMU driver: each VM is a QEMU process on this host, started
//! and watched through the host's `process` capability (the programs and
//! their arguments the operator granted), controlled over QMP, with its
//! state in files under the granted state directory. See README.md.
//!
//! The pure parts (configuration, template, context, command lines, QMP,
//! monitoring) are modules of their own, tested natively; [`driver`] holds
//! the logic that calls the host, through the [`host::Host`] trait.

pub mod args;
pub mod context;
pub mod driver;
pub mod grant;
pub mod host;
pub mod monitor;
pub mod qmp;
pub mod settings;
pub mod store;
pub mod template;

#[cfg(test)]
mod tests;

/// The plugin: the driver on the real host.
pub type QemuDriver = driver::QemuDriver<host::SdkHost>;

flotilla_plugin_sdk::export_driver!(QemuDriver);
