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

use super::{Resource, ResourceKind, Resources, SqliteStore};
use flotilla_core::network::{self, AddressRange};
use flotilla_core::permissions::Ownership;
use flotilla_core::service::FieldError;
use rusqlite::{OptionalExtension, params};
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

impl From<rusqlite::Error> for NetworkError {
    fn from(e: rusqlite::Error) -> Self {
        NetworkError::Storage(e.into())
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

impl SqliteStore {
    fn network(&self, id: u64) -> Result<Resource, NetworkError> {
        self.resource(ResourceKind::Vnet, id)?
            .ok_or_else(|| NetworkError::NotFound(format!("virtual network {id} does not exist")))
    }

    fn ranges(&self, vnet: &Resource) -> Result<Vec<AddressRange>, NetworkError> {
        network::parse_ranges(&vnet.attributes)
            .map_err(|e| NetworkError::Refused(format!("virtual network {}: {e}", vnet.id)))
    }

    fn leased(&self, vnet: u64) -> Result<BTreeSet<Ipv4Addr>, NetworkError> {
        let mut stmt = self
            .db
            .prepare_cached("SELECT ip FROM leases WHERE vnet_id = ?1")?;
        let ips = stmt.query_map(params![vnet as i64], |r| r.get::<_, String>(0))?;
        let mut out = BTreeSet::new();
        for ip in ips {
            if let Ok(ip) = ip?.parse() {
                out.insert(ip);
            }
        }
        Ok(out)
    }

    fn insert_lease(&self, lease: &Lease) -> Result<(), NetworkError> {
        self.db
            .prepare_cached(
                "INSERT INTO leases (vnet_id, ip, holder, service_id) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                lease.vnet_id as i64,
                lease.ip,
                lease.holder,
                lease.service_id.map(|s| s as i64)
            ])?;
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

impl Networks for SqliteStore {
    fn leases(&self, vnet: u64) -> Result<Vec<Lease>, NetworkError> {
        let mut stmt = self.db.prepare_cached(
            "SELECT ip, holder, service_id FROM leases WHERE vnet_id = ?1 ORDER BY ip",
        )?;
        let rows = stmt.query_map(params![vnet as i64], |r| {
            Ok(Lease {
                vnet_id: vnet,
                ip: r.get(0)?,
                holder: r.get(1)?,
                service_id: r.get::<_, Option<i64>>(2)?.map(|s| s as u64),
            })
        })?;
        let mut out: Vec<Lease> = rows.collect::<Result<_, _>>()?;
        // By address, not by text ("10.0.0.10" after "10.0.0.9").
        out.sort_by_key(|l| l.ip.parse::<Ipv4Addr>().ok());
        Ok(out)
    }

    fn leases_of(&self, holder: &str) -> Result<Vec<Lease>, NetworkError> {
        // `<holder>/` up to `<holder>0` (the next byte): a range of the
        // holder index.
        let mut stmt = self.db.prepare_cached(
            "SELECT vnet_id, ip, holder, service_id FROM leases
             WHERE holder > ?1 AND holder < ?2 ORDER BY holder",
        )?;
        let rows = stmt.query_map(params![format!("{holder}/"), format!("{holder}0")], |r| {
            Ok(Lease {
                vnet_id: r.get::<_, i64>(0)? as u64,
                ip: r.get(1)?,
                holder: r.get(2)?,
                service_id: r.get::<_, Option<i64>>(3)?.map(|s| s as u64),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn leases_of_service(&self, service_id: u64) -> Result<Vec<Lease>, NetworkError> {
        let mut stmt = self.db.prepare_cached(
            "SELECT vnet_id, ip, holder FROM leases WHERE service_id = ?1 ORDER BY holder",
        )?;
        let rows = stmt.query_map(params![service_id as i64], |r| {
            Ok(Lease {
                vnet_id: r.get::<_, i64>(0)? as u64,
                ip: r.get(1)?,
                holder: r.get(2)?,
                service_id: Some(service_id),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn lease(
        &self,
        vnet: u64,
        holder: &str,
        service_id: Option<u64>,
    ) -> Result<Lease, NetworkError> {
        self.in_transaction(|| {
            let held: Option<String> = self
                .db
                .prepare_cached("SELECT ip FROM leases WHERE vnet_id = ?1 AND holder = ?2")?
                .query_row(params![vnet as i64, holder], |r| r.get(0))
                .optional()?;
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
        let holders: Vec<String> = self
            .db
            .prepare_cached("SELECT DISTINCT holder FROM leases WHERE service_id = ?1")?
            .query_map(params![service_id as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut released = 0;
        for holder in holders.iter().filter(|h| !keep(h)) {
            released += self
                .db
                .prepare_cached("DELETE FROM leases WHERE service_id = ?1 AND holder = ?2")?
                .execute(params![service_id as i64, holder])?;
        }
        Ok(released)
    }

    fn services_with_networks(&self) -> Result<BTreeSet<u64>, NetworkError> {
        let mut out = BTreeSet::new();
        for sql in [
            "SELECT DISTINCT service_id FROM leases WHERE service_id IS NOT NULL",
            "SELECT DISTINCT CAST(json_extract(body, '$.attributes.SERVICE_ID') AS INTEGER)
                FROM vnets WHERE json_extract(body, '$.attributes.SERVICE_ID') IS NOT NULL",
            "SELECT DISTINCT service_id FROM vrouters",
            "SELECT DISTINCT service_id FROM vm_attributes",
        ] {
            let mut stmt = self.db.prepare_cached(sql)?;
            for id in stmt.query_map([], |r| r.get::<_, i64>(0))? {
                out.insert(id? as u64);
            }
        }
        Ok(out)
    }

    fn networks_of_service(&self, service_id: u64) -> Result<Vec<Resource>, NetworkError> {
        let bodies: Vec<String> = self
            .db
            .prepare_cached(
                "SELECT body FROM vnets
                 WHERE json_extract(body, '$.attributes.SERVICE_ID') = ?1 ORDER BY id",
            )?
            .query_map(params![service_id.to_string()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        bodies
            .iter()
            .map(|b| Ok(serde_json::from_str(b)?))
            .collect()
    }

    fn network_made_by(&self, operation_id: &str) -> Result<Option<Resource>, NetworkError> {
        let body: Option<String> = self
            .db
            .prepare_cached(
                "SELECT body FROM vnets WHERE json_extract(body, '$.attributes.OPERATION_ID') = ?1",
            )?
            .query_row(params![operation_id], |r| r.get(0))
            .optional()?;
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
            self.db
                .prepare_cached("DELETE FROM leases WHERE vnet_id = ?1 OR holder = ?2")?
                .execute(params![id as i64, format!("vnet-{id}")])?;
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
            let existing: Option<String> = self
                .db
                .prepare_cached("SELECT body FROM vrouters WHERE service_id = ?1 AND role = ?2")?
                .query_row(params![service_id as i64, role], |r| r.get(0))
                .optional()?;
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
            self.db
                .prepare_cached(
                    "INSERT INTO vrouters (id, service_id, role, body) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    id as i64,
                    service_id as i64,
                    role,
                    serde_json::to_string(&vrouter)?
                ])?;
            Ok(vrouter)
        })
    }

    fn delete_vrouters(&self, service_id: u64) -> Result<usize, NetworkError> {
        self.in_transaction(|| {
            let ids: Vec<i64> = self
                .db
                .prepare_cached("SELECT id FROM vrouters WHERE service_id = ?1")?
                .query_map(params![service_id as i64], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for id in &ids {
                self.db
                    .prepare_cached("DELETE FROM leases WHERE holder LIKE ?1")?
                    .execute(params![format!("vrouter-{id}/%")])?;
            }
            self.db
                .prepare_cached("DELETE FROM vrouters WHERE service_id = ?1")?
                .execute(params![service_id as i64])?;
            Ok(ids.len())
        })
    }
}
