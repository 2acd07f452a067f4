//! VM templates and images: one table each, one shape for both.

use super::SqlStore;
use crate::database::{Database, params};
use anyhow::Context as _;
use serde_json::{Map, Value};

/// A resource that is a name, an owner and OpenNebula attributes: a VM
/// template (CPU, MEMORY, DISK, NIC, CONTEXT, …: what a role's VMs start
/// from) or an image (PATH, SIZE, TYPE, …: what a VM template's `DISK`
/// refers to by `IMAGE_ID`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resource {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub ownership: flotilla_core::permissions::Ownership,
    pub attributes: Map<String, Value>,
}

pub type VmTemplate = Resource;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    VmTemplate,
    Image,
    /// A virtual network: address ranges (`AR`) and settings (GATEWAY,
    /// DNS, …); its leases are in `Networks`.
    Vnet,
    /// A virtual network template, instantiated into a network.
    VnetTemplate,
}

impl ResourceKind {
    fn table(self) -> &'static str {
        match self {
            ResourceKind::VmTemplate => "vm_templates",
            ResourceKind::Image => "images",
            ResourceKind::Vnet => "vnets",
            ResourceKind::VnetTemplate => "vnet_templates",
        }
    }

    /// For messages: "VM template 3", "image 3".
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::VmTemplate => "VM template",
            ResourceKind::Image => "image",
            ResourceKind::Vnet => "virtual network",
            ResourceKind::VnetTemplate => "virtual network template",
        }
    }
}

/// VM templates and images, one shape for both.
pub trait Resources {
    fn create_vm_template(
        &self,
        name: &str,
        ownership: flotilla_core::permissions::Ownership,
        attributes: Map<String, Value>,
    ) -> anyhow::Result<u64>;

    fn vm_template(&self, id: u64) -> anyhow::Result<Option<VmTemplate>>;

    fn create_resource(
        &self,
        kind: ResourceKind,
        name: &str,
        ownership: flotilla_core::permissions::Ownership,
        attributes: Map<String, Value>,
    ) -> anyhow::Result<u64>;

    fn save_resource(&self, kind: ResourceKind, r: &Resource) -> anyhow::Result<()>;

    fn resources(&self, kind: ResourceKind) -> anyhow::Result<Vec<Resource>>;

    fn delete_resource(&self, kind: ResourceKind, id: u64) -> anyhow::Result<bool>;

    fn resource(&self, kind: ResourceKind, id: u64) -> anyhow::Result<Option<Resource>>;
}

impl<D: Database> Resources for SqlStore<D> {
    fn create_vm_template(
        &self,
        name: &str,
        ownership: flotilla_core::permissions::Ownership,
        attributes: Map<String, Value>,
    ) -> anyhow::Result<u64> {
        self.create_resource(ResourceKind::VmTemplate, name, ownership, attributes)
    }

    fn vm_template(&self, id: u64) -> anyhow::Result<Option<VmTemplate>> {
        self.resource(ResourceKind::VmTemplate, id)
    }

    fn create_resource(
        &self,
        kind: ResourceKind,
        name: &str,
        ownership: flotilla_core::permissions::Ownership,
        attributes: Map<String, Value>,
    ) -> anyhow::Result<u64> {
        self.in_transaction(|| {
            let id = self.next_id(kind.table())?;
            let r = Resource {
                id,
                name: name.to_string(),
                ownership,
                attributes,
            };
            self.save_resource(kind, &r)?;
            Ok(id)
        })
    }

    fn save_resource(&self, kind: ResourceKind, r: &Resource) -> anyhow::Result<()> {
        self.db.execute(
            &format!(
                "INSERT INTO {} (id, name, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, body = excluded.body",
                kind.table()
            ),
            params![r.id, r.name.as_str(), serde_json::to_string(r)?],
        )?;
        Ok(())
    }

    fn resources(&self, kind: ResourceKind) -> anyhow::Result<Vec<Resource>> {
        self.db
            .query_texts(
                &format!("SELECT body FROM {} ORDER BY id", kind.table()),
                params![],
            )?
            .iter()
            .map(|body| {
                serde_json::from_str(body)
                    .with_context(|| format!("a stored {} is not readable", kind.label()))
            })
            .collect()
    }

    fn delete_resource(&self, kind: ResourceKind, id: u64) -> anyhow::Result<bool> {
        Ok(self.db.execute(
            &format!("DELETE FROM {} WHERE id = ?1", kind.table()),
            params![id],
        )? > 0)
    }

    fn resource(&self, kind: ResourceKind, id: u64) -> anyhow::Result<Option<Resource>> {
        self.db
            .query_text(
                &format!("SELECT body FROM {} WHERE id = ?1", kind.table()),
                params![id],
            )?
            .map(|b| {
                serde_json::from_str(&b)
                    .with_context(|| format!("a stored {} is not readable", kind.label()))
            })
            .transpose()
    }
}
