//! What VMs report about themselves through OneGate (`READY=YES`, an
//! application's values): kept per VM, keyed by the service and the VM's
//! operation id, so it outlives a restart and goes with the VM.

use super::SqlStore;
use crate::database::{Database, params};
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

impl<D: Database> VmAttributes for SqlStore<D> {
    fn save_vm_attributes(&self, reports: &[VmReport]) -> anyhow::Result<()> {
        self.in_transaction(|| -> anyhow::Result<()> {
            for (service, operation, attributes) in reports {
                self.db.execute(
                    "INSERT INTO vm_attributes (service_id, operation_id, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (service_id, operation_id) DO UPDATE SET body = excluded.body",
                    params![*service, operation, serde_json::to_string(attributes)?],
                )?;
            }
            Ok(())
        })
    }

    fn vm_attributes(&self) -> anyhow::Result<Vec<VmReport>> {
        self.db
            .query(
                "SELECT service_id, operation_id, body FROM vm_attributes",
                params![],
            )?
            .into_iter()
            .map(|mut r| Ok((r.id(0)?, r.text(1)?, serde_json::from_str(&r.text(2)?)?)))
            .collect()
    }

    fn forget_vm_attributes(
        &self,
        service_id: u64,
        keep: &dyn Fn(&str) -> bool,
    ) -> anyhow::Result<usize> {
        self.in_transaction(|| {
            let operations = self.db.query_texts(
                "SELECT operation_id FROM vm_attributes WHERE service_id = ?1",
                params![service_id],
            )?;
            let mut forgotten = 0;
            for op in operations.iter().filter(|op| !keep(op)) {
                forgotten += self.db.execute(
                    "DELETE FROM vm_attributes WHERE service_id = ?1 AND operation_id = ?2",
                    params![service_id, op],
                )?;
            }
            Ok(forgotten as usize)
        })
    }
}
