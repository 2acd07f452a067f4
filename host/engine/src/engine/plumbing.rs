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

use super::nics::{PortNeed, plumbing_of, port_key, segment_of};
use super::*;
use crate::store::ResourceKind;
use flotilla_model::{BackendError, Port, Segment};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

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

impl Engine {
    /// Make the devices of a VM's NICs on plumbed networks and name each
    /// in its NIC's `TARGET`. Serialized with sweeps: a sweep that read the
    /// leases before this VM's were written must not remove its devices.
    pub(super) async fn plumb(
        &self,
        needs: Vec<PortNeed>,
        template: &mut Map<String, Value>,
    ) -> Result<(), BackendError> {
        if needs.is_empty() {
            return Ok(());
        }
        let mut holding = self.inner.plumbing_lock.lock().await;
        for need in needs {
            // Even a `pre` that fails may have made the bridge.
            if let Some(set) = holding.as_mut() {
                set.insert(need.plumbing.clone());
            }
            let target = self
                .inner
                .plumbing
                .pre(&need.plumbing, need.segment, need.port)
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

    /// Remove the devices no VM and no network needs any more; how many
    /// went. The first sweep (reconciliation at start-up) asks every
    /// plumbing plugin loaded; later ones only those that may hold devices
    /// (one that made some since, or kept some at its last sweep), so a
    /// VM leaving a site without plumbed networks costs no plugin call and
    /// no `ip`. A plugin that fails is logged, the others still swept, and
    /// it is asked again next time.
    pub async fn sweep_plumbing(&self) -> Result<u32, EngineError> {
        let mut holding = self.inner.plumbing_lock.lock().await;
        let plumbings: Vec<String> = self
            .inner
            .plumbing
            .plumbing_plugins()
            .into_iter()
            .filter(|id| holding.as_ref().is_none_or(|set| set.contains(id)))
            .collect();
        if plumbings.is_empty() {
            return Ok(0);
        }
        let mut keep: BTreeMap<String, (Vec<Segment>, Vec<Port>)> = BTreeMap::new();
        {
            let store = self.store();
            let storage = |e: String| EngineError::Storage(e);
            let vnets = store
                .resources(ResourceKind::Vnet)
                .map_err(|e| storage(format!("{e:#}")))?;
            for net in vnets {
                let Some(plumbing) = plumbing_of(&net.attributes) else {
                    continue;
                };
                let ports: Vec<Port> = store
                    .leases(net.id)
                    .map_err(|e| storage(e.to_string()))?
                    .into_iter()
                    .filter(|l| is_vm_nic(&l.holder))
                    .filter_map(|l| {
                        let ip: std::net::Ipv4Addr = l.ip.parse().ok()?;
                        Some(Port {
                            key: port_key(&l.holder),
                            network_id: net.id.to_string(),
                            mac: flotilla_core::network::mac_for(ip),
                        })
                    })
                    .collect();
                // A network's devices stay while a VM uses it: the bridge
                // goes with its last VM.
                if ports.is_empty() {
                    continue;
                }
                let entry = keep.entry(plumbing).or_default();
                entry.0.push(segment_of(net.id, &net.attributes));
                entry.1.extend(ports);
            }
        }
        let mut removed = 0;
        let set = holding.get_or_insert_with(BTreeSet::new);
        for id in plumbings {
            let (segments, ports) = keep.remove(&id).unwrap_or_default();
            let keeps_some = !ports.is_empty();
            match self.inner.plumbing.sweep(&id, segments, ports).await {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(plumbing = %id, removed = n, "removed network devices no longer used");
                    }
                    removed += n;
                    if !keeps_some {
                        set.remove(&id);
                        continue;
                    }
                }
                Err(e) => tracing::warn!(plumbing = %id, "sweeping network devices: {e}"),
            }
            set.insert(id);
        }
        Ok(removed)
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
