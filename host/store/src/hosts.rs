//! The fleet's hosts: one row each, the record as JSON beside its unique
//! name, so a lookup by name is an index and a second host of the same
//! name is refused by the database as well as by the caller.

use super::SqliteStore;
use flotilla_core::fleet::{Host, NewHost};
use rusqlite::{OptionalExtension, params};

pub trait Hosts {
    /// Create a host (state INIT) and return it; `None` when the name is
    /// taken.
    fn create_host(&self, new: NewHost) -> anyhow::Result<Option<Host>>;

    /// Every host, by id.
    fn hosts(&self) -> anyhow::Result<Vec<Host>>;

    fn host(&self, id: u64) -> anyhow::Result<Option<Host>>;

    fn host_by_name(&self, name: &str) -> anyhow::Result<Option<Host>>;

    /// Write a host's record (its name does not change).
    fn save_host(&self, host: &Host) -> anyhow::Result<()>;

    /// Whether there was such a host.
    fn delete_host(&self, id: u64) -> anyhow::Result<bool>;
}

fn read(body: String) -> anyhow::Result<Host> {
    Ok(serde_json::from_str(&body)?)
}

impl Hosts for SqliteStore {
    fn create_host(&self, new: NewHost) -> anyhow::Result<Option<Host>> {
        self.in_transaction(|| -> anyhow::Result<Option<Host>> {
            if self.host_by_name(&new.name)?.is_some() {
                return Ok(None);
            }
            let id = self.next_id("hosts")?;
            let host = Host::new(id, new);
            self.db
                .prepare_cached("INSERT INTO hosts (id, name, body) VALUES (?1, ?2, ?3)")?
                .execute(params![id as i64, host.name, serde_json::to_string(&host)?])?;
            Ok(Some(host))
        })
    }

    fn hosts(&self) -> anyhow::Result<Vec<Host>> {
        let mut stmt = self
            .db
            .prepare_cached("SELECT body FROM hosts ORDER BY id")?;
        let bodies = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.into_iter().map(read).collect()
    }

    fn host(&self, id: u64) -> anyhow::Result<Option<Host>> {
        self.db
            .prepare_cached("SELECT body FROM hosts WHERE id = ?1")?
            .query_row(params![id as i64], |r| r.get::<_, String>(0))
            .optional()?
            .map(read)
            .transpose()
    }

    fn host_by_name(&self, name: &str) -> anyhow::Result<Option<Host>> {
        self.db
            .prepare_cached("SELECT body FROM hosts WHERE name = ?1")?
            .query_row(params![name], |r| r.get::<_, String>(0))
            .optional()?
            .map(read)
            .transpose()
    }

    fn save_host(&self, host: &Host) -> anyhow::Result<()> {
        let changed = self
            .db
            .prepare_cached("UPDATE hosts SET body = ?2 WHERE id = ?1")?
            .execute(params![host.id as i64, serde_json::to_string(host)?])?;
        anyhow::ensure!(changed == 1, "host {} does not exist", host.id);
        Ok(())
    }

    fn delete_host(&self, id: u64) -> anyhow::Result<bool> {
        Ok(self
            .db
            .prepare_cached("DELETE FROM hosts WHERE id = ?1")?
            .execute(params![id as i64])?
            == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_core::fleet::HostState;

    fn new_host(name: &str) -> NewHost {
        NewHost {
            name: name.into(),
            driver: "sim".into(),
            address: format!("sim:{name}"),
            labels: Default::default(),
        }
    }

    #[test]
    fn hosts_are_created_read_saved_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flotilla.db");
        let store = SqliteStore::open(&path).unwrap();
        let mut a = store.create_host(new_host("a")).unwrap().unwrap();
        let b = store.create_host(new_host("b")).unwrap().unwrap();
        assert_eq!((a.id, b.id, a.state), (0, 1, HostState::Init));
        assert!(store.create_host(new_host("a")).unwrap().is_none());
        a.state = HostState::Monitored;
        store.save_host(&a).unwrap();
        // Read back by another connection: it is on disk.
        let other = SqliteStore::open(&path).unwrap();
        assert_eq!(other.host_by_name("a").unwrap(), Some(a.clone()));
        assert_eq!(other.hosts().unwrap(), vec![a, b.clone()]);
        assert!(store.delete_host(0).unwrap());
        assert!(!store.delete_host(0).unwrap());
        // Ids are never reused.
        assert_eq!(store.create_host(new_host("c")).unwrap().unwrap().id, 2);
        assert_eq!(other.host(1).unwrap(), Some(b));
    }
}
