//! Flotilla's libvirt driver: each VM is a libvirt domain on one of the
//! fleet's hosts (the host the server placed it on, `HOST` in its
//! template), driven with `virsh -c <the host's URI>` through the host's
//! `process` capability (the program and the arguments the operator
//! granted). See README.md.
//!
//! The pure parts (configuration, template, domain XML, virsh's command
//! lines and output, the grant) are modules of their own, tested
//! natively; [`driver`] holds the logic that calls the host, through the
//! [`host::Host`] trait.

pub mod driver;
pub mod grant;
pub mod host;
pub mod settings;
pub mod store;
pub mod template;
pub mod virsh;
pub mod xml;

#[cfg(test)]
mod tests;

/// The plugin: the driver on the real host.
pub type LibvirtDriver = driver::LibvirtDriver<host::SdkHost>;

flotilla_plugin_sdk::export_fleet_driver!(LibvirtDriver);
