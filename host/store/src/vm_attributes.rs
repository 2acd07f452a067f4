//! What VMs report about themselves through OneGate (`READY=YES`, an
//! application's values): kept per VM, keyed by the service and the VM's
//! operation id, so it outlives a restart and goes with the VM.

use super::SqliteStore;
use rusqlite::params;
use serde_json::{Map, Value};

/// One VM's reported attributes.
pub type VmReport = (u64, String, Map<String, Value>);

pub trait VmAttributes {
    /// Write these VMs' attributes (each replaces what was there), in one
    /// transaction.
    fn save_vm_attributes(&self, reports: &[VmReport]) -> anyhow::Result<()>;

    /// Every VM's attributes.
    fn vm_attributes(&self) -> anyhow::Result<Vec<VmReport>>;

    /// Forget the attributes of a service's VMs that `keep` refuses (all
    /// of them when it keeps nothing). Returns how many.
    fn forget_vm_attributes(
        &self,
        service_id: u64,
        keep: &dyn Fn(&str) -> bool,
    ) -> anyhow::Result<usize>;
}

impl VmAttributes for SqliteStore {
    fn save_vm_attributes(&self, reports: &[VmReport]) -> anyhow::Result<()> {
        self.in_transaction(|| -> anyhow::Result<()> {
            let mut stmt = self.db.prepare_cached(
                "INSERT OR REPLACE INTO vm_attributes (service_id, operation_id, body) VALUES (?1, ?2, ?3)",
            )?;
            for (service, operation, attributes) in reports {
                stmt.execute(params![
                    *service as i64,
                    operation,
                    serde_json::to_string(attributes)?
                ])?;
            }
            Ok(())
        })
    }

    fn vm_attributes(&self) -> anyhow::Result<Vec<VmReport>> {
        let mut stmt = self
            .db
            .prepare("SELECT service_id, operation_id, body FROM vm_attributes")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (service, operation, body) = row?;
            out.push((service, operation, serde_json::from_str(&body)?));
        }
        Ok(out)
    }

    fn forget_vm_attributes(
        &self,
        service_id: u64,
        keep: &dyn Fn(&str) -> bool,
    ) -> anyhow::Result<usize> {
        let operations: Vec<String> = self
            .db
            .prepare_cached("SELECT operation_id FROM vm_attributes WHERE service_id = ?1")?
            .query_map(params![service_id as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut forgotten = 0;
        for op in operations.iter().filter(|op| !keep(op)) {
            forgotten += self
                .db
                .prepare_cached(
                    "DELETE FROM vm_attributes WHERE service_id = ?1 AND operation_id = ?2",
                )?
                .execute(params![service_id as i64, op])?;
        }
        Ok(forgotten)
    }
}
