//! The simulated hypervisor's VMs and hosts on disk, so they outlive a
//! restart of the process that hosts it.

use super::model::{Host, Vm};
use anyhow::Context as _;
use rusqlite::{Connection, params};
use std::path::Path;

/// Tables are created when missing, so a database written before hosts
/// existed opens with none.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS vms (
        id INTEGER PRIMARY KEY,
        operation_id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS hosts (
        name TEXT PRIMARY KEY,
        body TEXT NOT NULL
    );";

pub struct VmStore {
    db: Connection,
}

impl VmStore {
    pub fn open(path: &Path) -> anyhow::Result<VmStore> {
        let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.execute_batch(SCHEMA)?;
        Ok(VmStore { db })
    }

    pub fn in_memory() -> anyhow::Result<VmStore> {
        let db = Connection::open_in_memory()?;
        db.execute_batch(SCHEMA)?;
        Ok(VmStore { db })
    }

    pub fn load_hosts(&self) -> anyhow::Result<Vec<Host>> {
        let mut stmt = self.db.prepare("SELECT body FROM hosts ORDER BY name")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        let mut hosts = Vec::new();
        for body in rows {
            hosts.push(serde_json::from_str(&body?).context("a stored host is not readable")?);
        }
        Ok(hosts)
    }

    pub fn save_host(&self, host: &Host) -> anyhow::Result<()> {
        let body = serde_json::to_string(host)?;
        self.db
            .prepare_cached("INSERT OR REPLACE INTO hosts (name, body) VALUES (?1, ?2)")?
            .execute(params![host.name, body])?;
        Ok(())
    }

    pub fn load(&self) -> anyhow::Result<Vec<Vm>> {
        let mut stmt = self.db.prepare("SELECT body FROM vms ORDER BY id")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        let mut vms = Vec::new();
        for body in rows {
            vms.push(serde_json::from_str(&body?).context("a stored VM is not readable")?);
        }
        Ok(vms)
    }

    pub fn save(&self, vm: &Vm) -> anyhow::Result<()> {
        save(&self.db, vm)
    }

    /// Write many VMs in one transaction (a batch of creates): one commit
    /// rather than one per VM.
    pub fn save_all<'a>(&mut self, vms: impl IntoIterator<Item = &'a Vm>) -> anyhow::Result<()> {
        let tx = self.db.transaction()?;
        for vm in vms {
            save(&tx, vm)?;
        }
        tx.commit()?;
        Ok(())
    }
}

fn save(db: &Connection, vm: &Vm) -> anyhow::Result<()> {
    let body = serde_json::to_string(vm)?;
    db.prepare_cached("INSERT OR REPLACE INTO vms (id, operation_id, body) VALUES (?1, ?2, ?3)")?
        .execute(params![vm.id as i64, vm.operation_id, body])?;
    Ok(())
}
