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

/// The registry a host hands to its network modes, set once the server
/// has its store (plugins load before it).
#[derive(Default)]
pub struct RegistrySlot(RwLock<Option<Arc<dyn NetworkRegistry>>>);

impl RegistrySlot {
    pub fn set(&self, registry: Arc<dyn NetworkRegistry>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(registry);
    }

    pub fn get(&self) -> Option<Arc<dyn NetworkRegistry>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn to_wit_error(e: PluginError) -> wit_types::Error {
    match e {
        PluginError::InvalidInput(m) => wit_types::Error::InvalidInput(m),
        PluginError::NotFound(m) => wit_types::Error::NotFound(m),
        PluginError::Unsupported(m) => wit_types::Error::Unsupported(m),
        PluginError::Unavailable(m) => wit_types::Error::Unavailable(m),
        PluginError::Denied(m) => wit_types::Error::Denied(m),
        PluginError::Other(m) => wit_types::Error::Other(m),
    }
}

fn to_wit(v: VnetInfo) -> wit::Vnet {
    wit::Vnet {
        id: v.id,
        name: v.name,
        ranges: v
            .ranges
            .into_iter()
            .map(|r| wit::AddressRange {
                ip: r.ip,
                size: r.size,
            })
            .collect(),
        leased: v.leased,
        attributes: v.attributes.iter().map(Into::into).collect(),
    }
}

impl PluginState {
    fn registry(&self) -> Result<Arc<dyn NetworkRegistry>, wit_types::Error> {
        self.networks.get().ok_or_else(|| {
            wit_types::Error::Unsupported("this host keeps no virtual networks".into())
        })
    }
}

type Answer<T> = Result<T, wit_types::Error>;

impl wit::Host for PluginState {
    fn get(&mut self, id: String) -> Answer<wit::Vnet> {
        let r = self.registry()?;
        r.get(&id).map(to_wit).map_err(to_wit_error)
    }

    fn reserve(
        &mut self,
        operation_id: String,
        service_id: u64,
        parent: String,
        name: String,
        size: u32,
    ) -> Answer<wit::Vnet> {
        let r = self.registry()?;
        r.reserve(&operation_id, service_id, &parent, &name, size)
            .map(to_wit)
            .map_err(to_wit_error)
    }

    fn instantiate(
        &mut self,
        operation_id: String,
        service_id: u64,
        template: String,
        name: String,
        extra: String,
    ) -> Answer<wit::Vnet> {
        let r = self.registry()?;
        r.instantiate(&operation_id, service_id, &template, &name, &extra)
            .map(to_wit)
            .map_err(to_wit_error)
    }

    fn delete(&mut self, id: String) -> Answer<()> {
        let r = self.registry()?;
        r.delete(&id).map_err(to_wit_error)
    }
}
