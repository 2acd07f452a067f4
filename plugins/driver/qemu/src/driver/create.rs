//! Creating VMs: a template checked and planned before anything is
//! written, the VM's record, context and disks, then its QEMU started.
//! A create is idempotent per operation id (a retry after a crash finds
//! the same VM and starts what is missing); a batch starts every QEMU
//! first and waits once for them all.

use super::QemuDriver;
use super::supervise::{Proc, Starting};
use crate::args;
use crate::context;
use crate::host::Host;
use crate::store::{self, Store, VmRecord};
use crate::template::{DiskFormat, Launch, Template};
use flotilla_plugin_sdk::driver::{Error, VmSpec};
use flotilla_plugin_sdk::log;

/// How long a batch of creates waits, once, before checking its QEMUs.
const BATCH_SETTLE_MS: u64 = 300;
/// A VM whose create never got as far as starting QEMU is FAILED after this.
pub(super) const CREATE_STALL_MS: u64 = 60_000;

impl<H: Host> QemuDriver<H> {
    /// Make the VM of `spec` (its record, context, disks) and start its
    /// QEMU; a create repeated for the same operation is the same VM.
    pub(super) fn create_vm(&mut self, spec: VmSpec, starting: Starting) -> Result<String, Error> {
        let settings = self.settings()?;
        if spec.operation_id.trim().is_empty() {
            return Err(Error::InvalidInput(
                "operation-id: must not be empty".into(),
            ));
        }
        let template = Template::parse(&spec.template)?;
        // Checked before anything is written: a refused template leaves
        // nothing behind.
        let onegate = context::build(&template.context, "", settings.onegate_port).onegate;
        let disk_formats: Vec<Option<DiskFormat>> = template
            .disks
            .iter()
            .map(|d| {
                Some(DiskFormat::resolve(
                    d.format,
                    store::magic(&d.base).as_deref(),
                    &d.base,
                ))
            })
            .collect();
        let launch = Launch::plan(&template, &settings, &disk_formats, onegate)?;

        let store = Store::new(&settings.state_dir);
        store.check_reachable()?;
        let id = match store.lookup_op(&spec.operation_id)? {
            Some(id) => {
                if let Some(mut rec) = store.load(&id)? {
                    return self.resume_create(&store, &mut rec, starting).map(|()| id);
                }
                // The operation was recorded, its VM not: make it now.
                id
            }
            None => {
                let id = store.allocate()?;
                store.record_op(&spec.operation_id, &id)?;
                id
            }
        };

        let untargeted = template.nics - template.taps.len();
        if untargeted > 0 && (untargeted > 1 || !template.taps.is_empty()) {
            log::info(&format!(
                "VM {id}: {untargeted} NIC(s) without a TARGET get no device of their own \
                 (a NIC is attached to the tap its network's plumbing made)"
            ));
        }
        let context = context::build(&template.context, &id, settings.onegate_port);
        if context.onegate.is_none() && context.script.contains("\nONEGATE_ENDPOINT=") {
            log::warn(&format!(
                "VM {id}: ONEGATE_ENDPOINT is not a loopback http URL and onegate_port is not \
                 set: the guest's restricted network cannot reach it"
            ));
        }
        let now = self.now();
        let mut rec = VmRecord {
            id: id.clone(),
            operation_id: spec.operation_id,
            name: spec.vm_name,
            service_id: spec.service_id,
            role_name: spec.role_name,
            pid: None,
            created_ms: now,
            started_ms: 0,
            hold: spec.hold,
            terminated: false,
            powered_off: false,
            terminate_deadline_ms: None,
            disk_ready: false,
            template: launch,
        };
        std::fs::create_dir_all(store.vm_dir(&id))
            .map_err(|e| Error::Unavailable(format!("creating {}: {e}", store.vm_dir(&id))))?;
        store.write_context(&id, &context)?;
        store.save(&rec)?;
        self.prepare_disks(&store, &mut rec)?;
        self.start(&store, &mut rec, starting)?;
        Ok(id)
    }

    /// A create repeated for an operation that already has its VM: the
    /// same VM, started again if its QEMU is not running (the first call
    /// crashed before or after starting it).
    fn resume_create(
        &mut self,
        store: &Store,
        rec: &mut VmRecord,
        starting: Starting,
    ) -> Result<(), Error> {
        if rec.terminated || rec.powered_off {
            return Ok(());
        }
        match self.process(rec) {
            Proc::Alive(_) => Ok(()),
            Proc::Unknown(e) => Err(e),
            Proc::NotStarted | Proc::Gone => {
                log::info(&format!(
                    "VM {}: create repeated and QEMU is not running: starting it",
                    rec.id
                ));
                self.prepare_disks(store, rec)?;
                self.start(store, rec, starting)
            }
        }
    }

    /// A VM started without waiting: fine unless its QEMU already exited.
    fn check_started(&mut self, id: &str) -> Result<(), Error> {
        let settings = self.settings()?;
        let store = Store::new(&settings.state_dir);
        let Some(rec) = store.load(id)? else {
            return Ok(());
        };
        if rec.terminated || !matches!(self.process(&rec), Proc::Gone) {
            return Ok(());
        }
        let dir = store.vm_dir(&rec.id);
        let qemu_args = args::qemu_args(&rec.id, &dir, &rec.template, rec.hold);
        Err(self.why_exited(&rec.id, &qemu_args))
    }

    /// Every QEMU of the batch is started first; then one short wait, and
    /// a QEMU that exited as it started fails its own create, saying why.
    pub(super) fn create_batch(&mut self, specs: Vec<VmSpec>) -> Vec<Result<String, Error>> {
        let created: Vec<Result<String, Error>> = specs
            .into_iter()
            .map(|spec| self.create_vm(spec, Starting::InBatch))
            .collect();
        if created.iter().any(Result::is_ok) {
            self.host.sleep_ms(BATCH_SETTLE_MS);
        }
        created
            .into_iter()
            .map(|outcome| {
                let id = outcome?;
                self.check_started(&id)?;
                Ok(id)
            })
            .collect()
    }
}
