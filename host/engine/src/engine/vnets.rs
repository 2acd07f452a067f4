//! Flotilla's virtual networks as network modes see them (the host side
//! of `flotilla:network/registry`), and the sweeps that give addresses
//! back: a VM that left its service, a service that is gone.

use super::*;
use crate::plugin::{NetworkRegistry, PluginError, VnetInfo};
use crate::store::{NetworkError, ResourceKind, registry};

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

impl NetworkRegistry for StoreRegistry {
    fn get(&self, id: &str) -> Result<VnetInfo, PluginError> {
        self.with_store(|store| registry::get(store, id))
    }

    fn reserve(
        &self,
        operation_id: &str,
        service_id: u64,
        parent: &str,
        name: &str,
        size: u32,
    ) -> Result<VnetInfo, PluginError> {
        self.with_store(|store| {
            let owner = service_owner(store, service_id)?;
            may_use(store, &owner, ResourceKind::Vnet, parent)?;
            registry::reserve(store, owner, (operation_id, service_id), parent, name, size)
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
        self.with_store(|store| {
            let owner = service_owner(store, service_id)?;
            may_use(store, &owner, ResourceKind::VnetTemplate, template)?;
            registry::instantiate(
                store,
                owner,
                (operation_id, service_id),
                template,
                name,
                extra,
            )
        })
    }

    fn delete(&self, id: &str) -> Result<(), PluginError> {
        self.with_store(|store| registry::delete(store, id))
    }
}

/// The identity of whoever owns `ownership`, for its rights on others.
pub(super) fn owner_identity(
    ownership: &crate::permissions::Ownership,
) -> crate::permissions::Identity {
    crate::permissions::Identity {
        uid: ownership.uid,
        name: String::new(),
        gid: ownership.gid,
        admin: ownership.gid == crate::permissions::ADMIN_GROUP,
    }
}

/// A service reserves from, or instantiates, only what its owner may use.
fn may_use(
    store: &dyn Store,
    owner: &crate::permissions::Ownership,
    kind: ResourceKind,
    id: &str,
) -> Result<(), PluginError> {
    let Ok(id) = id.trim().parse::<u64>() else {
        return Ok(()); // the registry call names it not found
    };
    let Some(r) = store
        .resource(kind, id)
        .map_err(|e| PluginError::Unavailable(format!("the host's store: {e:#}")))?
    else {
        return Ok(());
    };
    if owner_identity(owner).may(crate::permissions::Right::Use, &r.ownership) {
        Ok(())
    } else {
        Err(PluginError::Denied(format!(
            "the service's owner may not use {} {id}",
            kind.label()
        )))
    }
}

/// The owner of what is made for a service: the service's.
fn service_owner(
    store: &dyn Store,
    service_id: u64,
) -> Result<crate::permissions::Ownership, PluginError> {
    store
        .service(service_id)
        .map_err(|e| PluginError::Unavailable(format!("the host's store: {e:#}")))?
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

/// Whether a VM of `before` is no longer in `after`: only then may
/// something it held be given back (most rounds change states, not nodes).
pub(super) fn a_node_left(before: &Service, after: &Service) -> bool {
    let now: std::collections::HashSet<&str> = after
        .roles
        .iter()
        .flat_map(|r| r.nodes.iter().map(|n| n.operation_id.as_str()))
        .collect();
    before
        .roles
        .iter()
        .flat_map(|r| &r.nodes)
        .any(|n| !now.contains(n.operation_id.as_str()))
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
