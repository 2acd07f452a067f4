//! Services, service templates, VM templates and images, users and
//! groups. The server sees them through the [`Store`] trait (one
//! sub-trait per kind of record: [`Services`], [`Resources`],
//! [`Accounts`]); [`SqliteStore`] implements it in SQLite (WAL), and every
//! SQL statement of the server is in this crate (the simulated hypervisor
//! keeps its own database).
//!
//! The trait is shaped for another backend (PostgreSQL) to implement it:
//! records go in and out as the core's types, ids are issued by the store
//! and never reused, a transaction is a closure that commits or rolls
//! back as a whole, and nothing of SQLite (connections, `data_version`,
//! PRAGMAs) shows through it.
//!
//! `migrations.rs` holds the schema as versioned steps; `services.rs`,
//! `resources.rs` and `accounts.rs` the statements per kind of record.

mod accounts;
pub mod backup;
mod hosts;
pub mod migrations;
mod networks;
pub mod registry;
mod resources;
mod services;
mod vm_attributes;

pub use accounts::{Accounts, StoredUser, User};
pub use hosts::Hosts;
pub use networks::{
    Lease, MAX_ADDRESSES, MAX_RANGES, MadeFor, NETWORK_MARKS, NetworkError, Networks,
    StoredVrouter, check_size, is_mark,
};
pub use resources::{Resource, ResourceKind, Resources, VmTemplate};
pub use services::{ServiceTemplateDoc, Services};
pub use vm_attributes::{VmAttributes, VmReport};

use anyhow::Context as _;
use flotilla_core::service::lifecycle::Service;
use rusqlite::{Connection, OptionalExtension, params};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Everything the server stores. Calls block; the server holds a store
/// behind one lock and calls it from its threads.
pub trait Store: Services + Resources + Accounts + Networks + VmAttributes + Hosts + Send {
    /// The version of the schema the data is in.
    fn schema_version(&self) -> anyhow::Result<i64>;

    /// Run `body` as one transaction: all of its writes or none. A body
    /// that fails rolls back everything it wrote.
    fn transaction(&self, body: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<()>;
}

impl dyn Store + '_ {
    /// Run `f` as one transaction (a recursive clone or delete must not
    /// stop half-way), with its own value and error types.
    pub fn atomically<T, E: From<anyhow::Error>>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let mut f = Some(f);
        let mut outcome: Option<Result<T, E>> = None;
        let committed = self.transaction(&mut || {
            let f = f
                .take()
                .ok_or_else(|| anyhow::anyhow!("a transaction ran twice"))?;
            let result = f();
            let failed = result.is_err();
            outcome = Some(result);
            if failed {
                anyhow::bail!("rolled back")
            }
            Ok(())
        });
        match (outcome, committed) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(e)) => Err(E::from(e)),
            (None, Ok(())) => Err(E::from(anyhow::anyhow!("a transaction did not run"))),
        }
    }
}

impl Store for SqliteStore {
    fn schema_version(&self) -> anyhow::Result<i64> {
        Ok(migrations::version(&self.db)?)
    }

    fn transaction(&self, body: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<()> {
        self.db.execute_batch("BEGIN IMMEDIATE")?;
        self.finish_transaction(body())
    }
}

/// A store shared by the server's threads, behind one lock.
pub struct SharedStore(Mutex<Box<dyn Store>>);

impl SharedStore {
    pub fn new(store: Box<dyn Store>) -> SharedStore {
        SharedStore(Mutex::new(store))
    }

    /// The store, until the guard is dropped. A thread that panicked while
    /// holding it left no half-done transaction (SQLite rolled it back), so
    /// a poisoned lock is taken as it is.
    pub fn lock(&self) -> StoreGuard<'_> {
        StoreGuard(self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The locked store; it reads as a `&dyn Store`.
pub struct StoreGuard<'a>(MutexGuard<'a, Box<dyn Store>>);

impl std::ops::Deref for StoreGuard<'_> {
    type Target = dyn Store;

    fn deref(&self) -> &(dyn Store + 'static) {
        &**self.0
    }
}

/// The database, with write-through caches of what every API request
/// reads: services (parsed once, not per request) and user and group
/// names. Writes through this connection update the caches; a commit by
/// any other connection (another process, a test looking on) changes
/// SQLite's `data_version`, and the caches are dropped before the next read.
pub struct SqliteStore {
    db: Connection,
    services: RefCell<HashMap<u64, Arc<Service>>>,
    names: RefCell<HashMap<(&'static str, u64), String>>,
    data_version: Cell<i64>,
}

impl SqliteStore {
    /// Run `f` in a transaction of its own, or inside the caller's when
    /// one is open (a network deleted while a service's whole sweep runs).
    fn in_transaction<T, E: From<rusqlite::Error>>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        if !self.db.is_autocommit() {
            return f();
        }
        self.db.execute_batch("BEGIN IMMEDIATE")?;
        self.finish_transaction(f())
    }

    /// Commit what `outcome` says succeeded, or roll it all back.
    fn finish_transaction<T, E: From<rusqlite::Error>>(
        &self,
        outcome: Result<T, E>,
    ) -> Result<T, E> {
        match outcome {
            Ok(v) => {
                self.db.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.db.execute_batch("ROLLBACK");
                // A service written in the transaction is gone again.
                self.services.borrow_mut().clear();
                Err(e)
            }
        }
    }

    /// Open (or create) the database at `path` and bring its schema up to
    /// date; refused if a newer Flotilla wrote it.
    pub fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        SqliteStore::init(db)
    }

    pub fn in_memory() -> anyhow::Result<SqliteStore> {
        SqliteStore::init(Connection::open_in_memory()?)
    }

    /// Boxed, as the server holds it.
    pub fn boxed(self) -> Box<dyn Store> {
        Box::new(self)
    }

    fn init(mut db: Connection) -> anyhow::Result<SqliteStore> {
        migrations::migrate(&mut db)?;
        Ok(SqliteStore {
            db,
            services: RefCell::default(),
            names: RefCell::default(),
            data_version: Cell::new(-1),
        })
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
        let writer = SqliteStore::open(&path).unwrap();
        let reader = SqliteStore::open(&path).unwrap();
        let template = flotilla_core::service::parse_template(&serde_json::json!({
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
        let store = SqliteStore::in_memory().unwrap().boxed();
        let owner = flotilla_core::permissions::Ownership::default();
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
        let store = SqliteStore::open(&path).unwrap();
        let template = flotilla_core::service::parse_template(&serde_json::json!({
            "name": "s", "roles": [{"name": "r", "type": "vm", "template_id": 0}]
        }))
        .unwrap();
        let mut service = Service::new(0, template, 0, 1000);
        let stored = |store: &SqliteStore| -> i64 {
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
            let fresh = SqliteStore::open(&path).unwrap();
            assert_eq!(fresh.service(0).unwrap().unwrap(), service, "round {round}");
        }
        assert_eq!(
            service.log.len(),
            flotilla_core::service::lifecycle::LOG_KEPT
        );
        assert_eq!(service.log.last().unwrap().message, "entry 1199");
        store.delete_service(0).unwrap();
        assert_eq!(stored(&store), 0);
    }
}
