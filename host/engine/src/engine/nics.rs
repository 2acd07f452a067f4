//! A VM's NICs as the driver receives them: `NETWORK_ID = "$Public"`
//! resolved to the service's network, an address leased from each of
//! Flotilla's networks (keyed by the VM's operation id and the NIC, so a
//! create repeated after a crash gets the same one), NIC aliases with
//! their own address, a `vr` role's floating IPs, and the `ETH<n>_*`
//! context variables OpenNebula's contextualization gives a guest.

use super::effects::{database, network_store};
use super::*;
use crate::service::lifecycle::{Vrouter, VrouterIp};
use crate::service::validate::networks::{network_reference, nics};
use crate::store::ResourceKind;
use flotilla_model::{BackendError, KeyValue, Port, Segment};
use serde_json::{Map, Value};

/// Floating IPs one virtual router may hold.
const MAX_FLOATING: usize = 8;

/// Attributes of a network copied onto a NIC on it, and the name each
/// takes in the guest's context (`ETH0_MASK`), as OpenNebula names them.
const CONTEXT_ATTRIBUTES: &[(&str, &str)] = &[
    ("GATEWAY", "GATEWAY"),
    ("DNS", "DNS"),
    ("NETWORK_MASK", "MASK"),
    ("NETWORK_ADDRESS", "NETWORK"),
    ("SEARCH_DOMAIN", "SEARCH_DOMAIN"),
    ("GUEST_MTU", "MTU"),
];

/// A NIC whose network has host plumbing (`VN_MAD`): its device is made
/// before the VM is created, and named in the NIC's `TARGET`.
pub(super) struct PortNeed {
    /// Index in the template's `NIC` list.
    pub nic: usize,
    /// The plumbing plugin (the network's `VN_MAD`).
    pub plumbing: String,
    pub segment: Segment,
    pub port: Port,
}

/// What a NIC was leased from: the network, its attributes, and the
/// lease's holder (`<operation id>/NIC0`).
struct Leased {
    vnet: u64,
    attributes: Map<String, Value>,
    holder: String,
}

/// The network attribute naming a network's host plumbing, as OpenNebula's
/// `VN_MAD` names its network driver.
pub(super) const VN_MAD: &str = "VN_MAD";

/// A NIC's port key: a hash of its lease's holder (`<operation id>/NIC0`),
/// so a retried create gets the same device, 10 hex digits (40 bits) to
/// leave room for a prefix in the kernel's 15 bytes.
pub(super) fn port_key(holder: &str) -> String {
    // FNV-1a: stable across releases and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in holder.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:010x}", h >> 24)
}

/// The plumbing a network's attributes name, if any.
pub(super) fn plumbing_of(attributes: &Map<String, Value>) -> Option<String> {
    text(attributes.get(VN_MAD))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A network's attributes as plumbing reads them.
pub(super) fn segment_of(vnet: u64, attributes: &Map<String, Value>) -> Segment {
    Segment {
        network_id: vnet.to_string(),
        attributes: attributes
            .iter()
            .filter_map(|(k, v)| {
                text(Some(v)).map(|value| KeyValue {
                    key: k.clone(),
                    value,
                })
            })
            .collect(),
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(crate::service::inputs::as_text)
}

fn is_yes(v: Option<&Value>) -> bool {
    text(v).is_some_and(|t| t.eq_ignore_ascii_case("YES"))
}

impl Engine {
    /// Resolve a NIC's `NETWORK_ID` (`$Name` → the service's network).
    fn resolve_network(
        service: &Service,
        nic: &Map<String, Value>,
    ) -> Result<Option<String>, BackendError> {
        let Some(raw) = text(nic.get("NETWORK_ID")) else {
            return Ok(None);
        };
        let Some(name) = network_reference(&raw) else {
            return Ok(Some(raw));
        };
        let network = service
            .networks
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| {
                BackendError::Refused(format!(
                    "NETWORK_ID: `${name}` is not a network of service {}",
                    service.id
                ))
            })?;
        network
            .network_id()
            .map(|id| Some(id.to_string()))
            .ok_or_else(|| {
                BackendError::Refused(format!("NETWORK_ID: network `{name}` is not deployed"))
            })
    }

    /// The NICs of a VM's template, resolved and with their addresses;
    /// `holder` is the VM's operation id. Returns the NICs whose devices
    /// host plumbing must make before the VM is created.
    pub(super) fn attach_nics(
        &self,
        service: &Service,
        role: &str,
        holder: &str,
        template: &mut Map<String, Value>,
    ) -> Result<Vec<PortNeed>, BackendError> {
        let mut needs = Vec::new();
        let vrouter = service.role(role).and_then(|r| r.vrouter.clone());
        let mut context_vars: Vec<(String, String)> = Vec::new();
        let mut nic_names: Vec<String> = Vec::new();
        for key in ["NIC", "NIC_ALIAS"] {
            let Some(list) = template.get(key).map(|v| match v {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            }) else {
                continue;
            };
            let mut out = Vec::new();
            for (j, nic) in list.into_iter().enumerate() {
                let Value::Object(mut nic) = nic else {
                    out.push(nic);
                    continue;
                };
                let at = format!("{key}[{j}]");
                // The device a NIC attaches to is the host's to name: a
                // TARGET written in a template would let a VM join any
                // tap on the host.
                nic.remove("TARGET");
                if let Some(id) = Self::resolve_network(service, &nic)
                    .map_err(|e| e.map(|m| format!("{at}.{m}")))?
                {
                    nic.insert("NETWORK_ID".into(), Value::String(id.clone()));
                    let leased = self
                        .lease_nic(service, holder, key, j, &id, &mut nic)
                        .map_err(|e| e.map(|m| format!("{at}: {m}")))?;
                    if let Some(leased) = leased
                        && key == "NIC"
                        && let Some(plumbing) = plumbing_of(&leased.attributes)
                    {
                        needs.push(PortNeed {
                            nic: j,
                            plumbing,
                            segment: segment_of(leased.vnet, &leased.attributes),
                            port: Port {
                                key: port_key(&leased.holder),
                                network_id: leased.vnet.to_string(),
                                mac: text(nic.get("MAC")).unwrap_or_default(),
                            },
                        });
                    }
                }
                let name = if key == "NIC" {
                    let name = format!("NIC{j}");
                    nic.insert("NIC_ID".into(), Value::from(j.to_string()));
                    nic.entry("NAME")
                        .or_insert_with(|| Value::String(name.clone()));
                    nic_names.push(name.clone());
                    if let Some(ip) = vrouter
                        .as_ref()
                        .and_then(|v| v.ips.iter().find(|i| i.nic == j))
                    {
                        nic.insert("VROUTER_IP".into(), Value::String(ip.ip.clone()));
                        if let Some(v) = &vrouter {
                            nic.insert("VROUTER_ID".into(), Value::from(v.id.to_string()));
                        }
                    }
                    format!("ETH{j}")
                } else {
                    // An alias names its parent NIC (`PARENT = "NIC0"`).
                    let parent = text(nic.get("PARENT")).unwrap_or_else(|| "NIC0".into());
                    nic.insert("PARENT".into(), Value::String(parent.clone()));
                    format!("{}_ALIAS{j}", parent.replace("NIC", "ETH"))
                };
                for (k, ctx) in [("IP", "IP"), ("MAC", "MAC"), ("VROUTER_IP", "VROUTER_IP")]
                    .into_iter()
                    .chain(CONTEXT_ATTRIBUTES.iter().copied())
                {
                    if let Some(v) = text(nic.get(k)) {
                        context_vars.push((format!("{name}_{ctx}"), v));
                    }
                }
                out.push(Value::Object(nic));
            }
            template.insert(key.into(), Value::Array(out));
        }
        // OpenNebula's contextualization: with CONTEXT/NETWORK = YES the
        // guest gets each NIC's settings as ETH<n>_* variables.
        if let Some(Value::Object(context)) = template.get_mut("CONTEXT")
            && is_yes(context.get("NETWORK"))
        {
            for (k, v) in context_vars {
                context.entry(k).or_insert(Value::String(v));
            }
        }
        Ok(needs)
    }

    /// Lease an address for a NIC on one of Flotilla's networks (a
    /// network name that is not a number is left to the driver). Returns
    /// the network's id and attributes, and the lease's holder.
    fn lease_nic(
        &self,
        service: &Service,
        holder: &str,
        key: &str,
        j: usize,
        network: &str,
        nic: &mut Map<String, Value>,
    ) -> Result<Option<Leased>, BackendError> {
        let Ok(vnet) = network.parse::<u64>() else {
            return Ok(None);
        };
        let store = self.store();
        // A number names one of Flotilla's networks: if it is not there
        // (deleted, or never made), the VM fails with the reason rather
        // than boot with a NIC that has no address.
        let Some(net) = store.resource(ResourceKind::Vnet, vnet).map_err(database)? else {
            return Err(BackendError::Refused(format!(
                "virtual network {vnet} does not exist"
            )));
        };
        // A service's VMs take addresses only from networks its owner
        // may use (an operator's network shared with them, or the
        // service's own).
        let owner = super::vnets::owner_identity(&service.ownership);
        if !owner.may(flotilla_core::permissions::Right::Use, &net.ownership) {
            return Err(BackendError::Refused(format!(
                "virtual network {vnet}: the service's owner may not use it"
            )));
        }
        let lease_holder = format!("{holder}/{key}{j}");
        let lease = store
            .lease(vnet, &lease_holder, Some(service.id))
            .map_err(network_store)?;
        // The store leases only IPv4 addresses: another is a broken record.
        let ip: std::net::Ipv4Addr = lease.ip.parse().map_err(|_| {
            BackendError::Fault(format!("leased address `{}` is not IPv4", lease.ip))
        })?;
        nic.insert("IP".into(), Value::String(lease.ip.clone()));
        nic.insert(
            "MAC".into(),
            Value::String(flotilla_core::network::mac_for(ip)),
        );
        nic.insert("NETWORK".into(), Value::String(net.name.clone()));
        for (a, _) in CONTEXT_ATTRIBUTES {
            if let Some(v) = text(net.attributes.get(*a)) {
                nic.entry(a.to_string()).or_insert(Value::String(v));
            }
        }
        Ok(Some(Leased {
            vnet,
            attributes: net.attributes,
            holder: lease_holder,
        }))
    }

    /// Before a `vr` role's VMs are created: its virtual router, with a
    /// floating IP leased on each NIC marked `FLOATING_IP = YES` (made
    /// once; a retry finds it).
    pub(super) fn prepare_vrouters(
        &self,
        service: &mut Service,
        creates: &[CreateVm],
    ) -> Result<(), BackendError> {
        for create in creates {
            let Some(i) = service.roles.iter().position(|r| r.name == create.role) else {
                continue;
            };
            let Some(spec) = service.template.role(&create.role) else {
                continue;
            };
            if spec.kind != crate::service::RoleType::Vr || service.roles[i].vrouter.is_some() {
                continue;
            }
            let mut floating = Vec::new();
            let owner = super::vnets::owner_identity(&service.ownership);
            for (j, nic) in nics(&spec.template_contents, "NIC") {
                if !is_yes(nic.get("FLOATING_IP")) {
                    continue;
                }
                if floating.len() == MAX_FLOATING {
                    return Err(BackendError::Refused(format!(
                        "NIC[{j}]: a virtual router has at most {MAX_FLOATING} floating IPs"
                    )));
                }
                let id = Self::resolve_network(service, nic)?.ok_or_else(|| {
                    BackendError::Refused(format!("NIC[{j}]: a floating IP needs a NETWORK_ID"))
                })?;
                let vnet = id.parse::<u64>().map_err(|_| {
                    BackendError::Refused(format!(
                        "NIC[{j}]: a floating IP needs one of Flotilla's networks, not `{id}`"
                    ))
                })?;
                let usable = self
                    .store()
                    .resource(ResourceKind::Vnet, vnet)
                    .map_err(database)?
                    .is_some_and(|net| {
                        owner.may(flotilla_core::permissions::Right::Use, &net.ownership)
                    });
                if !usable {
                    return Err(BackendError::Refused(format!(
                        "NIC[{j}]: virtual network {vnet}: missing, or the service's owner may not use it"
                    )));
                }
                floating.push((j, vnet));
            }
            let stored = self
                .store()
                .vrouter(service.id, &create.role, &floating)
                .map_err(|e| network_store(e).map(|m| format!("virtual router: {m}")))?;
            let ips = stored
                .ips
                .iter()
                .map(|(nic, network, ip)| VrouterIp {
                    nic: *nic,
                    network_id: network.to_string(),
                    ip: ip.clone(),
                })
                .collect();
            let now = self.now();
            service.info(
                now,
                format!(
                    "Role {}: virtual router {} ({} floating IP(s))",
                    create.role,
                    stored.id,
                    stored.ips.len()
                ),
            );
            service.roles[i].vrouter = Some(Vrouter { id: stored.id, ips });
        }
        Ok(())
    }
}
