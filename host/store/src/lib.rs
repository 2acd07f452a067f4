//! Services, service templates, VM templates and images, users and
//! groups, networks and hosts. The server sees them through the [`Store`]
//! trait (one sub-trait per kind of record: [`Services`], [`Resources`],
//! [`Accounts`], [`Networks`], [`VmAttributes`], [`Hosts`]), and every SQL
//! statement of the server is in this crate (the simulated hypervisor
//! keeps its own database).
//!
//! The store runs on one of two engines, as the server's `[store] url` says:
//! - SQLite ([`SqliteStore`]): one file in the data directory, in WAL
//!   mode, for one server;
//! - PostgreSQL ([`PgStore`], `postgres://user@host:port/db`): one
//!   database that several servers share.
//!
//! The records are written once, in [`SqlStore`], against a small
//! [`Database`] interface (statements with numbered placeholders, a few
//! kinds of values, write transactions); each engine implements it
//! (`sqlite.rs`, `pg.rs`) with what is its own: SQLite's PRAGMAs and
//! `BEGIN IMMEDIATE`, PostgreSQL's connection thread, its `$1`
//! placeholders and its version row. Write transactions run one at a
//! time on both, so ids are never issued twice and a transaction reads
//! what it commits over. Both hold the same versioned schema
//! (`migrations.rs`, one step per version, each in both engines' SQL).
//!
//! Reads of services and of user and group names are cached, written
//! through by this store's writes, and dropped when another connection
//! (another process, another server) commits: SQLite says so in its
//! `data_version`, PostgreSQL in a version every write transaction bumps.
//!
//! Ids are issued by the store and never reused; a transaction is a
//! closure that commits or rolls back as a whole. Backups (`backup.rs`)
//! are of an SQLite store; a PostgreSQL database is backed up with its
//! own tools.

#[cfg(test)]
#[macro_use]
mod testing;

mod accounts;
pub mod backup;
mod claim;
pub mod database;
mod hosts;
pub mod migrations;
mod networks;
mod pg;
pub mod registry;
mod resources;
#[cfg(any(test, feature = "scratch-postgres"))]
pub mod scratch;
mod services;
mod sqlite;
mod vm_attributes;

pub use accounts::{Accounts, StoredUser, User};
pub use claim::DatabaseClaim;
pub use database::Database;
pub use hosts::Hosts;
pub use networks::{
    Lease, MAX_ADDRESSES, MAX_RANGES, MadeFor, NETWORK_MARKS, NetworkError, Networks,
    StoredVrouter, check_size, is_mark,
};
pub use pg::Postgres;
pub use resources::{Resource, ResourceKind, Resources, VmTemplate};
pub use services::{ServiceTemplateDoc, Services};
pub use sqlite::Sqlite;
pub use vm_attributes::{VmAttributes, VmReport};

use crate::database::params;
use anyhow::Context as _;
use flotilla_core::service::lifecycle::Service;
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

impl<D: Database> Store for SqlStore<D> {
    fn schema_version(&self) -> anyhow::Result<i64> {
        self.db.schema_version()
    }

    fn transaction(&self, body: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<()> {
        self.db.begin()?;
        self.finish_transaction(body)
    }
}

/// A store shared by the server's threads, behind one lock.
pub struct SharedStore(Mutex<Box<dyn Store>>);

impl SharedStore {
    pub fn new(store: Box<dyn Store>) -> SharedStore {
        SharedStore(Mutex::new(store))
    }

    /// The store, until the guard is dropped. A thread that panicked while
    /// holding it left no half-done transaction (the store rolled it back
    /// as the panic went through), so a poisoned lock is taken as it is.
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

/// The store in an SQLite file.
pub type SqliteStore = SqlStore<Sqlite>;

/// The store in a PostgreSQL database.
pub type PgStore = SqlStore<Postgres>;

/// The store on a database engine, with write-through caches of what
/// every API request reads: services (parsed once, not per request) and
/// user and group names. Writes through this store update the caches; a
/// commit by any other connection changes the engine's data version, and
/// the caches are dropped before the next read.
pub struct SqlStore<D> {
    db: D,
    services: RefCell<HashMap<u64, Arc<Service>>>,
    names: RefCell<HashMap<(&'static str, u64), String>>,
    data_version: Cell<i64>,
}

impl SqlStore<Sqlite> {
    /// Open (or create) the database at `path` and bring its schema up to
    /// date; refused if a newer Flotilla wrote it.
    pub fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        SqlStore::init(Sqlite::open(path)?)
    }

    pub fn in_memory() -> anyhow::Result<SqliteStore> {
        SqlStore::init(Sqlite::in_memory()?)
    }
}

impl SqlStore<Postgres> {
    /// Connect to the PostgreSQL database at `url`
    /// (`postgres://user:password@host:port/database`, or any form the
    /// `postgres` crate reads) and bring its schema up to date; refused if
    /// a newer Flotilla wrote it.
    pub fn connect(url: &str) -> anyhow::Result<PgStore> {
        SqlStore::init(Postgres::connect(url)?)
    }
}

impl<D: Database + 'static> SqlStore<D> {
    /// Boxed, as the server holds it.
    pub fn boxed(self) -> Box<dyn Store> {
        Box::new(self)
    }
}

/// Rolls back a transaction that its body left by panicking, so that the
/// connection is not left inside it.
struct OpenTransaction<'a, D: Database>(&'a SqlStore<D>);

impl<D: Database> Drop for OpenTransaction<'_, D> {
    fn drop(&mut self) {
        if self.0.db.in_transaction() {
            self.0.rolled_back();
        }
    }
}

impl<D: Database> SqlStore<D> {
    fn init(db: D) -> anyhow::Result<SqlStore<D>> {
        migrations::migrate(&db)?;
        Ok(SqlStore {
            db,
            services: RefCell::default(),
            names: RefCell::default(),
            data_version: Cell::new(-1),
        })
    }

    /// Run `f` in a transaction of its own, or inside the caller's when
    /// one is open (a network deleted while a service's whole sweep runs).
    fn in_transaction<T, E: From<anyhow::Error>>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        if self.db.in_transaction() {
            return f();
        }
        self.db.begin()?;
        self.finish_transaction(f)
    }

    /// Run `f` as a part of the open transaction that is undone alone if
    /// it fails; as a transaction of its own when none is open.
    fn in_savepoint<T>(
        &self,
        name: &str,
        f: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        if !self.db.in_transaction() {
            return self.in_transaction(f);
        }
        self.db.savepoint(name)?;
        match f() {
            Ok(value) => {
                self.db.release_savepoint(name)?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.db.rollback_to_savepoint(name);
                Err(e)
            }
        }
    }

    /// Run the body of the transaction just begun, then commit what it
    /// says succeeded, or roll it all back.
    fn finish_transaction<T, E: From<anyhow::Error>>(
        &self,
        body: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let _open = OpenTransaction(self);
        let outcome = body();
        let committed = match outcome {
            Ok(value) => self.db.commit().map(|()| value).map_err(E::from),
            Err(e) => Err(e),
        };
        if committed.is_err() {
            self.rolled_back();
        }
        committed
    }

    /// The open transaction is rolled back: what it cached is gone again
    /// (a service it wrote, the name of a user it made).
    fn rolled_back(&self) {
        self.db.rollback();
        self.services.borrow_mut().clear();
        self.names.borrow_mut().clear();
    }

    /// The next id of a table. Ids are never reused, as in OpenNebula: a
    /// new user must not inherit what a deleted one owned, nor a service
    /// template point at a VM template that replaced a deleted one. In a
    /// write transaction: no other connection takes the same id.
    fn next_id(&self, table: &str) -> anyhow::Result<u64> {
        self.in_transaction(|| {
            let max = self
                .db
                .query_integer(&format!("SELECT MAX(id) FROM {table}"), params![])?;
            let issued = self
                .db
                .query_integer("SELECT next FROM sequences WHERE name = ?1", params![table])?;
            let after_max = match max {
                Some(m) => m.checked_add(1).context("the table's ids are exhausted")?,
                None => 0,
            };
            let next = after_max.max(issued.unwrap_or(0));
            self.db.execute(
                "INSERT INTO sequences (name, next) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET next = excluded.next",
                params![table, next.checked_add(1).context("ids are exhausted")?],
            )?;
            Ok(next as u64)
        })
    }

    /// Drop the caches if another connection committed since the last look.
    fn drop_stale_caches(&self) {
        let version = self.db.data_version().unwrap_or(-1);
        if version != self.data_version.get() || version == -1 {
            self.services.borrow_mut().clear();
            self.names.borrow_mut().clear();
            self.data_version.set(version);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::{Cluster, TestDb};
    use flotilla_core::permissions::Ownership;
    use serde_json::Map;

    pub(crate) fn a_service(id: u64) -> Service {
        let template = flotilla_core::service::parse_template(&serde_json::json!({
            "name": "s", "roles": [{"name": "r", "type": "vm", "template_id": 0}]
        }))
        .unwrap();
        Service::new(id, template, 0, 1000)
    }

    fn owned_by(uid: u64, gid: u64) -> Ownership {
        Ownership {
            uid,
            gid,
            ..Ownership::default()
        }
    }

    on_every_engine! {
        fn a_cached_service_is_dropped_when_another_connection_writes(db) {
            let writer = db.open();
            let reader = db.open();
            let mut service = a_service(0);
            writer.save_service(&service).unwrap();
            assert_eq!(reader.service(0).unwrap().unwrap().name, "s");
            assert_eq!(reader.services().unwrap().len(), 1);
            service.name = "renamed".into();
            writer.save_service(&service).unwrap();
            assert_eq!(reader.service(0).unwrap().unwrap().name, "renamed");
            assert_eq!(reader.services().unwrap()[0].name, "renamed");
            assert_eq!(writer.service(0).unwrap().unwrap().name, "renamed");
            writer.delete_service(0).unwrap();
            assert!(reader.service(0).unwrap().is_none());
            assert!(reader.services().unwrap().is_empty());
        }

        fn a_cached_name_is_dropped_when_another_connection_deletes_it(db) {
            let writer = db.open();
            let reader = db.open();
            let gid = writer.insert_group("staff").unwrap();
            let uid = writer.insert_user("ana", "x", gid).unwrap();
            let owner = owned_by(uid, gid);
            assert_eq!(reader.owner_names(&owner), ("ana".into(), "staff".into()));
            writer.delete_user(uid).unwrap();
            writer.delete_group(gid).unwrap();
            assert_eq!(reader.owner_names(&owner), (uid.to_string(), gid.to_string()));
            assert_eq!(reader.group_name(gid), gid.to_string());
        }

        fn a_failed_transaction_leaves_nothing_behind(db) {
            let store = db.open();
            let owner = Ownership::default();
            let result: anyhow::Result<()> = store.atomically(|| {
                store.create_resource(ResourceKind::Image, "a", owner.clone(), Map::new())?;
                store.save_service(&a_service(0))?;
                anyhow::bail!("the second step failed")
            });
            assert!(result.is_err());
            assert!(store.resources(ResourceKind::Image).unwrap().is_empty());
            // Not even in the cache of the store that wrote it.
            assert!(store.service(0).unwrap().is_none());
            assert!(db.open().service(0).unwrap().is_none());
            store
                .atomically(|| store.create_resource(ResourceKind::Image, "b", owner, Map::new()))
                .unwrap();
            assert_eq!(store.resources(ResourceKind::Image).unwrap().len(), 1);
            assert_eq!(db.open().resources(ResourceKind::Image).unwrap().len(), 1);
        }

        fn a_transaction_that_panics_is_rolled_back(db) {
            let store = db.open();
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                store.atomically(|| -> anyhow::Result<()> {
                    store.insert_group("half-made")?;
                    panic!("a bug in the body")
                })
            }));
            assert!(panicked.is_err());
            assert_eq!(store.group_id_by_name("half-made").unwrap(), None);
            // The connection is not left in the transaction: this commits.
            store.insert_group("whole").unwrap();
            assert!(db.open().group_id_by_name("whole").unwrap().is_some());
        }

        fn a_service_log_is_appended_kept_bounded_and_read_back(db) {
            let store = db.open();
            let mut service = a_service(0);
            let mut written = 0;
            for round in 0..40u64 {
                for i in 0..30 {
                    service.info(round * 100 + i, format!("entry {}", round * 30 + i));
                }
                written += 30;
                store.save_service(&service).unwrap();
                // Saved again unchanged: nothing appended.
                store.save_service(&service).unwrap();
                assert_eq!(
                    db.count_rows("service_log"),
                    written.min(services::LOG_RETAINED)
                );
                let fresh = db.open();
                assert_eq!(fresh.service(0).unwrap().unwrap(), service, "round {round}");
            }
            assert_eq!(
                service.log.len(),
                flotilla_core::service::lifecycle::LOG_KEPT
            );
            assert_eq!(service.log.last().unwrap().message, "entry 1199");
            store.delete_service(0).unwrap();
            assert_eq!(db.count_rows("service_log"), 0);
        }

        fn ids_taken_by_two_connections_at_once_are_all_different(db) {
            const EACH: usize = 40;
            let taken = db.on_two_connections(EACH, |store, connection, i| {
                let name = format!("image-{connection}-{i}");
                store
                    .create_resource(ResourceKind::Image, &name, Ownership::default(), Map::new())
                    .unwrap()
            });
            let mut all: Vec<u64> = taken.concat();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), 2 * EACH);
            assert_eq!(db.count_rows("images"), 2 * EACH as i64);
            // And the sequence goes on from there, for every connection.
            let next = db.open().next_service_template_id().unwrap();
            assert_eq!(db.open().next_service_template_id().unwrap(), next + 1);
        }

        fn users_and_groups_are_stored(db) {
            let store = db.open();
            let staff = store.insert_group("staff").unwrap();
            let lab = store.insert_group("lab").unwrap();
            assert_eq!(store.group_id_by_name("lab").unwrap(), Some(lab));
            assert_eq!(store.group_by_id(staff).unwrap().as_deref(), Some("staff"));
            let ana = store.insert_user("ana", "hash-1", staff).unwrap();
            let bo = store.insert_user("bo", "hash-2", staff).unwrap();
            assert!(store.insert_user("ana", "again", staff).is_err());
            assert_eq!(store.user_count().unwrap(), 2);
            assert_eq!(store.group_member_count(staff).unwrap(), 2);
            store.set_user_group(bo, lab).unwrap();
            store.set_user_password_hash(ana, "hash-3").unwrap();
            let other = db.open();
            let stored = other.user_by_name("ana").unwrap().unwrap();
            assert_eq!(
                (stored.id, stored.gid, stored.password_hash.as_str()),
                (ana, staff, "hash-3")
            );
            assert_eq!(
                other.users().unwrap(),
                vec![
                    User { id: ana, name: "ana".into(), gid: staff },
                    User { id: bo, name: "bo".into(), gid: lab },
                ]
            );
            assert_eq!(other.user_by_id(bo).unwrap().unwrap().gid, lab);
            assert_eq!(other.groups().unwrap(), vec![(staff, "staff".into()), (lab, "lab".into())]);
            assert!(store.delete_user(bo).unwrap());
            assert!(!store.delete_user(bo).unwrap());
            assert!(store.delete_group(lab).unwrap());
            assert_eq!(other.user_by_id(bo).unwrap(), None);
            // Ids are never reused.
            assert_eq!(store.insert_user("cy", "h", staff).unwrap(), bo + 1);
            assert_eq!(store.insert_group("ops").unwrap(), lab + 1);
        }

        fn templates_and_resources_are_stored(db) {
            let store = db.open();
            let attributes = serde_json::json!({"CPU": "1", "MEMORY": "512"})
                .as_object()
                .cloned()
                .unwrap();
            let small = store
                .create_vm_template("small", owned_by(3, 1), attributes.clone())
                .unwrap();
            let image = store
                .create_resource(ResourceKind::Image, "disk", owned_by(3, 1), Map::new())
                .unwrap();
            let mut template = store.vm_template(small).unwrap().unwrap();
            assert_eq!((template.name.as_str(), template.ownership.uid), ("small", 3));
            assert_eq!(template.attributes, attributes);
            template.name = "smaller".into();
            store.save_resource(ResourceKind::VmTemplate, &template).unwrap();
            let other = db.open();
            assert_eq!(other.resources(ResourceKind::VmTemplate).unwrap(), vec![template]);
            assert_eq!(other.resource(ResourceKind::Image, image).unwrap().unwrap().name, "disk");
            assert!(other.delete_resource(ResourceKind::Image, image).unwrap());
            assert!(!other.delete_resource(ResourceKind::Image, image).unwrap());

            let id = store.next_service_template_id().unwrap();
            let doc = ServiceTemplateDoc {
                id,
                name: "web".into(),
                ownership: owned_by(3, 1),
                registration_time: 1_755_680_000,
                body: serde_json::json!({"name": "web", "roles": []}),
            };
            store.save_service_template(&doc).unwrap();
            let mut changed = doc.clone();
            changed.body["description"] = "a web tier".into();
            store.save_service_template(&changed).unwrap();
            assert_eq!(other.service_template(id).unwrap(), Some(changed.clone()));
            assert_eq!(other.service_templates().unwrap(), vec![changed]);
            assert!(other.delete_service_template(id).unwrap());
            assert_eq!(store.service_template(id).unwrap(), None);
        }
    }

    /// Every case of every engine, then PostgreSQL's own, on one server
    /// of the test's own, one database each. The server is stopped when
    /// this ends, whatever failed.
    #[test]
    fn on_postgresql() {
        let Some(cluster) = Cluster::start() else {
            println!(
                "skipped: no PostgreSQL server (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH"
            );
            return;
        };
        let mut failed = Vec::new();
        let every_engine = [
            tests::CASES,
            hosts::tests::CASES,
            migrations::tests::CASES,
            networks::tests::CASES,
        ];
        for &(name, case) in every_engine.iter().copied().flatten() {
            let db = TestDb::Postgres(cluster.database());
            println!("PostgreSQL: {name}");
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&db)));
            if ran.is_err() {
                failed.push(name);
            }
        }
        for &(name, case) in pg::tests::CASES {
            let db = cluster.database();
            println!("PostgreSQL: {name}");
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&db)));
            if ran.is_err() {
                failed.push(name);
            }
        }
        assert!(failed.is_empty(), "failed on PostgreSQL: {failed:?}");
    }
}
