//! `GET /vnet/{id}`: what a virtual router's VM reads of the networks it
//! routes, as OneGate shows them (`ID`, `NAME`, `USED_LEASES`, `VROUTERS`,
//! `PARENT_NETWORK_ID`, `AR_POOL` with each range's leases, and the
//! `TEMPLATE` attributes a guest configures itself from). As in
//! OpenNebula, only a `vr` role's VMs may, and only the networks of the
//! router's NICs, their parents, the reservations made from them, and
//! networks sharing a parent with them.

use crate::service::lifecycle::{RoleRuntime, Service};
use crate::store::{Lease, Resource, Store};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The network attributes shown (OneGate's `vnet_template_attributes`).
const TEMPLATE_ATTRIBUTES: &[&str] = &[
    "NETWORK_ADDRESS",
    "NETWORK_MASK",
    "GATEWAY",
    "GATEWAY6",
    "DNS",
    "GUEST_MTU",
    "SEARCH_DOMAIN",
    "METRIC",
    "IP6_METRIC",
];

fn parent_of(vnet: &Resource) -> Option<u64> {
    vnet.attributes
        .get("PARENT_NETWORK_ID")
        .and_then(crate::api::body::json_id)
}

/// The networks a reservation was carved from `vnet` for (`vnet-<id>`
/// holders).
fn children(leases: &[Lease]) -> impl Iterator<Item = u64> + '_ {
    leases
        .iter()
        .filter_map(|l| l.holder.strip_prefix("vnet-")?.parse().ok())
}

/// The networks a `vr` role's router may read: its NICs' (every VM's and
/// the floating IPs'), their parents and reservations; a network whose
/// parent is among those may be read too (checked by the caller).
pub(super) fn readable(
    store: &dyn Store,
    service: &Service,
    role: &RoleRuntime,
) -> anyhow::Result<BTreeSet<u64>> {
    let ops: Vec<String> = role
        .nodes
        .iter()
        .map(|n| format!("{}/", n.operation_id))
        .collect();
    let mut nics: BTreeSet<u64> = store
        .leases_of_service(service.id)?
        .iter()
        .filter(|l| ops.iter().any(|op| l.holder.starts_with(op.as_str())))
        .map(|l| l.vnet_id)
        .collect();
    if let Some(v) = &role.vrouter {
        nics.extend(
            v.ips
                .iter()
                .filter_map(|ip| ip.network_id.parse::<u64>().ok()),
        );
    }
    let mut readable = nics.clone();
    for id in nics {
        if let Some(vnet) = store.resource(crate::store::ResourceKind::Vnet, id)? {
            readable.extend(parent_of(&vnet));
        }
        readable.extend(children(&store.leases(id)?));
    }
    Ok(readable)
}

/// Whether `vnet` is one a router that may read `readable` may read.
pub(super) fn may_read(readable: &BTreeSet<u64>, vnet: &Resource) -> bool {
    readable.contains(&vnet.id) || parent_of(vnet).is_some_and(|p| readable.contains(&p))
}

/// A network as OneGate shows it.
pub(super) fn render(store: &dyn Store, vnet: &Resource) -> anyhow::Result<Value> {
    let leases = store.leases(vnet.id)?;
    let ranges = flotilla_core::network::parse_ranges(&vnet.attributes).unwrap_or_default();
    // The VMs' ids, from their services (a lease names its VM by its
    // operation id, known before the VM).
    let mut services: HashMap<u64, Option<Arc<Service>>> = HashMap::new();
    let mut vm_of = |lease: &Lease| -> Option<String> {
        let (op, _) = lease.holder.split_once('/')?;
        let service = services
            .entry(lease.service_id?)
            .or_insert_with_key(|id| store.shared_service(*id).ok().flatten())
            .as_ref()?;
        service
            .roles
            .iter()
            .flat_map(|r| r.nodes.iter())
            .find(|n| n.operation_id == op)?
            .vm_id
            .clone()
    };
    let mut vrouters = BTreeSet::new();
    let mut by_range: Vec<Vec<Value>> = vec![Vec::new(); ranges.len()];
    for l in &leases {
        let Ok(ip) = l.ip.parse() else { continue };
        let Some(k) = ranges.iter().position(|r| r.contains(ip)) else {
            continue;
        };
        let mut lease = json!({"IP": l.ip, "MAC": flotilla_core::network::mac_for(ip)});
        if let Some(id) = l.holder.strip_prefix("vnet-") {
            lease["VNET"] = json!(id);
        } else if let Some(router) = l
            .holder
            .strip_prefix("vrouter-")
            .and_then(|h| h.split_once('/'))
        {
            lease["VROUTER"] = json!(router.0);
            vrouters.insert(router.0.to_string());
        } else if let Some(vm) = vm_of(l) {
            lease["VM"] = json!(vm);
        }
        by_range[k].push(lease);
    }
    let ars: Vec<Value> = ranges
        .iter()
        .zip(by_range)
        .map(|(r, leases)| {
            let mut ar = r.to_json();
            ar["LEASES"] = json!({"LEASE": leases});
            ar
        })
        .collect();
    let template: Map<String, Value> = TEMPLATE_ATTRIBUTES
        .iter()
        .filter_map(|key| {
            let value = vnet.attributes.get(*key)?;
            Some((
                key.to_string(),
                json!(crate::service::inputs::as_text(value)?),
            ))
        })
        .collect();
    Ok(json!({"VNET": {
        "ID": vnet.id.to_string(),
        "NAME": vnet.name,
        "USED_LEASES": leases.len().to_string(),
        "VROUTERS": {"ID": vrouters.into_iter().collect::<Vec<_>>()},
        "PARENT_NETWORK_ID": parent_of(vnet).map(|p| p.to_string()).unwrap_or_default(),
        "AR_POOL": {"AR": ars},
        "TEMPLATE": template,
    }}))
}
