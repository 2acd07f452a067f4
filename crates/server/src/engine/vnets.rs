//! Flotilla's virtual networks as network modes see them (the host side
//! of `flotilla:network/registry`), and the sweeps that give addresses
//! back: a VM that left its service, a service that is gone.

use super::*;
use crate::plugin::{KeyValue, NetworkRegistry, PluginError, VnetInfo, VnetRange};
use crate::store::{MadeFor, NetworkError, Resource, ResourceKind};

/// The registry network modes call, over the engine's store.
/// It holds the engine weakly: the engine holds the plugins that hold it.
pub struct StoreRegistry {
    engine: std::sync::Weak<Inner>,
}

impl StoreRegistry {
    pub fn new(engine: &Engine) -> StoreRegistry {
        StoreRegistry {
            engine: Arc::downgrade(&engine.inner),
        }
    }

    fn with_store<T>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let inner = self
            .engine
            .upgrade()
            .ok_or_else(|| PluginError::Unavailable("the server is stopping".into()))?;
        let store = inner.store.lock();
        f(&*store)
    }
}

fn plugin_error(e: NetworkError) -> PluginError {
    match e {
        NetworkError::NotFound(m) => PluginError::NotFound(m),
        NetworkError::Refused(m) => PluginError::Denied(m),
        NetworkError::Storage(e) => PluginError::Unavailable(format!("the host's store: {e:#}")),
    }
}

fn network_id(id: &str) -> Result<u64, PluginError> {
    id.trim()
        .parse()
        .map_err(|_| PluginError::NotFound(format!("virtual network `{id}` does not exist")))
}

/// A stored network as a mode sees it.
pub fn vnet_info(store: &dyn Store, net: &Resource) -> Result<VnetInfo, NetworkError> {
    let ranges = flotilla_core::network::parse_ranges(&net.attributes).unwrap_or_default();
    let leased = store.leases(net.id)?.len() as u32;
    Ok(VnetInfo {
        id: net.id.to_string(),
        name: net.name.clone(),
        ranges: ranges
            .iter()
            .map(|r| VnetRange {
                ip: r.ip.to_string(),
                size: r.size,
            })
            .collect(),
        leased,
        attributes: net
            .attributes
            .iter()
            .filter(|(k, _)| k.as_str() != "AR")
            .filter_map(|(k, v)| Some(KeyValue::new(k, crate::service::inputs::as_text(v)?)))
            .collect(),
    })
}

impl NetworkRegistry for StoreRegistry {
    fn get(&self, id: &str) -> Result<VnetInfo, PluginError> {
        let id = network_id(id)?;
        self.with_store(|store| {
            let net = store
                .resource(ResourceKind::Vnet, id)
                .map_err(|e| plugin_error(e.into()))?
                .ok_or_else(|| {
                    PluginError::NotFound(format!("virtual network {id} does not exist"))
                })?;
            vnet_info(store, &net).map_err(plugin_error)
        })
    }

    fn reserve(
        &self,
        operation_id: &str,
        service_id: u64,
        parent: &str,
        name: &str,
        size: u32,
    ) -> Result<VnetInfo, PluginError> {
        let parent = network_id(parent)?;
        self.with_store(|store| {
            let owner = service_owner(store, service_id)?;
            let made_for = MadeFor {
                service_id,
                operation_id,
            };
            let net = store
                .reserve(parent, name, size, owner, Some(made_for))
                .map_err(plugin_error)?;
            vnet_info(store, &net).map_err(plugin_error)
        })
    }

    fn instantiate(
        &self,
        operation_id: &str,
        service_id: u64,
        template: &str,
        name: &str,
        extra: &str,
    ) -> Result<VnetInfo, PluginError> {
        let template: u64 = template.trim().parse().map_err(|_| {
            PluginError::NotFound(format!(
                "virtual network template `{template}` does not exist"
            ))
        })?;
        let extra = crate::service::attributes::template_contents(extra);
        self.with_store(|store| {
            let owner = service_owner(store, service_id)?;
            let made_for = MadeFor {
                service_id,
                operation_id,
            };
            let net = store
                .instantiate_network(template, name, extra, owner, Some(made_for))
                .map_err(plugin_error)?;
            vnet_info(store, &net).map_err(plugin_error)
        })
    }

    fn delete(&self, id: &str) -> Result<(), PluginError> {
        let id = network_id(id)?;
        self.with_store(|store| {
            let Some(net) = store
                .resource(ResourceKind::Vnet, id)
                .map_err(|e| plugin_error(e.into()))?
            else {
                return Ok(());
            };
            // A mode removes what it made for a service, never an
            // operator's network.
            if !net.attributes.contains_key("SERVICE_ID") {
                return Err(PluginError::Denied(format!(
                    "virtual network {id} was not made for a service; only an operator deletes it"
                )));
            }
            store.delete_network(id).map_err(plugin_error)?;
            Ok(())
        })
    }
}

/// The owner of what is made for a service: the service's.
fn service_owner(
    store: &dyn Store,
    service_id: u64,
) -> Result<crate::access::Ownership, PluginError> {
    store
        .service(service_id)
        .map_err(|e| plugin_error(e.into()))?
        .map(|s| s.ownership)
        .ok_or_else(|| PluginError::NotFound(format!("service {service_id} does not exist")))
}

impl Engine {
    /// Give back what a service holds for VMs and routers it no longer
    /// has; everything it holds once it is deleted.
    pub(super) fn release_leases(&self, service: &Service) -> Result<(), EngineError> {
        if service.deleted {
            if let Some(onegate) = self.onegate() {
                onegate.forget(service.id, &|_| false);
            }
            forget_service(&*self.store(), service.id)?;
            return Ok(());
        }
        let store = self.store();
        let live: std::collections::HashSet<&str> = service
            .roles
            .iter()
            .flat_map(|r| r.nodes.iter().map(|n| n.operation_id.as_str()))
            .collect();
        let routers: Vec<String> = service
            .roles
            .iter()
            .filter_map(|r| r.vrouter.as_ref())
            .map(|v| format!("vrouter-{}", v.id))
            .collect();
        let keep = |holder: &str| {
            let owner = holder.split('/').next().unwrap_or(holder);
            live.contains(owner) || routers.iter().any(|r| r == owner) || owner.starts_with("vnet-")
        };
        let released = store.release_unkept(service.id, &keep).map_err(storage)?;
        if released > 0 {
            tracing::debug!(service = service.id, released, "addresses given back");
        }
        store
            .forget_vm_attributes(service.id, &|op| live.contains(op))
            .map_err(|e| EngineError::Storage(format!("{e:#}")))?;
        if let Some(onegate) = self.onegate() {
            onegate.forget(service.id, &|op| live.contains(op));
        }
        Ok(())
    }

    /// Networks, addresses, routers and reports of services that are gone
    /// (deleted by a recover `--delete`, or while the server was down
    /// mid-way): nothing a service made outlives it.
    pub(super) fn sweep_gone_services(&self) -> Result<usize, EngineError> {
        // What holds something first, then the services: a service created
        // in between has made nothing yet.
        let holding = self.store().services_with_networks().map_err(storage)?;
        if holding.is_empty() {
            return Ok(0);
        }
        let live: std::collections::BTreeSet<u64> = self.service_ids()?.into_iter().collect();
        let mut swept = 0;
        for id in holding.difference(&live) {
            if let Some(onegate) = self.onegate() {
                onegate.forget(*id, &|_| false);
            }
            forget_service(&*self.store(), *id)?;
            tracing::info!(
                service = id,
                "released the networks of a service that is gone"
            );
            swept += 1;
        }
        Ok(swept)
    }
}

fn storage(e: NetworkError) -> EngineError {
    EngineError::Storage(e.to_string())
}

fn forget_service(store: &dyn Store, id: u64) -> Result<(), EngineError> {
    store.atomically(|| -> Result<(), EngineError> {
        for net in store.networks_of_service(id).map_err(storage)? {
            store.delete_network(net.id).map_err(storage)?;
        }
        store.delete_vrouters(id).map_err(storage)?;
        store.release_unkept(id, &|_| false).map_err(storage)?;
        store
            .forget_vm_attributes(id, &|_| false)
            .map_err(|e| EngineError::Storage(format!("{e:#}")))?;
        Ok(())
    })
}
