//! The `bridge` plumbing plugin: each network that names it in `VN_MAD`
//! is a Linux bridge of its own on this host, connected to none of the
//! host's interfaces, and each VM's NIC a tap on that bridge. VMs of one
//! network reach each other; VMs of different networks only through a
//! router that has a NIC on both.
//!
//! Settings (`[plugins.bridge.config]`): `prefix`, the device-name prefix
//! (default `fb`), which must be one the operator's `[plugins.bridge.link]`
//! grant gives.

use flotilla_network_bridged::{Plumber, Uplink, host::Host, setting};
use flotilla_plugin_sdk::plumbing::*;

pub struct Bridge;

fn plumber() -> Result<Plumber<Host>, Error> {
    let prefix = setting(flotilla_plugin_sdk::config, "prefix", "fb");
    Plumber::new(Host, &prefix, Uplink::None)
}

impl Plumbing for Bridge {
    fn new() -> Self {
        Bridge
    }

    fn info(&self) -> PluginInfo {
        PluginInfo::new(
            "bridge",
            env!("CARGO_PKG_VERSION"),
            "A Linux bridge per network and a tap per NIC, on this host only",
        )
    }

    fn pre(&mut self, segment: Segment, port: Port) -> Result<String, Error> {
        plumber()?.pre(&segment, &port)
    }

    fn sweep(&mut self, segments: Vec<Segment>, ports: Vec<Port>) -> Result<u32, Error> {
        plumber()?.sweep(&segments, &ports)
    }
}

flotilla_plugin_sdk::export_plumbing!(Bridge);
