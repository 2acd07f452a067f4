//! The store's networks as a network mode sees them: the calls of
//! `flotilla:network/registry` (get, reserve, instantiate, delete), with
//! their errors in the plugin contract's terms. The server hands them to
//! its network modes; the conformance suite runs a mode against them on an
//! in-memory store, so a mode is tested against the same rules it meets in
//! production.

use super::{MadeFor, NetworkError, Resource, ResourceKind, Store};
use flotilla_core::model::{KeyValue, PluginError, VnetInfo, VnetRange};
use flotilla_core::permissions::Ownership;

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
            .filter_map(|(k, v)| {
                Some(KeyValue::new(
                    k,
                    flotilla_core::service::inputs::as_text(v)?,
                ))
            })
            .collect(),
    })
}

pub fn get(store: &dyn Store, id: &str) -> Result<VnetInfo, PluginError> {
    let id = network_id(id)?;
    let net = store
        .resource(ResourceKind::Vnet, id)
        .map_err(|e| plugin_error(e.into()))?
        .ok_or_else(|| PluginError::NotFound(format!("virtual network {id} does not exist")))?;
    vnet_info(store, &net).map_err(plugin_error)
}

/// Reserve for a service's operation; what is made belongs to `owner`.
pub fn reserve(
    store: &dyn Store,
    owner: Ownership,
    (operation_id, service_id): (&str, u64),
    parent: &str,
    name: &str,
    size: u32,
) -> Result<VnetInfo, PluginError> {
    let made_for = MadeFor {
        service_id,
        operation_id,
    };
    let parent = network_id(parent)?;
    let net = store
        .reserve(parent, name, size, owner, Some(made_for))
        .map_err(plugin_error)?;
    vnet_info(store, &net).map_err(plugin_error)
}

/// Instantiate a network template for a service; `extra` is template text.
pub fn instantiate(
    store: &dyn Store,
    owner: Ownership,
    (operation_id, service_id): (&str, u64),
    template: &str,
    name: &str,
    extra: &str,
) -> Result<VnetInfo, PluginError> {
    let template: u64 = template.trim().parse().map_err(|_| {
        PluginError::NotFound(format!(
            "virtual network template `{template}` does not exist"
        ))
    })?;
    let extra = flotilla_core::service::attributes::template_contents(extra);
    let made_for = MadeFor {
        service_id,
        operation_id,
    };
    let net = store
        .instantiate_network(template, name, extra, owner, Some(made_for))
        .map_err(plugin_error)?;
    vnet_info(store, &net).map_err(plugin_error)
}

/// Delete a network made for a service; one already gone is not an error.
/// An operator's network is refused: a mode removes only what it made.
pub fn delete(store: &dyn Store, id: &str) -> Result<(), PluginError> {
    let id = network_id(id)?;
    let Some(net) = store
        .resource(ResourceKind::Vnet, id)
        .map_err(|e| plugin_error(e.into()))?
    else {
        return Ok(());
    };
    if !net.attributes.contains_key("SERVICE_ID") {
        return Err(PluginError::Denied(format!(
            "virtual network {id} was not made for a service; only an operator deletes it"
        )));
    }
    store.delete_network(id).map_err(plugin_error)?;
    Ok(())
}
