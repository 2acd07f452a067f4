//! `flotilla:network/registry`: what a network mode may do to Flotilla's
//! own virtual networks. The host crate knows nothing of the store; the
//! server hands a [`NetworkRegistry`] to the [`crate::PluginHost`], and
//! every network-mode instance reaches it through its store.

use crate::bindings::network::flotilla::network::registry as wit;
use crate::bindings::types as wit_types;
use crate::state::PluginState;
use flotilla_model::{PluginError, VnetInfo};
use std::sync::{Arc, RwLock};

/// The server's virtual networks, as network modes may use them. Calls
/// block (they run on the plugin call's thread) and must be quick.
pub trait NetworkRegistry: Send + Sync + 'static {
    fn get(&self, id: &str) -> Result<VnetInfo, PluginError>;

    /// Idempotent on `operation_id`.
    fn reserve(
        &self,
        operation_id: &str,
        service_id: u64,
        parent: &str,
        name: &str,
        size: u32,
    ) -> Result<VnetInfo, PluginError>;

    /// Idempotent on `operation_id`.
    fn instantiate(
        &self,
        operation_id: &str,
        service_id: u64,
        template: &str,
        name: &str,
        extra: &str,
    ) -> Result<VnetInfo, PluginError>;

    /// Only networks made for a service; one already gone is not an error.
    fn delete(&self, id: &str) -> Result<(), PluginError>;
}

/// What one network-mode call is for.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub service_id: u64,
    /// The operation a deploy may make a network under.
    pub operation_id: Option<String>,
    /// The network an undeploy may delete.
    pub network: Option<String>,
}

/// The registry a host hands to its network modes, set once the server
/// has its store (plugins load before it).
#[derive(Default)]
pub struct RegistrySlot(RwLock<Option<Arc<dyn NetworkRegistry>>>);

impl std::fmt::Debug for RegistrySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistrySlot")
    }
}

impl RegistrySlot {
    pub fn set(&self, registry: Arc<dyn NetworkRegistry>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(registry);
    }

    pub fn get(&self) -> Option<Arc<dyn NetworkRegistry>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl PluginState {
    /// A registry call that makes a network must be for the request the
    /// mode is serving.
    fn in_scope(&self, operation_id: &str, service_id: u64) -> Result<(), wit_types::Error> {
        match &self.network_scope {
            Some(s)
                if s.service_id == service_id
                    && s.operation_id.as_deref() == Some(operation_id) =>
            {
                Ok(())
            }
            _ => Err(wit_types::Error::Denied(format!(
                "operation `{operation_id}` of service {service_id} is not the request this call serves"
            ))),
        }
    }

    fn registry(&self) -> Result<Arc<dyn NetworkRegistry>, wit_types::Error> {
        self.terms().networks.get().ok_or_else(|| {
            wit_types::Error::Unsupported("this host keeps no virtual networks".into())
        })
    }
}

type Answer<T> = Result<T, wit_types::Error>;

impl wit::Host for PluginState {
    fn get(&mut self, id: String) -> Answer<wit::Vnet> {
        let r = self.registry()?;
        r.get(&id).map(Into::into).map_err(Into::into)
    }

    fn reserve(
        &mut self,
        operation_id: String,
        service_id: u64,
        parent: String,
        name: String,
        size: u32,
    ) -> Answer<wit::Vnet> {
        self.in_scope(&operation_id, service_id)?;
        let r = self.registry()?;
        r.reserve(&operation_id, service_id, &parent, &name, size)
            .map(Into::into)
            .map_err(Into::into)
    }

    fn instantiate(
        &mut self,
        operation_id: String,
        service_id: u64,
        template: String,
        name: String,
        extra: String,
    ) -> Answer<wit::Vnet> {
        self.in_scope(&operation_id, service_id)?;
        let r = self.registry()?;
        r.instantiate(&operation_id, service_id, &template, &name, &extra)
            .map(Into::into)
            .map_err(Into::into)
    }

    fn delete(&mut self, id: String) -> Answer<()> {
        let named = self
            .network_scope
            .as_ref()
            .and_then(|s| s.network.as_deref())
            == Some(id.as_str());
        if !named {
            return Err(wit_types::Error::Denied(format!(
                "network `{id}` is not the one this undeploy names"
            )));
        }
        let r = self.registry()?;
        r.delete(&id).map_err(Into::into)
    }
}
