//! The `vxlan` plumbing plugin: as `bridge`, a Linux bridge per network
//! and a tap per NIC, plus a VXLAN device on the bridge over an underlay
//! interface, so VMs of one network on several hosts share one segment.
//! A network's `VLAN_ID` is its VNI (its id when it has none), `PHYDEV`
//! its underlay and `VXLAN_MC` its multicast base address, as in
//! OpenNebula's vxlan driver.
//!
//! Settings (`[plugins.vxlan.config]`): `prefix` (default `fv`),
//! `underlay` (the interface of networks without `PHYDEV`; it must be in
//! the grant's `underlays`), `group_base` (default `239.0.0.0`; `none` for
//! no multicast group) and `port` (default 4789).

use flotilla_network_bridged::{Plumber, Uplink, VxlanSettings, host::Host, setting};
use flotilla_plugin_sdk::plumbing::*;

pub struct VxlanMode;

fn plumber() -> Result<Plumber<Host>, Error> {
    let config = flotilla_plugin_sdk::config;
    let prefix = setting(config, "prefix", "fv");
    let defaults = VxlanSettings::default();
    let group_base = match config("group_base").as_deref().map(str::trim) {
        None | Some("") => defaults.group_base,
        Some("none") => None,
        Some(v) => Some(v.parse().map_err(|_| {
            Error::InvalidInput(format!(
                "group_base: `{v}` is neither an IPv4 address nor `none`"
            ))
        })?),
    };
    let port = match config("port").as_deref().map(str::trim) {
        None | Some("") => defaults.port,
        Some(v) => v
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Error::InvalidInput(format!("port: `{v}` is not a UDP port")))?,
    };
    let settings = VxlanSettings {
        underlay: config("underlay")
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty()),
        group_base,
        port,
    };
    Plumber::new(Host, &prefix, Uplink::Vxlan(settings))
}

impl Plumbing for VxlanMode {
    fn new() -> Self {
        VxlanMode
    }

    fn info(&self) -> PluginInfo {
        PluginInfo::new(
            "vxlan",
            env!("CARGO_PKG_VERSION"),
            "A Linux bridge per network with a VXLAN device on it, and a tap per NIC",
        )
    }

    fn pre(&mut self, segment: Segment, port: Port) -> Result<String, Error> {
        plumber()?.pre(&segment, &port)
    }

    fn sweep(&mut self, segments: Vec<Segment>, ports: Vec<Port>) -> Result<u32, Error> {
        plumber()?.sweep(&segments, &ports)
    }
}

flotilla_plugin_sdk::export_plumbing!(VxlanMode);
