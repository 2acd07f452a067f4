//! The fleet's hosts: one row each, the record as JSON beside its unique
//! name, so a lookup by name is an index and a second host of the same
//! name is refused by the database as well as by the caller.

use super::SqlStore;
use crate::database::{Database, params};
use flotilla_core::fleet::{Host, NewHost};

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

impl<D: Database> Hosts for SqlStore<D> {
    fn create_host(&self, new: NewHost) -> anyhow::Result<Option<Host>> {
        self.in_transaction(|| -> anyhow::Result<Option<Host>> {
            if self.host_by_name(&new.name)?.is_some() {
                return Ok(None);
            }
            let id = self.next_id("hosts")?;
            let host = Host::new(id, new);
            self.db.execute(
                "INSERT INTO hosts (id, name, body) VALUES (?1, ?2, ?3)",
                params![id, host.name.as_str(), serde_json::to_string(&host)?],
            )?;
            Ok(Some(host))
        })
    }

    fn hosts(&self) -> anyhow::Result<Vec<Host>> {
        self.db
            .query_texts("SELECT body FROM hosts ORDER BY id", params![])?
            .into_iter()
            .map(read)
            .collect()
    }

    fn host(&self, id: u64) -> anyhow::Result<Option<Host>> {
        self.db
            .query_text("SELECT body FROM hosts WHERE id = ?1", params![id])?
            .map(read)
            .transpose()
    }

    fn host_by_name(&self, name: &str) -> anyhow::Result<Option<Host>> {
        self.db
            .query_text("SELECT body FROM hosts WHERE name = ?1", params![name])?
            .map(read)
            .transpose()
    }

    fn save_host(&self, host: &Host) -> anyhow::Result<()> {
        let changed = self.db.execute(
            "UPDATE hosts SET body = ?2 WHERE id = ?1",
            params![host.id, serde_json::to_string(host)?],
        )?;
        anyhow::ensure!(changed == 1, "host {} does not exist", host.id);
        Ok(())
    }

    fn delete_host(&self, id: u64) -> anyhow::Result<bool> {
        Ok(self
            .db
            .execute("DELETE FROM hosts WHERE id = ?1", params![id])?
            == 1)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use flotilla_core::fleet::{HostState, NewHost};

    fn new_host(name: &str) -> NewHost {
        NewHost {
            name: name.into(),
            driver: "sim".into(),
            address: format!("sim:{name}"),
            labels: Default::default(),
        }
    }

    on_every_engine! {
        fn hosts_are_created_read_saved_and_deleted(db) {
            let store = db.open();
            let mut a = store.create_host(new_host("a")).unwrap().unwrap();
            let b = store.create_host(new_host("b")).unwrap().unwrap();
            assert_eq!((a.id, b.id, a.state), (0, 1, HostState::Init));
            assert!(store.create_host(new_host("a")).unwrap().is_none());
            a.state = HostState::Monitored;
            store.save_host(&a).unwrap();
            // Read back by another connection: it is stored.
            let other = db.open();
            assert_eq!(other.host_by_name("a").unwrap(), Some(a.clone()));
            assert_eq!(other.hosts().unwrap(), vec![a, b.clone()]);
            assert!(store.delete_host(0).unwrap());
            assert!(!store.delete_host(0).unwrap());
            // Ids are never reused.
            assert_eq!(store.create_host(new_host("c")).unwrap().unwrap().id, 2);
            assert_eq!(other.host(1).unwrap(), Some(b));
        }
    }
}
