//! The schema, as ordered steps, each written for SQLite and for
//! PostgreSQL. The database holds the number of steps it has had (SQLite's
//! `PRAGMA user_version`, PostgreSQL's `store_versions` row); opening it
//! runs the ones it has not, in one write transaction, so two servers
//! opening the same database at once do not both run a step.

use crate::database::{Database, Dialect};
use anyhow::Context as _;

/// One step of the schema, in each engine's SQL. PostgreSQL's ids and
/// numbers are `BIGINT` (SQLite's `INTEGER` is 64 bits), and its names,
/// addresses and holders compare byte by byte (`COLLATE "C"`), as SQLite's
/// do: a range of holders (`leases_of`) and an order by name must not
/// depend on the database's locale.
pub struct Migration {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl Migration {
    pub fn sql(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

/// The migrations, in order: the database is at version `n` once the
/// first `n` have run. Append only: a step, once released, never changes.
pub const MIGRATIONS: &[Migration] = &[
    // 1: the schema of the releases before versioning. `IF NOT EXISTS`, so
    // that a data directory they wrote (user_version 0, tables there) is
    // taken as it is.
    Migration {
        sqlite: "CREATE TABLE IF NOT EXISTS services (
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
        // No PostgreSQL database predates versioning: the tables are new.
        postgres: "CREATE TABLE services (
            id BIGINT PRIMARY KEY,
            state BIGINT NOT NULL,
            body TEXT NOT NULL
        );
        CREATE TABLE vm_templates (
            id BIGINT PRIMARY KEY,
            name TEXT COLLATE \"C\" NOT NULL,
            body TEXT NOT NULL
        );
        CREATE TABLE images (
            id BIGINT PRIMARY KEY,
            name TEXT COLLATE \"C\" NOT NULL,
            body TEXT NOT NULL
        );
        CREATE TABLE service_templates (
            id BIGINT PRIMARY KEY,
            body TEXT NOT NULL
        );
        CREATE TABLE sequences (
            name TEXT COLLATE \"C\" PRIMARY KEY,
            next BIGINT NOT NULL
        );
        CREATE TABLE groups (
            id BIGINT PRIMARY KEY,
            name TEXT COLLATE \"C\" NOT NULL UNIQUE
        );
        CREATE TABLE users (
            id BIGINT PRIMARY KEY,
            name TEXT COLLATE \"C\" NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            gid BIGINT NOT NULL REFERENCES groups(id)
        );",
    },
    // 2: a service's log in its own append-only table (the store keeps the
    // last `services::LOG_RETAINED` entries of each), out of the document.
    Migration {
        sqlite: "CREATE TABLE service_log (
        service_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (service_id, seq)
    ) WITHOUT ROWID;
    INSERT INTO service_log (service_id, seq, time_ms, severity, message)
        SELECT services.id, CAST(entry.key AS INTEGER),
            json_extract(entry.value, '$.time_ms'),
            json_extract(entry.value, '$.severity'),
            json_extract(entry.value, '$.message')
        FROM services, json_each(services.body, '$.log') AS entry;
    UPDATE services SET body = json_set(body, '$.log', json('[]'))
        WHERE json_type(body, '$.log') = 'array';",
        // A PostgreSQL database never held a log inside a service's
        // document: there is nothing to move.
        postgres: "CREATE TABLE service_log (
            service_id BIGINT NOT NULL,
            seq BIGINT NOT NULL,
            time_ms BIGINT NOT NULL,
            severity TEXT COLLATE \"C\" NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (service_id, seq)
        );",
    },
    // 3: virtual networks, network templates, the addresses leased from
    // them, virtual routers, and what VMs report through OneGate.
    Migration {
        sqlite: "CREATE TABLE vnets (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE vnet_templates (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE leases (
        vnet_id INTEGER NOT NULL,
        ip TEXT NOT NULL,
        holder TEXT NOT NULL,
        service_id INTEGER,
        PRIMARY KEY (vnet_id, ip)
    ) WITHOUT ROWID;
    CREATE INDEX leases_by_holder ON leases (holder);
    CREATE INDEX leases_by_service ON leases (service_id);
    CREATE TABLE vrouters (
        id INTEGER PRIMARY KEY,
        service_id INTEGER NOT NULL,
        role TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (service_id, role)
    );
    CREATE TABLE vm_attributes (
        service_id INTEGER NOT NULL,
        operation_id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (service_id, operation_id)
    ) WITHOUT ROWID;",
        postgres: "CREATE TABLE vnets (
            id BIGINT PRIMARY KEY,
            name TEXT COLLATE \"C\" NOT NULL,
            body TEXT NOT NULL
        );
        CREATE TABLE vnet_templates (
            id BIGINT PRIMARY KEY,
            name TEXT COLLATE \"C\" NOT NULL,
            body TEXT NOT NULL
        );
        CREATE TABLE leases (
            vnet_id BIGINT NOT NULL,
            ip TEXT COLLATE \"C\" NOT NULL,
            holder TEXT COLLATE \"C\" NOT NULL,
            service_id BIGINT,
            PRIMARY KEY (vnet_id, ip)
        );
        CREATE INDEX leases_by_holder ON leases (holder);
        CREATE INDEX leases_by_service ON leases (service_id);
        CREATE TABLE vrouters (
            id BIGINT PRIMARY KEY,
            service_id BIGINT NOT NULL,
            role TEXT COLLATE \"C\" NOT NULL,
            body TEXT NOT NULL,
            UNIQUE (service_id, role)
        );
        CREATE TABLE vm_attributes (
            service_id BIGINT NOT NULL,
            operation_id TEXT COLLATE \"C\" NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (service_id, operation_id)
        );",
    },
    // 4: the fleet's hosts.
    Migration {
        sqlite: "CREATE TABLE hosts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL
    );",
        postgres: "CREATE TABLE hosts (
            id BIGINT PRIMARY KEY,
            name TEXT COLLATE \"C\" NOT NULL UNIQUE,
            body TEXT NOT NULL
        );",
    },
];

/// The schema version this binary writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Bring the database to the latest version, or refuse one written by a
/// newer binary (its tables may mean something this one does not know).
/// In a write transaction, so two processes opening the same database at
/// once do not both run a step: the second finds them done.
pub fn migrate(db: &impl Database) -> anyhow::Result<()> {
    db.begin()
        .context("locking the database to check its schema")?;
    let migrated = (|| {
        let current = db.schema_version()?;
        if current > latest() {
            anyhow::bail!(
                "{} was written by a newer Flotilla (schema {current}, this binary knows {})",
                db.dialect().noun(),
                latest()
            );
        }
        for (index, step) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
            let number = index + 1;
            db.execute_batch(step.sql(db.dialect()))
                .with_context(|| format!("schema migration {number}"))?;
            db.set_schema_version(number as i64)?;
        }
        Ok(())
    })();
    match migrated {
        Ok(()) => db.commit(),
        Err(e) => {
            db.rollback();
            Err(e)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Accounts, ResourceKind, Resources, Services, SqliteStore, Store};
    use argon2::password_hash::rand_core::OsRng;
    use argon2::password_hash::{PasswordHash, SaltString};
    use argon2::{Argon2, PasswordHasher, PasswordVerifier};
    use rusqlite::{Connection, params};

    const USERS_GROUP: u64 = 1;

    /// The version an SQLite file says it is at, read past the store.
    fn version(path: &std::path::Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

    /// The schema exactly as the releases before versioning created it.
    const UNVERSIONED_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS services (
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
            );";

    const OWNERSHIP: &str = r#"{"uid":1,"gid":1,"permissions":{"owner":{"use":true,"manage":true,"admin":false},"group":{"use":false,"manage":false,"admin":false},"other":{"use":false,"manage":false,"admin":false}}}"#;

    /// A data directory as an unversioned release left it: oneadmin and
    /// alice, a VM template, a service template and a service.
    fn unversioned_data_dir(path: &std::path::Path) -> flotilla_core::service::lifecycle::Service {
        let db = Connection::open(path).unwrap();
        db.pragma_update(None, "journal_mode", "WAL").unwrap();
        db.execute_batch(UNVERSIONED_SCHEMA).unwrap();
        let hash = Argon2::default()
            .hash_password(b"s3cret", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        db.execute_batch(
            "INSERT INTO groups (id, name) VALUES (0, 'oneadmin'), (1, 'users');
             INSERT INTO users (id, name, password_hash, gid) VALUES (0, 'oneadmin', 'x', 0);
             INSERT INTO sequences (name, next) VALUES ('groups', 2), ('users', 2),
                ('vm_templates', 1), ('service_templates', 1), ('services', 1);",
        )
        .unwrap();
        db.execute(
            "INSERT INTO users (id, name, password_hash, gid) VALUES (1, 'alice', ?1, 1)",
            params![hash],
        )
        .unwrap();
        db.execute(
            "INSERT INTO vm_templates (id, name, body) VALUES (0, 'small', ?1)",
            params![format!(
                r#"{{"id":0,"name":"small","ownership":{OWNERSHIP},"attributes":{{"CPU":"1","MEMORY":"512"}}}}"#
            )],
        )
        .unwrap();
        db.execute(
            "INSERT INTO service_templates (id, body) VALUES (0, ?1)",
            params![format!(
                r#"{{"id":0,"name":"web","ownership":{OWNERSHIP},"registration_time":1755680000,"body":{{"name":"web","roles":[{{"name":"front","type":"vm","template_id":0}}]}}}}"#
            )],
        )
        .unwrap();
        let template = flotilla_core::service::parse_template(&serde_json::json!({
            "name": "web", "roles": [{"name": "front", "type": "vm", "template_id": 0}]
        }))
        .unwrap();
        let mut service =
            flotilla_core::service::lifecycle::Service::new(0, template, 1_000, 60_000);
        service.info(1_000, "New state: DEPLOYING");
        service.error(2_000, "role front: VM 3 failed");
        // Those releases kept the log inside the document.
        let mut body = serde_json::to_value(&service).unwrap();
        body["log"] = serde_json::to_value(&service.log).unwrap();
        db.execute(
            "INSERT INTO services (id, state, body) VALUES (0, ?1, ?2)",
            params![service.state.number(), body.to_string()],
        )
        .unwrap();
        service
    }

    #[test]
    fn a_data_directory_of_an_unversioned_release_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flotilla.db");
        let service = unversioned_data_dir(&path);
        assert_eq!(version(&path), 0);

        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), latest());
        assert_eq!(version(&path), latest());

        // alice still signs in with her password.
        let alice = store.user_by_name("alice").unwrap().unwrap();
        assert_eq!((alice.id, alice.gid), (1, USERS_GROUP));
        let hash = PasswordHash::new(&alice.password_hash).unwrap();
        assert!(Argon2::default().verify_password(b"s3cret", &hash).is_ok());
        assert!(store.user_by_name("oneadmin").unwrap().is_some());
        let template = store.vm_template(0).unwrap().unwrap();
        assert_eq!(
            (template.name.as_str(), template.ownership.uid),
            ("small", 1)
        );
        assert_eq!(template.attributes["MEMORY"], "512");
        let doc = store.service_template(0).unwrap().unwrap();
        assert_eq!(
            (doc.name.as_str(), doc.registration_time),
            ("web", 1755680000)
        );
        assert_eq!(store.service(0).unwrap().unwrap(), service);
        assert_eq!(store.service(0).unwrap().unwrap().log.len(), 2);
        // The log moved out of the document into its own table.
        let mut row = store
            .db
            .query_row(
                "SELECT body, (SELECT COUNT(*) FROM service_log WHERE service_id = 0)
                 FROM services WHERE id = 0",
                &[],
            )
            .unwrap()
            .unwrap();
        let (body, entries) = (row.text(0).unwrap(), row.integer(1).unwrap());
        assert!(body.contains(r#""log":[]"#), "{body}");
        assert_eq!(entries, 2);
        assert_eq!(store.services().unwrap().len(), 1);
        assert_eq!(
            store.owner_names(&template.ownership),
            ("alice".into(), "users".into())
        );

        // Ids go on from where the old release left them.
        assert_eq!(store.insert_user("bob", "x", USERS_GROUP).unwrap(), 2);
        assert_eq!(store.next_service_id().unwrap(), 1);
        let owner = template.ownership.clone();
        assert_eq!(
            store
                .create_resource(ResourceKind::VmTemplate, "big", owner, Default::default())
                .unwrap(),
            1
        );
        drop(store);

        // Opening again changes nothing.
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), latest());
        assert_eq!(store.users().unwrap().len(), 3);
        assert_eq!(store.resources(ResourceKind::VmTemplate).unwrap().len(), 2);
    }

    on_every_engine! {
        fn a_new_database_gets_the_latest_version(db) {
            let store = db.open();
            assert_eq!(store.schema_version().unwrap(), latest());
            assert!(store.services().unwrap().is_empty());
            // Opened again, it has nothing more to do.
            assert_eq!(db.open().schema_version().unwrap(), latest());
        }
    }

    #[test]
    fn a_database_in_memory_gets_the_latest_version() {
        let store = SqliteStore::in_memory().unwrap();
        assert_eq!(store.schema_version().unwrap(), latest());
    }

    #[test]
    fn a_database_of_a_newer_release_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flotilla.db");
        drop(SqliteStore::open(&path).unwrap());
        let newer = latest() + 1;
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", newer)
            .unwrap();
        let error = format!("{:#}", SqliteStore::open(&path).err().expect("refused"));
        assert_eq!(
            error,
            format!(
                "data directory was written by a newer Flotilla (schema {newer}, this binary knows {})",
                latest()
            )
        );
        // Refusing wrote nothing.
        assert_eq!(version(&path), newer);
    }
}
