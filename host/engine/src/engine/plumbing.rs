//! Host plumbing of Flotilla's networks: a network whose attributes name
//! a plumbing plugin in `VN_MAD` (`bridge`, `vxlan`) carries real packets.
//! Before a VM with a NIC on it is created, the plugin makes the
//! network's devices and the NIC's (`plumb`), and the NIC's `TARGET` names
//! the device the driver attaches it to. What must stay is derived from
//! the leases (a VM's NIC holds one until the VM leaves its service), so
//! one call does every clean-up: `sweep_plumbing` tells each plugin which
//! networks and NICs are still in use, and it removes the rest. That
//! covers a VM that left, a network deleted, the last VM of a network
//! gone (its bridge goes too) and a server killed half-way (the sweep at
//! start-up finishes the job).
//!
//! A VM placed on a host of the fleet has its devices made there: the
//! plugin's link calls run through the operator's `[fleet] host_command`
//! (fleet.rs, `link_site`), so a network's bridge and VXLAN device exist
//! on each host with a VM on it, and the sweep goes to each such host.

use super::nics::{PortNeed, plumbing_of, port_key, segment_of};
use super::*;
use crate::store::ResourceKind;
use flotilla_model::{BackendError, Port, Segment};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Whether a lease's holder is a VM's NIC (`<operation id>/NIC0`), not an
/// alias, a router's floating IP or a reservation's addresses.
fn is_vm_nic(holder: &str) -> bool {
    let Some((owner, nic)) = holder.split_once('/') else {
        return false;
    };
    !owner.starts_with("vrouter-")
        && !owner.starts_with("vnet-")
        && nic
            .strip_prefix("NIC")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What each plumbing plugin must keep at each site: networks and NICs.
type Keep = BTreeMap<Holding, (Vec<Segment>, Vec<Port>)>;

impl Engine {
    /// Make the devices of a VM's NICs on plumbed networks, on the host it
    /// is placed on (the server's machine when it is placed nowhere), and
    /// name each in its NIC's `TARGET`. Serialized with sweeps: a sweep
    /// that read the leases before this VM's were written must not remove
    /// its devices.
    pub(super) async fn plumb(
        &self,
        needs: Vec<PortNeed>,
        host: Option<&str>,
        template: &mut Map<String, Value>,
    ) -> Result<(), BackendError> {
        if needs.is_empty() {
            return Ok(());
        }
        let site = match host {
            Some(host) => Some(self.link_site(host).map_err(BackendError::Refused)?),
            None => None,
        };
        let mut holding = self.inner.plumbing_lock.lock().await;
        for need in needs {
            // Even a `pre` that fails may have made the bridge.
            if let Some(set) = holding.as_mut() {
                set.insert((need.plumbing.clone(), host.map(String::from)));
            }
            let target = self
                .inner
                .plumbing
                .pre(&need.plumbing, site.clone(), need.segment, need.port)
                .await
                .map_err(|e| e.map(|m| format!("NIC[{}]: {m}", need.nic)))?;
            if let Some(Value::Array(nics)) = template.get_mut("NIC")
                && let Some(Value::Object(nic)) = nics.get_mut(need.nic)
            {
                nic.insert("TARGET".into(), Value::String(target));
            }
        }
        Ok(())
    }

    /// Remove the devices no VM and no network needs any more, on the
    /// server's machine and on every host of the fleet that answers; how
    /// many went. The first sweep (reconciliation at start-up) asks every
    /// plumbing plugin loaded at every site; later ones only where a
    /// plugin may hold devices (it made some since, or kept some at its
    /// last sweep there), so a VM leaving a site without plumbed networks
    /// costs no plugin call and no `ip`. A host in ERROR is swept once it
    /// answers again. A plugin that fails is logged, the others still
    /// swept, and it is asked again next time.
    pub async fn sweep_plumbing(&self) -> Result<u32, EngineError> {
        let mut holding = self.inner.plumbing_lock.lock().await;
        let plugins = self.inner.plumbing.plumbing_plugins();
        if plugins.is_empty() {
            return Ok(0);
        }
        let mut sites: Vec<Option<String>> = vec![None];
        sites.extend(self.plumbed_hosts()?.into_iter().map(Some));
        let targets: Vec<Holding> = plugins
            .iter()
            .flat_map(|id| sites.iter().map(move |site| (id.clone(), site.clone())))
            .filter(|t| holding.as_ref().is_none_or(|set| set.contains(t)))
            .collect();
        if targets.is_empty() {
            return Ok(0);
        }
        let mut keep = self.plumbing_in_use(&sites)?;
        let mut removed = 0;
        let set = holding.get_or_insert_with(BTreeSet::new);
        for target in targets {
            let (id, host) = &target;
            let site = match host {
                Some(h) => match self.link_site(h) {
                    Ok(site) => Some(site),
                    Err(e) => {
                        tracing::warn!(plumbing = %id, host = %h, "sweeping network devices: {e}");
                        set.insert(target);
                        continue;
                    }
                },
                None => None,
            };
            let (segments, ports) = keep.remove(&target).unwrap_or_default();
            let keeps_some = !ports.is_empty();
            match self.inner.plumbing.sweep(id, site, segments, ports).await {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(plumbing = %id, host = host.as_deref().unwrap_or("-"), removed = n, "removed network devices no longer used");
                    }
                    removed += n;
                    if !keeps_some {
                        set.remove(&target);
                        continue;
                    }
                }
                Err(e) => {
                    tracing::warn!(plumbing = %id, host = host.as_deref().unwrap_or("-"), "sweeping network devices: {e}")
                }
            }
            set.insert(target);
        }
        Ok(removed)
    }

    /// Sweep, with every plumbing plugin counted as holding devices on
    /// `hosts`: hosts that could not be reached when their VMs left.
    pub(super) async fn sweep_plumbing_at(&self, hosts: &[String]) -> Result<u32, EngineError> {
        {
            let mut holding = self.inner.plumbing_lock.lock().await;
            if let Some(set) = holding.as_mut() {
                for id in self.inner.plumbing.plumbing_plugins() {
                    for host in hosts {
                        set.insert((id.clone(), Some(host.clone())));
                    }
                }
            }
        }
        self.sweep_plumbing().await
    }

    /// What each plumbing plugin must keep at each of `sites`: the
    /// networks with a VM's NIC there, and those NICs. A NIC's site is its
    /// VM's host; one whose VM no service knows is kept everywhere.
    fn plumbing_in_use(&self, sites: &[Option<String>]) -> Result<Keep, EngineError> {
        let store = self.store();
        let storage = |e: String| EngineError::Storage(e);
        // Without hosts to sweep, every NIC is the server's machine's: the
        // services need not be read.
        let mut host_of: HashMap<String, Option<String>> = HashMap::new();
        let services = if sites.len() > 1 {
            store.services()?
        } else {
            Vec::new()
        };
        for service in services {
            for node in service.roles.iter().flat_map(|r| r.nodes.iter()) {
                let host = node.placement.as_ref().map(|p| p.host.clone());
                host_of.insert(node.operation_id.clone(), host);
            }
        }
        let vnets = store
            .resources(ResourceKind::Vnet)
            .map_err(|e| storage(format!("{e:#}")))?;
        let mut keep = Keep::new();
        for net in vnets {
            let Some(plumbing) = plumbing_of(&net.attributes) else {
                continue;
            };
            let mut at: BTreeMap<&Option<String>, Vec<Port>> = BTreeMap::new();
            for lease in store.leases(net.id).map_err(|e| storage(e.to_string()))? {
                if !is_vm_nic(&lease.holder) {
                    continue;
                }
                let Ok(ip) = lease.ip.parse::<std::net::Ipv4Addr>() else {
                    continue;
                };
                let port = Port {
                    key: port_key(&lease.holder),
                    network_id: net.id.to_string(),
                    mac: flotilla_core::network::mac_for(ip),
                };
                let operation = lease.holder.split_once('/').map_or("", |(op, _)| op);
                match host_of.get(operation) {
                    Some(host) => {
                        if let Some(site) = sites.iter().find(|s| *s == host) {
                            at.entry(site).or_default().push(port);
                        }
                    }
                    None => {
                        for site in sites {
                            at.entry(site).or_default().push(port.clone());
                        }
                    }
                }
            }
            // A network's devices stay at a site while a VM there uses it:
            // the bridge goes with its last VM.
            for (site, ports) in at {
                let entry = keep.entry((plumbing.clone(), site.clone())).or_default();
                entry.0.push(segment_of(net.id, &net.attributes));
                entry.1.extend(ports);
            }
        }
        Ok(keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_vms_nics_are_ports() {
        assert!(is_vm_nic("op-1/NIC0"));
        assert!(is_vm_nic("op-1/NIC12"));
        assert!(!is_vm_nic("op-1/NIC_ALIAS0"));
        assert!(!is_vm_nic("vrouter-3/NIC0"));
        assert!(!is_vm_nic("vnet-4"));
        assert!(!is_vm_nic("op-1/NIC"));
    }

    #[test]
    fn a_port_key_is_stable_short_and_hex() {
        let k = port_key("9f1c/NIC0");
        assert_eq!(k, port_key("9f1c/NIC0"));
        assert_ne!(k, port_key("9f1c/NIC1"));
        assert_eq!(k.len(), 10);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
