//! Services and VM templates in SQLite (WAL). A small interface, so that
//! another backend can replace it.

use crate::service::lifecycle::Service;
use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};
use std::path::Path;

/// A VM template: the attributes (CPU, MEMORY, DISK, NIC, CONTEXT, …) a
/// role's VMs start from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VmTemplate {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub ownership: crate::access::Ownership,
    pub attributes: Map<String, Value>,
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

pub struct Store {
    db: Connection,
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
            CREATE TABLE IF NOT EXISTS service_templates (
                id INTEGER PRIMARY KEY,
                body TEXT NOT NULL
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
        Ok(Store { db })
    }

    /// The connection, for the modules that own their own tables
    /// (`access::users`).
    pub(crate) fn db(&self) -> &Connection {
        &self.db
    }

    pub fn next_service_id(&self) -> anyhow::Result<u64> {
        let max: Option<i64> = self
            .db
            .query_row("SELECT MAX(id) FROM services", [], |r| r.get(0))?;
        Ok(max.map_or(0, |m| m as u64 + 1))
    }

    /// Write a service; called before the effects of a transition run.
    pub fn save_service(&self, service: &Service) -> anyhow::Result<()> {
        let body = serde_json::to_string(service)?;
        self.db
            .prepare_cached(
                "INSERT OR REPLACE INTO services (id, state, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![service.id as i64, service.state.number(), body])?;
        Ok(())
    }

    pub fn delete_service(&self, id: u64) -> anyhow::Result<()> {
        self.db
            .execute("DELETE FROM services WHERE id = ?1", params![id as i64])?;
        Ok(())
    }

    pub fn service(&self, id: u64) -> anyhow::Result<Option<Service>> {
        let body: Option<String> = self
            .db
            .query_row(
                "SELECT body FROM services WHERE id = ?1",
                params![id as i64],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| serde_json::from_str(&b).context("a stored service is not readable"))
            .transpose()
    }

    /// Every service, in one query.
    pub fn services(&self) -> anyhow::Result<Vec<Service>> {
        let mut stmt = self.db.prepare("SELECT body FROM services ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(serde_json::from_str(&body?).context("a stored service is not readable")?);
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
        let max: Option<i64> =
            self.db
                .query_row("SELECT MAX(id) FROM service_templates", [], |r| r.get(0))?;
        Ok(max.map_or(0, |m| m as u64 + 1))
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

    /// Names of users and groups, for documents (`UNAME`, `GNAME`).
    pub fn user_name(&self, uid: u64) -> String {
        self.db
            .query_row(
                "SELECT name FROM users WHERE id = ?1",
                params![uid as i64],
                |r| r.get(0),
            )
            .unwrap_or_else(|_| uid.to_string())
    }

    pub fn group_name(&self, gid: u64) -> String {
        self.db
            .query_row(
                "SELECT name FROM groups WHERE id = ?1",
                params![gid as i64],
                |r| r.get(0),
            )
            .unwrap_or_else(|_| gid.to_string())
    }

    pub fn create_vm_template(
        &self,
        name: &str,
        ownership: crate::access::Ownership,
        attributes: Map<String, Value>,
    ) -> anyhow::Result<u64> {
        let max: Option<i64> = self
            .db
            .query_row("SELECT MAX(id) FROM vm_templates", [], |r| r.get(0))?;
        let id = max.map_or(0, |m| m as u64 + 1);
        let t = VmTemplate {
            id,
            name: name.to_string(),
            ownership,
            attributes,
        };
        self.save_vm_template(&t)?;
        Ok(id)
    }

    pub fn save_vm_template(&self, t: &VmTemplate) -> anyhow::Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO vm_templates (id, name, body) VALUES (?1, ?2, ?3)",
            params![t.id as i64, t.name, serde_json::to_string(t)?],
        )?;
        Ok(())
    }

    pub fn vm_templates(&self) -> anyhow::Result<Vec<VmTemplate>> {
        let mut stmt = self
            .db
            .prepare("SELECT body FROM vm_templates ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(serde_json::from_str(&body?).context("a stored VM template is not readable")?);
        }
        Ok(out)
    }

    pub fn delete_vm_template(&self, id: u64) -> anyhow::Result<bool> {
        Ok(self
            .db
            .execute("DELETE FROM vm_templates WHERE id = ?1", params![id as i64])?
            > 0)
    }

    pub fn vm_template(&self, id: u64) -> anyhow::Result<Option<VmTemplate>> {
        let body: Option<String> = self
            .db
            .query_row(
                "SELECT body FROM vm_templates WHERE id = ?1",
                params![id as i64],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| serde_json::from_str(&b).context("a stored VM template is not readable"))
            .transpose()
    }
}
