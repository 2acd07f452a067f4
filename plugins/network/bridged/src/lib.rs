//! What Flotilla's `bridge` and `vxlan` plumbing plugins share, as
//! OpenNebula's `bridge` and `vxlan` network drivers share their bridge
//! code: each network is a Linux bridge of its own (connected to none of
//! the host's interfaces), each VM's NIC a tap on it, and with VXLAN a
//! tunnel device on the bridge too, so VMs on other hosts share the
//! segment. Everything goes through [`Links`], the host's typed link
//! capability, so this logic is tested natively against an in-memory host
//! (`testing.rs`).
//!
//! Names: every device carries the operator's prefix (the grant's), then
//! `br<network id>` for a bridge (or the network's `BRIDGE`),
//! `vx<network id>` for a VXLAN device and the port's key for a tap. All
//! devices inside the prefix are this plugin's: `sweep` removes those no
//! network or NIC needs any more.

pub use flotilla_model::{Device, DeviceKind as Kind, Vxlan};
use flotilla_model::{PluginError as Error, Port, Segment, lookup};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

pub mod host;
#[cfg(test)]
mod testing;

/// The kernel's limit on a device name (IFNAMSIZ less the NUL).
pub const MAX_NAME: usize = 15;

/// The host's link capability (`flotilla:host/link`): the plugin's only
/// way to the kernel, limited to the operator's prefixes.
pub trait Links {
    fn devices(&self) -> Result<Vec<Device>, Error>;
    fn add(&self, name: &str, kind: &Kind) -> Result<(), Error>;
    fn set_master(&self, name: &str, master: Option<&str>) -> Result<(), Error>;
    fn set_up(&self, name: &str, up: bool) -> Result<(), Error>;
    fn delete(&self, name: &str) -> Result<(), Error>;
}

/// How a network's bridge reaches beyond this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uplink {
    /// Nowhere: the `bridge` mode, VMs of one host only.
    None,
    /// A VXLAN device on the bridge (the `vxlan` mode).
    Vxlan(VxlanSettings),
}

/// The `vxlan` mode's settings, from the plugin's configuration; a
/// network's attributes override them (OpenNebula's names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanSettings {
    /// The underlay interface (`PHYDEV` overrides it).
    pub underlay: Option<String>,
    /// The base multicast address; a network's group is the base plus its
    /// VNI, as OpenNebula's `VXLAN_MC` (overridden by `VXLAN_MC`). `None`:
    /// no multicast group.
    pub group_base: Option<Ipv4Addr>,
    /// The UDP port (IANA's 4789).
    pub port: u16,
}

impl Default for VxlanSettings {
    fn default() -> Self {
        VxlanSettings {
            underlay: None,
            group_base: Some(Ipv4Addr::new(239, 0, 0, 0)),
            port: 4789,
        }
    }
}

/// The plumbing of one plugin: its prefix, its uplink and the host.
pub struct Plumber<L: Links> {
    pub links: L,
    pub prefix: String,
    pub uplink: Uplink,
}

fn attribute<'a>(segment: &'a Segment, key: &str) -> Option<&'a str> {
    lookup(&segment.attributes, key)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

impl<L: Links> Plumber<L> {
    /// The prefix must leave room for the longest name made from it
    /// (`br` and a network id, or a port's 10-character key).
    pub fn new(links: L, prefix: &str, uplink: Uplink) -> Result<Plumber<L>, Error> {
        if prefix.is_empty() || prefix.len() > MAX_NAME - 10 {
            return Err(Error::InvalidInput(format!(
                "prefix: `{prefix}` must be 1 to {} characters (device names are at most {MAX_NAME})",
                MAX_NAME - 10
            )));
        }
        Ok(Plumber {
            links,
            prefix: prefix.to_string(),
            uplink,
        })
    }

    fn name(&self, what: &str, rest: &str) -> Result<String, Error> {
        let name = format!("{}{rest}", self.prefix);
        if name.len() > MAX_NAME {
            return Err(Error::InvalidInput(format!(
                "{what}: device name `{name}` is longer than {MAX_NAME} bytes"
            )));
        }
        Ok(name)
    }

    /// The network's bridge: its `BRIDGE` attribute, else the prefix and
    /// `br<id>`.
    pub fn bridge(&self, segment: &Segment) -> Result<String, Error> {
        match attribute(segment, "BRIDGE") {
            Some(bridge) => Ok(bridge.to_string()),
            None => self.name("BRIDGE", &format!("br{}", segment.network_id)),
        }
    }

    pub fn tap(&self, port: &Port) -> Result<String, Error> {
        if port.key.is_empty() || !port.key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidInput(format!(
                "port.key: `{}` is not a hexadecimal key",
                port.key
            )));
        }
        self.name("port.key", &port.key)
    }

    fn vxlan_name(&self, segment: &Segment) -> Result<String, Error> {
        self.name("network-id", &format!("vx{}", segment.network_id))
    }

    /// The VXLAN device a network needs with this uplink, if any.
    pub fn vxlan(&self, segment: &Segment) -> Result<Option<(String, Vxlan)>, Error> {
        let Uplink::Vxlan(settings) = &self.uplink else {
            return Ok(None);
        };
        // OpenNebula's vxlan driver takes the VNI from VLAN_ID; Flotilla's
        // networks have no VLAN pool, so the network's id is the default.
        let vni = match attribute(segment, "VLAN_ID") {
            Some(v) => v.parse::<u32>().ok(),
            None => segment.network_id.parse::<u32>().ok(),
        }
        .filter(|v| (1..=0x00ff_ffff).contains(v))
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "VLAN_ID: network {}'s VNI must be a number from 1 to 16777215 (VLAN_ID, or the network's id)",
                segment.network_id
            ))
        })?;
        let underlay = attribute(segment, "PHYDEV")
            .map(str::to_string)
            .or_else(|| settings.underlay.clone())
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "PHYDEV: network {} has no underlay interface (PHYDEV, or the plugin's `underlay` setting)",
                    segment.network_id
                ))
            })?;
        let base = match attribute(segment, "VXLAN_MC") {
            Some(v) => Some(v.parse::<Ipv4Addr>().map_err(|_| {
                Error::InvalidInput(format!("VXLAN_MC: `{v}` is not an IPv4 address"))
            })?),
            None => settings.group_base,
        };
        let group = base.map(|b| Ipv4Addr::from(u32::from(b).wrapping_add(vni)).to_string());
        let mtu = match attribute(segment, "MTU") {
            Some(v) => Some(
                v.parse::<u32>()
                    .ok()
                    .filter(|m| (68..=65535).contains(m))
                    .ok_or_else(|| {
                        Error::InvalidInput(format!("MTU: `{v}` is not an MTU from 68 to 65535"))
                    })?,
            ),
            None => None,
        };
        Ok(Some((
            self.vxlan_name(segment)?,
            Vxlan {
                vni,
                underlay,
                group,
                port: settings.port,
                mtu,
            },
        )))
    }

    /// Make the network's devices when missing and the port's tap on its
    /// bridge; the tap's name. Every step is idempotent, so a retried
    /// create (or two VMs racing on a new network) is harmless.
    pub fn pre(&self, segment: &Segment, port: &Port) -> Result<String, Error> {
        if port.network_id != segment.network_id {
            return Err(Error::InvalidInput(format!(
                "port.network-id: {} is not the segment's network {}",
                port.network_id, segment.network_id
            )));
        }
        // Every name and setting is checked before anything is made.
        let bridge = self.bridge(segment)?;
        let vxlan = self.vxlan(segment)?;
        let tap = self.tap(port)?;
        self.links.add(&bridge, &Kind::Bridge)?;
        self.links.set_up(&bridge, true)?;
        if let Some((name, vxlan)) = vxlan {
            self.links.add(&name, &Kind::Vxlan(vxlan))?;
            self.links.set_master(&name, Some(&bridge))?;
            self.links.set_up(&name, true)?;
        }
        self.links.add(&tap, &Kind::Tap)?;
        self.links.set_master(&tap, Some(&bridge))?;
        self.links.set_up(&tap, true)?;
        Ok(tap)
    }

    /// Remove every device inside the prefix that none of `segments` and
    /// `ports` needs: taps first, then tunnels, then bridges (a bridge goes
    /// once nothing is on it). Devices of other kinds are left alone.
    pub fn sweep(&self, segments: &[Segment], ports: &[Port]) -> Result<u32, Error> {
        let mut wanted = BTreeSet::new();
        for segment in segments {
            wanted.insert(self.bridge(segment)?);
            if let Some((name, _)) = self.vxlan(segment)? {
                wanted.insert(name);
            }
        }
        for port in ports {
            wanted.insert(self.tap(port)?);
        }
        let devices = self.links.devices()?;
        let mut removed = 0;
        for pass in [0, 1, 2] {
            for d in &devices {
                let order = match d.kind {
                    Kind::Tap => 0,
                    Kind::Vxlan(_) => 1,
                    Kind::Bridge => 2,
                    Kind::Other(_) => continue,
                };
                if order != pass || wanted.contains(&d.name) || !d.name.starts_with(&self.prefix) {
                    continue;
                }
                self.links.delete(&d.name)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A setting from the plugin's configuration, or `default`.
pub fn setting(get: impl Fn(&str) -> Option<String>, key: &str, default: &str) -> String {
    get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

#[cfg(test)]
mod tests;
