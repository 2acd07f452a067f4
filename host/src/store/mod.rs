//! Services, service templates, VM templates and images, users and
//! groups in SQLite (WAL). Every SQL statement of the server is here (the
//! simulated hypervisor keeps its own database, `sim::store`); a small
//! interface, so that another backend can replace it.
//!
//! `migrations.rs` holds the schema as versioned steps; `services.rs`,
//! `resources.rs` and `accounts.rs` the statements per kind of record.

mod accounts;
pub mod migrations;
mod resources;
mod services;

pub use accounts::StoredUser;
pub use resources::{Resource, ResourceKind, VmTemplate};
pub use services::ServiceTemplateDoc;

use crate::service::lifecycle::Service;
use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension, params};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

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
    /// Open (or create) the database at `path` and bring its schema up to
    /// date; refused if a newer Flotilla wrote it.
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

    fn init(mut db: Connection) -> anyhow::Result<Store> {
        migrations::migrate(&mut db)?;
        Ok(Store {
            db,
            services: RefCell::default(),
            names: RefCell::default(),
            data_version: Cell::new(-1),
        })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> anyhow::Result<i64> {
        Ok(migrations::version(&self.db)?)
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
    fn next_id(&self, table: &str) -> anyhow::Result<u64> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

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

    #[test]
    fn a_service_log_is_appended_kept_bounded_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flotilla.db");
        let store = Store::open(&path).unwrap();
        let template = crate::service::parse_template(&serde_json::json!({
            "name": "s", "roles": [{"name": "r", "type": "vm", "template_id": 0}]
        }))
        .unwrap();
        let mut service = Service::new(0, template, 0, 1000);
        let stored = |store: &Store| -> i64 {
            store
                .db
                .query_row("SELECT COUNT(*) FROM service_log", [], |r| r.get(0))
                .unwrap()
        };
        let mut written = 0;
        for round in 0..40u64 {
            for i in 0..30 {
                service.info(round * 100 + i, format!("entry {}", round * 30 + i));
            }
            written += 30;
            store.save_service(&service).unwrap();
            // Saved again unchanged: nothing appended.
            store.save_service(&service).unwrap();
            assert_eq!(stored(&store), written.min(services::LOG_RETAINED));
            let fresh = Store::open(&path).unwrap();
            assert_eq!(fresh.service(0).unwrap().unwrap(), service, "round {round}");
        }
        assert_eq!(service.log.len(), crate::service::lifecycle::LOG_KEPT);
        assert_eq!(service.log.last().unwrap().message, "entry 1199");
        store.delete_service(0).unwrap();
        assert_eq!(stored(&store), 0);
    }
}
