//! Services and VM templates in SQLite (WAL). A small interface, so that
//! another backend can replace it.

use crate::service::lifecycle::Service;
use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A resource that is a name, an owner and OpenNebula attributes: a VM
/// template (CPU, MEMORY, DISK, NIC, CONTEXT, …: what a role's VMs start
/// from) or an image (PATH, SIZE, TYPE, …: what a VM template's `DISK`
/// refers to by `IMAGE_ID`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resource {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub ownership: crate::access::Ownership,
    pub attributes: Map<String, Value>,
}

pub type VmTemplate = Resource;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    VmTemplate,
    Image,
}

impl ResourceKind {
    fn table(self) -> &'static str {
        match self {
            ResourceKind::VmTemplate => "vm_templates",
            ResourceKind::Image => "images",
        }
    }

    /// For messages: "VM template 3", "image 3".
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::VmTemplate => "VM template",
            ResourceKind::Image => "image",
        }
    }
}

/// A stored service template: the validated template document and who
/// owns it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServiceTemplateDoc {
    pub id: u64,
    pub name: String,
    pub ownership: crate::access::Ownership,
    /// Seconds since the epoch.
    pub registration_time: u64,
    pub body: Value,
}

/// The database, with write-through caches of what every API request
/// reads: services (parsed once, not per request) and user and group
/// names. Writes through this connection update the caches; a commit by
/// any other connection (another process, a test looking on) changes
/// SQLite's `data_version`, and the caches are dropped before the next read.
pub struct Store {
    db: Connection,
    services: RefCell<HashMap<u64, Arc<Service>>>,
    names: RefCell<HashMap<(&'static str, u64), String>>,
    data_version: Cell<i64>,
}

impl Store {
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        Store::init(db)
    }

    pub fn in_memory() -> anyhow::Result<Store> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(db: Connection) -> anyhow::Result<Store> {
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS services (
                id INTEGER PRIMARY KEY,
                state INTEGER NOT NULL,
                body TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS vm_templates (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                body TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS images (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                body TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS service_templates (
                id INTEGER PRIMARY KEY,
                body TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS sequences (
                name TEXT PRIMARY KEY,
                next INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS groups (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE
            );
            CREATE TABLE IF NOT EXISTS users (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                password_hash TEXT NOT NULL,
                gid INTEGER NOT NULL REFERENCES groups(id)
            );",
        )?;
        Ok(Store {
            db,
            services: RefCell::default(),
            names: RefCell::default(),
            data_version: Cell::new(-1),
        })
    }

    /// The connection, for the modules that own their own tables
    /// (`access::users`).
    pub(crate) fn db(&self) -> &Connection {
        &self.db
    }

    /// Run `f` in one SQLite transaction: all of its writes or none (a
    /// recursive clone or delete must not stop half-way).
    pub fn atomically<T, E: From<anyhow::Error>>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.db
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| E::from(e.into()))?;
        match f() {
            Ok(value) => {
                self.db
                    .execute_batch("COMMIT")
                    .map_err(|e| E::from(e.into()))?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.db.execute_batch("ROLLBACK");
                // A service written in the transaction is gone again.
                self.services.borrow_mut().clear();
                Err(e)
            }
        }
    }

    /// The next id of a table. Ids are never reused, as in OpenNebula: a
    /// new user must not inherit what a deleted one owned, nor a service
    /// template point at a VM template that replaced a deleted one.
    pub(crate) fn next_id(&self, table: &str) -> anyhow::Result<u64> {
        let max: Option<i64> =
            self.db
                .query_row(&format!("SELECT MAX(id) FROM {table}"), [], |r| r.get(0))?;
        let issued: Option<i64> = self
            .db
            .prepare_cached("SELECT next FROM sequences WHERE name = ?1")?
            .query_row(params![table], |r| r.get(0))
            .optional()?;
        let next = max.map_or(0, |m| m + 1).max(issued.unwrap_or(0));
        self.db
            .prepare_cached("INSERT OR REPLACE INTO sequences (name, next) VALUES (?1, ?2)")?
            .execute(params![table, next + 1])?;
        Ok(next as u64)
    }

    pub fn next_service_id(&self) -> anyhow::Result<u64> {
        self.next_id("services")
    }

    /// Write a service; called before the effects of a transition run.
    pub fn save_service(&self, service: &Service) -> anyhow::Result<()> {
        let body = serde_json::to_string(service)?;
        self.db
            .prepare_cached(
                "INSERT OR REPLACE INTO services (id, state, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![service.id as i64, service.state.number(), body])?;
        self.services
            .borrow_mut()
            .insert(service.id, Arc::new(service.clone()));
        Ok(())
    }

    pub fn delete_service(&self, id: u64) -> anyhow::Result<()> {
        self.db
            .execute("DELETE FROM services WHERE id = ?1", params![id as i64])?;
        self.services.borrow_mut().remove(&id);
        Ok(())
    }

    pub fn service(&self, id: u64) -> anyhow::Result<Option<Service>> {
        Ok(self.shared_service(id)?.map(|s| (*s).clone()))
    }

    /// Drop the caches if another connection committed since the last look.
    fn drop_stale_caches(&self) {
        let version = self
            .db
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut stmt| stmt.query_row([], |r| r.get::<_, i64>(0)))
            .unwrap_or(-1);
        if version != self.data_version.get() || version == -1 {
            self.services.borrow_mut().clear();
            self.names.borrow_mut().clear();
            self.data_version.set(version);
        }
    }

    /// A service to read, not to change: no copy is made, so the store's
    /// lock is held for as short a time as possible.
    pub fn shared_service(&self, id: u64) -> anyhow::Result<Option<Arc<Service>>> {
        self.drop_stale_caches();
        if let Some(service) = self.services.borrow().get(&id) {
            return Ok(Some(service.clone()));
        }
        let body: Option<String> = self
            .db
            .prepare_cached("SELECT body FROM services WHERE id = ?1")?
            .query_row(params![id as i64], |r| r.get(0))
            .optional()?;
        let service: Option<Arc<Service>> = body
            .map(|b| serde_json::from_str(&b).context("a stored service is not readable"))
            .transpose()?
            .map(Arc::new);
        if let Some(service) = &service {
            self.services.borrow_mut().insert(id, service.clone());
        }
        Ok(service)
    }

    /// Every service, in one query.
    /// Every service, shared: from the cache, parsing only those not in
    /// it yet.
    pub fn services(&self) -> anyhow::Result<Vec<Arc<Service>>> {
        let mut out = Vec::new();
        for id in self.service_ids()? {
            // A service deleted between the two reads is simply not listed.
            out.extend(self.shared_service(id)?);
        }
        Ok(out)
    }

    pub fn service_ids(&self) -> anyhow::Result<Vec<u64>> {
        let mut stmt = self.db.prepare("SELECT id FROM services ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        Ok(ids
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|i| i as u64)
            .collect())
    }

    pub fn next_service_template_id(&self) -> anyhow::Result<u64> {
        self.next_id("service_templates")
    }

    pub fn save_service_template(&self, doc: &ServiceTemplateDoc) -> anyhow::Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO service_templates (id, body) VALUES (?1, ?2)",
            params![doc.id as i64, serde_json::to_string(doc)?],
        )?;
        Ok(())
    }

    pub fn service_template(&self, id: u64) -> anyhow::Result<Option<ServiceTemplateDoc>> {
        let body: Option<String> = self
            .db
            .query_row(
                "SELECT body FROM service_templates WHERE id = ?1",
                params![id as i64],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| serde_json::from_str(&b).context("a stored service template is not readable"))
            .transpose()
    }

    pub fn service_templates(&self) -> anyhow::Result<Vec<ServiceTemplateDoc>> {
        let mut stmt = self
            .db
            .prepare("SELECT body FROM service_templates ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(
                serde_json::from_str(&body?)
                    .context("a stored service template is not readable")?,
            );
        }
        Ok(out)
    }

    pub fn delete_service_template(&self, id: u64) -> anyhow::Result<bool> {
        Ok(self.db.execute(
            "DELETE FROM service_templates WHERE id = ?1",
            params![id as i64],
        )? > 0)
    }

    /// Names of groups and owners, for documents (`GNAME`, `UNAME`); the id
    /// when there is no such user or group (any more).
    pub fn group_name(&self, gid: u64) -> String {
        self.drop_stale_caches();
        self.name("groups", gid)
    }

    /// The owner's and the group's names, with one freshness check.
    pub fn owner_names(&self, ownership: &crate::access::Ownership) -> (String, String) {
        self.drop_stale_caches();
        (
            self.name("users", ownership.uid),
            self.name("groups", ownership.gid),
        )
    }

    fn name(&self, table: &'static str, id: u64) -> String {
        if let Some(name) = self.names.borrow().get(&(table, id)) {
            return name.clone();
        }
        let name: Option<String> = self
            .db
            .prepare_cached(&format!("SELECT name FROM {table} WHERE id = ?1"))
            .and_then(|mut stmt| stmt.query_row(params![id as i64], |r| r.get(0)))
            .ok();
        match name {
            Some(name) => {
                self.names.borrow_mut().insert((table, id), name.clone());
                name
            }
            None => id.to_string(),
        }
    }

    /// After a user or group is deleted (ids are not reused, so a name
    /// never changes otherwise).
    pub(crate) fn forget_names(&self) {
        self.names.borrow_mut().clear();
    }

    pub fn create_vm_template(
        &self,
        name: &str,
        ownership: crate::access::Ownership,
        attributes: Map<String, Value>,
    ) -> anyhow::Result<u64> {
        self.create_resource(ResourceKind::VmTemplate, name, ownership, attributes)
    }

    pub fn vm_template(&self, id: u64) -> anyhow::Result<Option<VmTemplate>> {
        self.resource(ResourceKind::VmTemplate, id)
    }

    pub fn create_resource(
        &self,
        kind: ResourceKind,
        name: &str,
        ownership: crate::access::Ownership,
        attributes: Map<String, Value>,
    ) -> anyhow::Result<u64> {
        let id = self.next_id(kind.table())?;
        let r = Resource {
            id,
            name: name.to_string(),
            ownership,
            attributes,
        };
        self.save_resource(kind, &r)?;
        Ok(id)
    }

    pub fn save_resource(&self, kind: ResourceKind, r: &Resource) -> anyhow::Result<()> {
        self.db
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO {} (id, name, body) VALUES (?1, ?2, ?3)",
                kind.table()
            ))?
            .execute(params![r.id as i64, r.name, serde_json::to_string(r)?])?;
        Ok(())
    }

    pub fn resources(&self, kind: ResourceKind) -> anyhow::Result<Vec<Resource>> {
        let mut stmt = self
            .db
            .prepare(&format!("SELECT body FROM {} ORDER BY id", kind.table()))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(
                serde_json::from_str(&body?)
                    .with_context(|| format!("a stored {} is not readable", kind.label()))?,
            );
        }
        Ok(out)
    }

    pub fn delete_resource(&self, kind: ResourceKind, id: u64) -> anyhow::Result<bool> {
        Ok(self.db.execute(
            &format!("DELETE FROM {} WHERE id = ?1", kind.table()),
            params![id as i64],
        )? > 0)
    }

    pub fn resource(&self, kind: ResourceKind, id: u64) -> anyhow::Result<Option<Resource>> {
        let body: Option<String> = self
            .db
            .prepare_cached(&format!("SELECT body FROM {} WHERE id = ?1", kind.table()))?
            .query_row(params![id as i64], |r| r.get(0))
            .optional()?;
        body.map(|b| {
            serde_json::from_str(&b)
                .with_context(|| format!("a stored {} is not readable", kind.label()))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_service_is_dropped_when_another_connection_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flotilla.db");
        let writer = Store::open(&path).unwrap();
        let reader = Store::open(&path).unwrap();
        let template = crate::service::parse_template(&serde_json::json!({
            "name": "s", "roles": [{"name": "r", "type": "vm", "template_id": 0}]
        }))
        .unwrap();
        let mut service = Service::new(0, template, 0, 1000);
        writer.save_service(&service).unwrap();
        assert_eq!(reader.service(0).unwrap().unwrap().name, "s");
        service.name = "renamed".into();
        writer.save_service(&service).unwrap();
        assert_eq!(reader.service(0).unwrap().unwrap().name, "renamed");
        assert_eq!(writer.service(0).unwrap().unwrap().name, "renamed");
    }

    #[test]
    fn a_failed_transaction_leaves_nothing_behind() {
        let store = Store::in_memory().unwrap();
        let owner = crate::access::Ownership::default();
        let result: anyhow::Result<()> = store.atomically(|| {
            store.create_resource(ResourceKind::Image, "a", owner.clone(), Map::new())?;
            anyhow::bail!("the second step failed")
        });
        assert!(result.is_err());
        assert!(store.resources(ResourceKind::Image).unwrap().is_empty());
        store
            .atomically(|| store.create_resource(ResourceKind::Image, "b", owner, Map::new()))
            .unwrap();
        assert_eq!(store.resources(ResourceKind::Image).unwrap().len(), 1);
    }
}
