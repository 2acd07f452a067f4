//! Virtual networks' addresses: leases (an address held by a VM's NIC, a
//! virtual router's floating IP, or a reservation carved from a parent),
//! reservations, template instances, and the virtual routers of `vr`
//! roles. The networks and network templates themselves are resources
//! (`ResourceKind::Vnet`, `ResourceKind::VnetTemplate`); which address to
//! take is decided by `flotilla_core::network`.
//!
//! Every call that makes something for a service takes an idempotency key
//! (a VM's operation id and NIC, a network's operation id), so a call
//! repeated after a crash finds what the first one made.

use super::{Resource, ResourceKind, Resources, SqlStore};
use crate::database::{Database, Row, params};
use flotilla_core::network::{self, AddressRange};
use flotilla_core::permissions::Ownership;
use flotilla_core::service::FieldError;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Attributes Flotilla writes on the networks it makes, never taken from
/// a request: what ties a network to a service and an operation.
pub const NETWORK_MARKS: [&str; 4] = [
    "SERVICE_ID",
    "OPERATION_ID",
    "PARENT_NETWORK_ID",
    "TEMPLATE_ID",
];

/// Whether an attribute is one of [`NETWORK_MARKS`], in any case.
pub fn is_mark(key: &str) -> bool {
    NETWORK_MARKS.iter().any(|m| key.eq_ignore_ascii_case(m))
}

/// The most address ranges a network holds, and addresses in all: a scan
/// for a free block must stay short while it holds the store.
pub const MAX_RANGES: usize = 16;
pub const MAX_ADDRESSES: u64 = 262_144;

/// An address held by someone.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Lease {
    pub vnet_id: u64,
    pub ip: String,
    /// `<operation id>/NIC<n>` for a VM's NIC, `vrouter-<id>/NIC<n>` for a
    /// floating IP, `vnet-<id>` for the addresses a reservation took.
    pub holder: String,
    /// The service the holder belongs to, if any: its leases go with it.
    pub service_id: Option<u64>,
}

/// Why a network operation failed, so callers can answer each the right
/// way (a full network is the user's problem, a broken database is not).
#[derive(Debug)]
pub enum NetworkError {
    NotFound(String),
    /// The request cannot be met: no free address, a bad size.
    Refused(String),
    Storage(anyhow::Error),
}

impl std::fmt::Display for NetworkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkError::NotFound(m) | NetworkError::Refused(m) => f.write_str(m),
            NetworkError::Storage(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for NetworkError {}

impl From<anyhow::Error> for NetworkError {
    fn from(e: anyhow::Error) -> Self {
        NetworkError::Storage(e)
    }
}

impl From<serde_json::Error> for NetworkError {
    fn from(e: serde_json::Error) -> Self {
        NetworkError::Storage(e.into())
    }
}

/// Who a network made for a service belongs to, and under which key.
#[derive(Debug, Clone, Copy)]
pub struct MadeFor<'a> {
    pub service_id: u64,
    pub operation_id: &'a str,
}

/// A `vr` role's virtual router.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredVrouter {
    pub id: u64,
    pub service_id: u64,
    pub role: String,
    /// `(NIC index, network id, floating IP)`.
    pub ips: Vec<(usize, u64, String)>,
}

pub trait Networks {
    /// Every lease of a network, by address.
    fn leases(&self, vnet: u64) -> Result<Vec<Lease>, NetworkError>;

    /// The leases of one holder's NICs (`<operation id>/…`), any network.
    fn leases_of(&self, holder: &str) -> Result<Vec<Lease>, NetworkError>;

    /// Every lease a service holds, in one query.
    fn leases_of_service(&self, service_id: u64) -> Result<Vec<Lease>, NetworkError>;

    /// Lease an address of `vnet` to `holder`: the one it holds already,
    /// else the first free one.
    fn lease(
        &self,
        vnet: u64,
        holder: &str,
        service_id: Option<u64>,
    ) -> Result<Lease, NetworkError>;

    /// Release the leases of `service_id` whose holder `keep` refuses
    /// (VMs that left the service); every one of them when `keep` keeps
    /// nothing. Returns how many.
    fn release_unkept(
        &self,
        service_id: u64,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<usize, NetworkError>;

    /// Services that hold leases or own networks, to find those left by
    /// services that are gone.
    fn services_with_networks(&self) -> Result<BTreeSet<u64>, NetworkError>;

    /// The networks made for a service, any of its operations.
    fn networks_of_service(&self, service_id: u64) -> Result<Vec<Resource>, NetworkError>;

    /// A network made under an operation id (idempotency).
    fn network_made_by(&self, operation_id: &str) -> Result<Option<Resource>, NetworkError>;

    /// Reserve `size` consecutive free addresses of `parent` as a new
    /// network `name`: all or nothing.
    fn reserve(
        &self,
        parent: u64,
        name: &str,
        size: u32,
        ownership: Ownership,
        made_for: Option<MadeFor<'_>>,
    ) -> Result<Resource, NetworkError>;

    /// A network from a network template, with `extra` attributes over its
    /// own (an `AR` given there replaces the template's).
    fn instantiate_network(
        &self,
        template: u64,
        name: &str,
        extra: Map<String, Value>,
        ownership: Ownership,
        made_for: Option<MadeFor<'_>>,
    ) -> Result<Resource, NetworkError>;

    /// Delete a network with its leases, giving a reservation's addresses
    /// back to its parent. `false` when it did not exist.
    fn delete_network(&self, id: u64) -> Result<bool, NetworkError>;

    /// The virtual router of a service's role, made (with its floating IPs
    /// leased) on first use.
    fn vrouter(
        &self,
        service_id: u64,
        role: &str,
        floating: &[(usize, u64)],
    ) -> Result<StoredVrouter, NetworkError>;

    /// Delete the virtual routers of a service with their floating IPs.
    fn delete_vrouters(&self, service_id: u64) -> Result<usize, NetworkError>;
}

/// Ranges within [`MAX_RANGES`] and [`MAX_ADDRESSES`].
pub fn check_size(ranges: &[AddressRange]) -> Result<(), FieldError> {
    let refuse = |reason: String| FieldError {
        field: "AR".into(),
        reason,
    };
    if ranges.len() > MAX_RANGES {
        return Err(refuse(format!(
            "at most {MAX_RANGES} address ranges, not {}",
            ranges.len()
        )));
    }
    let total = network::capacity(ranges);
    if total > MAX_ADDRESSES {
        return Err(refuse(format!(
            "at most {MAX_ADDRESSES} addresses in all, not {total}"
        )));
    }
    Ok(())
}

impl<D: Database> SqlStore<D> {
    fn network(&self, id: u64) -> Result<Resource, NetworkError> {
        self.resource(ResourceKind::Vnet, id)?
            .ok_or_else(|| NetworkError::NotFound(format!("virtual network {id} does not exist")))
    }

    fn ranges(&self, vnet: &Resource) -> Result<Vec<AddressRange>, NetworkError> {
        network::parse_ranges(&vnet.attributes)
            .map_err(|e| NetworkError::Refused(format!("virtual network {}: {e}", vnet.id)))
    }

    fn leased(&self, vnet: u64) -> Result<BTreeSet<Ipv4Addr>, NetworkError> {
        let ips = self
            .db
            .query_texts("SELECT ip FROM leases WHERE vnet_id = ?1", params![vnet])?;
        Ok(ips.iter().filter_map(|ip| ip.parse().ok()).collect())
    }

    fn insert_lease(&self, lease: &Lease) -> Result<(), NetworkError> {
        self.db.execute(
            "INSERT INTO leases (vnet_id, ip, holder, service_id) VALUES (?1, ?2, ?3, ?4)",
            params![lease.vnet_id, &lease.ip, &lease.holder, lease.service_id],
        )?;
        Ok(())
    }

    /// Write a new network, marked with the service and operation it was
    /// made for.
    fn create_network(
        &self,
        name: &str,
        ownership: Ownership,
        mut attributes: Map<String, Value>,
        made_for: Option<MadeFor<'_>>,
    ) -> Result<Resource, NetworkError> {
        attributes.retain(|k, _| !is_mark(k) || k == "PARENT_NETWORK_ID" || k == "TEMPLATE_ID");
        if let Some(m) = made_for {
            attributes.insert("SERVICE_ID".into(), Value::from(m.service_id.to_string()));
            attributes.insert("OPERATION_ID".into(), Value::from(m.operation_id));
        }
        let id = self.create_resource(ResourceKind::Vnet, name, ownership, attributes)?;
        self.network(id)
    }

    /// The network an earlier call made for the same service and operation.
    fn made_for(&self, made_for: Option<MadeFor<'_>>) -> Result<Option<Resource>, NetworkError> {
        let Some(m) = made_for else {
            return Ok(None);
        };
        Ok(self.network_made_by(m.operation_id)?.filter(|n| {
            n.attributes.get("SERVICE_ID").and_then(Value::as_str)
                == Some(m.service_id.to_string().as_str())
        }))
    }
}

/// A lease from a row of `vnet_id, ip, holder, service_id`.
fn lease_of(mut row: Row) -> anyhow::Result<Lease> {
    Ok(Lease {
        vnet_id: row.id(0)?,
        ip: row.text(1)?,
        holder: row.text(2)?,
        service_id: row.optional_id(3)?,
    })
}

impl<D: Database> Networks for SqlStore<D> {
    fn leases(&self, vnet: u64) -> Result<Vec<Lease>, NetworkError> {
        let mut out = self
            .db
            .query(
                "SELECT vnet_id, ip, holder, service_id FROM leases WHERE vnet_id = ?1 ORDER BY ip",
                params![vnet],
            )?
            .into_iter()
            .map(lease_of)
            .collect::<anyhow::Result<Vec<_>>>()?;
        // By address, not by text ("10.0.0.10" after "10.0.0.9").
        out.sort_by_key(|l| l.ip.parse::<Ipv4Addr>().ok());
        Ok(out)
    }

    fn leases_of(&self, holder: &str) -> Result<Vec<Lease>, NetworkError> {
        // `<holder>/` up to `<holder>0` (the next byte): a range of the
        // holder index.
        Ok(self
            .db
            .query(
                "SELECT vnet_id, ip, holder, service_id FROM leases
                 WHERE holder > ?1 AND holder < ?2 ORDER BY holder",
                params![format!("{holder}/"), format!("{holder}0")],
            )?
            .into_iter()
            .map(lease_of)
            .collect::<anyhow::Result<_>>()?)
    }

    fn leases_of_service(&self, service_id: u64) -> Result<Vec<Lease>, NetworkError> {
        Ok(self
            .db
            .query(
                "SELECT vnet_id, ip, holder, service_id FROM leases
                 WHERE service_id = ?1 ORDER BY holder",
                params![service_id],
            )?
            .into_iter()
            .map(lease_of)
            .collect::<anyhow::Result<_>>()?)
    }

    fn lease(
        &self,
        vnet: u64,
        holder: &str,
        service_id: Option<u64>,
    ) -> Result<Lease, NetworkError> {
        self.in_transaction(|| {
            let held = self.db.query_text(
                "SELECT ip FROM leases WHERE vnet_id = ?1 AND holder = ?2",
                params![vnet, holder],
            )?;
            if let Some(ip) = held {
                return Ok(Lease {
                    vnet_id: vnet,
                    ip,
                    holder: holder.to_string(),
                    service_id,
                });
            }
            let network = self.network(vnet)?;
            let ranges = self.ranges(&network)?;
            let leased = self.leased(vnet)?;
            let ip = network::first_free(&ranges, &leased).ok_or_else(|| {
                NetworkError::Refused(format!(
                    "virtual network {vnet} ({}) has no free address: {} of {} leased",
                    network.name,
                    leased.len(),
                    network::capacity(&ranges)
                ))
            })?;
            let lease = Lease {
                vnet_id: vnet,
                ip: ip.to_string(),
                holder: holder.to_string(),
                service_id,
            };
            self.insert_lease(&lease)?;
            Ok(lease)
        })
    }

    fn release_unkept(
        &self,
        service_id: u64,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<usize, NetworkError> {
        self.in_transaction(|| {
            let holders = self.db.query_texts(
                "SELECT DISTINCT holder FROM leases WHERE service_id = ?1",
                params![service_id],
            )?;
            let mut released = 0;
            for holder in holders.iter().filter(|h| !keep(h)) {
                released += self.db.execute(
                    "DELETE FROM leases WHERE service_id = ?1 AND holder = ?2",
                    params![service_id, holder],
                )?;
            }
            Ok(released as usize)
        })
    }

    fn services_with_networks(&self) -> Result<BTreeSet<u64>, NetworkError> {
        let mut out = BTreeSet::new();
        for sql in [
            "SELECT DISTINCT service_id FROM leases WHERE service_id IS NOT NULL",
            "SELECT DISTINCT service_id FROM vrouters",
            "SELECT DISTINCT service_id FROM vm_attributes",
        ] {
            out.extend(self.db.query_ids(sql, params![])?);
        }
        // A network's SERVICE_ID is text Flotilla wrote: one that is not a
        // number names no service.
        let service_id = self.db.dialect().body_attribute("SERVICE_ID");
        let marked = self.db.query_texts(
            &format!(
                "SELECT DISTINCT CAST({service_id} AS TEXT) FROM vnets
                 WHERE {service_id} IS NOT NULL"
            ),
            params![],
        )?;
        out.extend(marked.iter().filter_map(|id| id.parse::<u64>().ok()));
        Ok(out)
    }

    fn networks_of_service(&self, service_id: u64) -> Result<Vec<Resource>, NetworkError> {
        let bodies = self.db.query_texts(
            &format!(
                "SELECT body FROM vnets WHERE {} = ?1 ORDER BY id",
                self.db.dialect().body_attribute("SERVICE_ID")
            ),
            params![service_id.to_string()],
        )?;
        bodies
            .iter()
            .map(|b| Ok(serde_json::from_str(b)?))
            .collect()
    }

    fn network_made_by(&self, operation_id: &str) -> Result<Option<Resource>, NetworkError> {
        let body = self.db.query_text(
            &format!(
                "SELECT body FROM vnets WHERE {} = ?1",
                self.db.dialect().body_attribute("OPERATION_ID")
            ),
            params![operation_id],
        )?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    fn reserve(
        &self,
        parent: u64,
        name: &str,
        size: u32,
        ownership: Ownership,
        made_for: Option<MadeFor<'_>>,
    ) -> Result<Resource, NetworkError> {
        self.in_transaction(|| {
            if let Some(made) = self.made_for(made_for)? {
                return Ok(made);
            }
            let parent_net = self.network(parent)?;
            let ranges = self.ranges(&parent_net)?;
            let leased = self.leased(parent)?;
            let Some(first) = network::free_block(&ranges, &leased, size) else {
                return Err(NetworkError::Refused(format!(
                    "virtual network {parent} ({}) cannot reserve {size} addresses: its largest free block is {} ({} of {} leased)",
                    parent_net.name,
                    network::largest_free_block(&ranges, &leased),
                    leased.len(),
                    network::capacity(&ranges)
                )));
            };
            // The child inherits the parent's settings (gateway, DNS, …),
            // not its ranges or its marks.
            let mut attributes: Map<String, Value> = parent_net
                .attributes
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("AR") && !is_mark(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let range = AddressRange {
                ar_id: 0,
                ip: first,
                size,
            };
            attributes.insert("AR".into(), network::ranges_json(&[range]));
            attributes.insert("PARENT_NETWORK_ID".into(), Value::from(parent.to_string()));
            let child = self.create_network(name, ownership, attributes, made_for)?;
            for i in 0..size {
                self.insert_lease(&Lease {
                    vnet_id: parent,
                    ip: Ipv4Addr::from(u32::from(first) + i).to_string(),
                    holder: format!("vnet-{}", child.id),
                    service_id: made_for.map(|m| m.service_id),
                })?;
            }
            Ok(child)
        })
    }

    fn instantiate_network(
        &self,
        template: u64,
        name: &str,
        extra: Map<String, Value>,
        ownership: Ownership,
        made_for: Option<MadeFor<'_>>,
    ) -> Result<Resource, NetworkError> {
        self.in_transaction(|| {
            if let Some(made) = self.made_for(made_for)? {
                return Ok(made);
            }
            let t = self
                .resource(ResourceKind::VnetTemplate, template)?
                .ok_or_else(|| {
                    NetworkError::NotFound(format!(
                        "virtual network template {template} does not exist"
                    ))
                })?;
            let mut attributes = t.attributes.clone();
            for (k, v) in extra {
                attributes.retain(|existing, _| !existing.eq_ignore_ascii_case(&k));
                attributes.insert(k, v);
            }
            // What ties a network to a service is Flotilla's to write.
            attributes.retain(|k, _| !is_mark(k));
            let ranges = network::parse_ranges(&attributes).map_err(|e| NetworkError::Refused(e.to_string()))?;
            check_size(&ranges).map_err(|e| NetworkError::Refused(e.to_string()))?;
            if ranges.is_empty() {
                return Err(NetworkError::Refused(format!(
                    "virtual network template {template} has no address range: give one in extra, e.g. AR=[IP=10.0.0.1, SIZE=10, TYPE=IP4]"
                )));
            }
            attributes.insert("AR".into(), network::ranges_json(&ranges));
            attributes.insert("TEMPLATE_ID".into(), Value::from(template.to_string()));
            self.create_network(name, ownership, attributes, made_for)
        })
    }

    fn delete_network(&self, id: u64) -> Result<bool, NetworkError> {
        self.in_transaction(|| {
            if self.resource(ResourceKind::Vnet, id)?.is_none() {
                return Ok(false);
            }
            self.db.execute(
                "DELETE FROM leases WHERE vnet_id = ?1 OR holder = ?2",
                params![id, format!("vnet-{id}")],
            )?;
            Ok(self.delete_resource(ResourceKind::Vnet, id)?)
        })
    }

    fn vrouter(
        &self,
        service_id: u64,
        role: &str,
        floating: &[(usize, u64)],
    ) -> Result<StoredVrouter, NetworkError> {
        self.in_transaction(|| {
            let existing = self.db.query_text(
                "SELECT body FROM vrouters WHERE service_id = ?1 AND role = ?2",
                params![service_id, role],
            )?;
            if let Some(body) = existing {
                return Ok(serde_json::from_str(&body)?);
            }
            let id = self.next_id("vrouters")?;
            let mut ips = Vec::new();
            for &(nic, vnet) in floating {
                let lease =
                    self.lease(vnet, &format!("vrouter-{id}/NIC{nic}"), Some(service_id))?;
                ips.push((nic, vnet, lease.ip));
            }
            let vrouter = StoredVrouter {
                id,
                service_id,
                role: role.to_string(),
                ips,
            };
            self.db.execute(
                "INSERT INTO vrouters (id, service_id, role, body) VALUES (?1, ?2, ?3, ?4)",
                params![id, service_id, role, serde_json::to_string(&vrouter)?],
            )?;
            Ok(vrouter)
        })
    }

    fn delete_vrouters(&self, service_id: u64) -> Result<usize, NetworkError> {
        self.in_transaction(|| {
            let ids = self.db.query_ids(
                "SELECT id FROM vrouters WHERE service_id = ?1",
                params![service_id],
            )?;
            for id in &ids {
                self.db.execute(
                    "DELETE FROM leases WHERE holder LIKE ?1",
                    params![format!("vrouter-{id}/%")],
                )?;
            }
            self.db.execute(
                "DELETE FROM vrouters WHERE service_id = ?1",
                params![service_id],
            )?;
            Ok(ids.len())
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const SERVICE: u64 = 7;

    fn attributes(value: serde_json::Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn made_for(operation_id: &str) -> Option<MadeFor<'_>> {
        Some(MadeFor {
            service_id: SERVICE,
            operation_id,
        })
    }

    on_every_engine! {
        fn networks_lease_reserve_instantiate_and_are_deleted(db) {
            let store = db.open();
            let owner = Ownership::default();
            let parent = store
                .create_resource(
                    ResourceKind::Vnet,
                    "parent",
                    owner.clone(),
                    attributes(serde_json::json!({
                        "AR": [{"TYPE": "IP4", "IP": "10.8.0.1", "SIZE": "16"}],
                        "GATEWAY": "10.8.0.254"
                    })),
                )
                .unwrap();
            let template = store
                .create_resource(
                    ResourceKind::VnetTemplate,
                    "lab",
                    owner.clone(),
                    attributes(serde_json::json!({
                        "AR": [{"TYPE": "IP4", "IP": "10.9.0.1", "SIZE": "4"}]
                    })),
                )
                .unwrap();
            // A SERVICE_ID that is no number names no service.
            store
                .create_resource(
                    ResourceKind::Vnet,
                    "odd",
                    owner.clone(),
                    attributes(serde_json::json!({"SERVICE_ID": "not a number"})),
                )
                .unwrap();

            let first = store.lease(parent, "op-1/NIC0", Some(SERVICE)).unwrap();
            assert_eq!(first.ip, "10.8.0.1");
            assert_eq!(store.lease(parent, "op-1/NIC0", Some(SERVICE)).unwrap(), first);
            store.lease(parent, "op-1/NIC1", Some(SERVICE)).unwrap();
            store.lease(parent, "op-10/NIC0", Some(SERVICE)).unwrap();

            let child = store
                .reserve(parent, "child", 3, owner.clone(), made_for("op-net"))
                .unwrap();
            assert_eq!(child.attributes["PARENT_NETWORK_ID"], parent.to_string());
            assert_eq!(child.attributes["GATEWAY"], "10.8.0.254");
            assert_eq!(child.attributes["SERVICE_ID"], SERVICE.to_string());
            // Asked again under the same operation: the same network.
            assert_eq!(
                store.reserve(parent, "child", 3, owner.clone(), made_for("op-net")).unwrap(),
                child
            );
            for i in 0..5 {
                store.lease(parent, &format!("op-2/NIC{i}"), None).unwrap();
            }

            let other = db.open();
            let leases = other.leases(parent).unwrap();
            let ips: Vec<&str> = leases.iter().map(|l| l.ip.as_str()).collect();
            assert_eq!(
                ips,
                [
                    "10.8.0.1", "10.8.0.2", "10.8.0.3", "10.8.0.4", "10.8.0.5", "10.8.0.6",
                    "10.8.0.7", "10.8.0.8", "10.8.0.9", "10.8.0.10", "10.8.0.11"
                ]
            );
            assert_eq!(leases[3].holder, format!("vnet-{}", child.id));
            let holders: Vec<String> = other
                .leases_of("op-1")
                .unwrap()
                .into_iter()
                .map(|l| l.holder)
                .collect();
            assert_eq!(holders, ["op-1/NIC0", "op-1/NIC1"]);
            assert_eq!(other.leases_of_service(SERVICE).unwrap().len(), 6);
            assert_eq!(other.network_made_by("op-net").unwrap(), Some(child.clone()));
            assert_eq!(other.network_made_by("op-none").unwrap(), None);

            let made = other
                .instantiate_network(
                    template,
                    "instance",
                    attributes(serde_json::json!({"DNS": "10.9.0.53"})),
                    owner.clone(),
                    made_for("op-inst"),
                )
                .unwrap();
            assert_eq!(made.attributes["TEMPLATE_ID"], template.to_string());
            assert_eq!(made.attributes["DNS"], "10.9.0.53");
            assert_eq!(
                store.networks_of_service(SERVICE).unwrap(),
                vec![child.clone(), made.clone()]
            );

            let router = store.vrouter(SERVICE, "edge", &[(0, made.id)]).unwrap();
            assert_eq!(router.ips, vec![(0, made.id, "10.9.0.1".to_string())]);
            assert_eq!(other.vrouter(SERVICE, "edge", &[(0, made.id)]).unwrap(), router);
            assert_eq!(other.leases(made.id).unwrap().len(), 1);

            let mut ready = Map::new();
            ready.insert("READY".into(), "YES".into());
            store
                .save_vm_attributes(&[(SERVICE, "op-1".into(), ready.clone())])
                .unwrap();
            ready.insert("APP".into(), "up".into());
            store
                .save_vm_attributes(&[
                    (SERVICE, "op-1".into(), ready.clone()),
                    (SERVICE, "op-10".into(), Map::new()),
                ])
                .unwrap();
            let mut reported = other.vm_attributes().unwrap();
            reported.sort_by(|a, b| a.1.cmp(&b.1));
            assert_eq!(
                reported,
                vec![
                    (SERVICE, "op-1".to_string(), ready),
                    (SERVICE, "op-10".to_string(), Map::new())
                ]
            );

            assert_eq!(
                other.services_with_networks().unwrap(),
                BTreeSet::from([SERVICE])
            );
            // op-10 left the service: its lease and its report go.
            let kept = |h: &str| !h.starts_with("op-10");
            assert_eq!(store.release_unkept(SERVICE, &kept).unwrap(), 1);
            assert_eq!(store.forget_vm_attributes(SERVICE, &kept).unwrap(), 1);
            assert_eq!(store.delete_vrouters(SERVICE).unwrap(), 1);
            assert!(other.leases(made.id).unwrap().is_empty());

            assert!(store.delete_network(child.id).unwrap());
            assert!(!store.delete_network(child.id).unwrap());
            // The reservation's addresses are the parent's again.
            assert_eq!(other.leases(parent).unwrap().len(), 7);
            assert_eq!(other.networks_of_service(SERVICE).unwrap(), vec![made]);
            assert_eq!(store.release_unkept(SERVICE, &|_| false).unwrap(), 2);
            assert_eq!(store.forget_vm_attributes(SERVICE, &|_| false).unwrap(), 1);
        }

        fn addresses_leased_by_two_connections_at_once_are_all_different(db) {
            const EACH: usize = 20;
            let network = db
                .open()
                .create_resource(
                    ResourceKind::Vnet,
                    "shared",
                    Ownership::default(),
                    attributes(serde_json::json!({
                        "AR": [{"TYPE": "IP4", "IP": "10.6.0.1", "SIZE": "64"}]
                    })),
                )
                .unwrap();
            let leased = db.on_two_connections(EACH, |store, connection, i| {
                let holder = format!("op-{connection}-{i}/NIC0");
                store.lease(network, &holder, None).unwrap().ip
            });
            let mut all = leased.concat();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), 2 * EACH);
            assert_eq!(db.open().leases(network).unwrap().len(), 2 * EACH);
        }
    }
}
