//! Terminating a VM, which can outlast the call. A soft terminate of a
//! running guest presses its power button and records a deadline: the
//! polls that follow finish it once the guest is off, or quit QEMU once
//! the deadline has passed. A hard one, or a soft one of a guest that is
//! not running, quits QEMU at once (SIGKILL if it does not go). Either
//! ends with the VM's files removed.

use super::QemuDriver;
use super::actions::QMP_TIMEOUT_MS;
use super::exchange::QmpFailure;
use super::supervise::{Proc, STARTUP_GRACE_MS};
use crate::args;
use crate::host::Host;
use crate::qmp;
use crate::store::{Store, VmRecord};
use flotilla_plugin_sdk::driver::Error;
use flotilla_plugin_sdk::log;

/// How long a soft terminate waits for the guest to power off.
const TERMINATE_GRACE_MS: u64 = 10_000;

impl<H: Host> QemuDriver<H> {
    /// Terminate the VM: soft, it asks the guest to power off and leaves
    /// the rest to polls (or to a later terminate after the deadline).
    pub(super) fn terminate(
        &mut self,
        store: &Store,
        rec: &mut VmRecord,
        hard: bool,
    ) -> Result<(), Error> {
        let pid = match self.process(rec) {
            Proc::NotStarted | Proc::Gone => return self.finish_terminate(store, rec),
            Proc::Unknown(e) => return Err(e),
            Proc::Alive(_) => rec.pid.unwrap_or(0),
        };
        let now = self.now();
        let past_deadline = rec.terminate_deadline_ms.is_some_and(|d| now >= d);
        if !hard && !past_deadline {
            match self.query_status(store, rec, QMP_TIMEOUT_MS) {
                Ok(run_state) if run_state == "running" => {
                    // The deadline first: a poll that finds the guest off
                    // must know it is a terminate.
                    if rec.terminate_deadline_ms.is_none() {
                        rec.terminate_deadline_ms = Some(now.saturating_add(TERMINATE_GRACE_MS));
                        store.save(rec)?;
                    }
                    let socket = args::qmp_socket(&store.vm_dir(&rec.id));
                    self.qmp(&socket, &[qmp::command("system_powerdown")], QMP_TIMEOUT_MS)
                        .map_err(|f| f.into_error(&rec.id))?;
                    return Ok(());
                }
                // Paused, powered off by the guest, stopped by an error:
                // nothing would answer the power button; quit it.
                Ok(_) => {}
                Err(QmpFailure::NotListening(_))
                    if now >= rec.started_ms.saturating_add(STARTUP_GRACE_MS) =>
                {
                    return self.finish_terminate(store, rec);
                }
                Err(QmpFailure::NotListening(_)) => {}
                // QMP hangs: ask the process to end (QEMU exits on
                // SIGTERM); a poll after the deadline kills it.
                Err(QmpFailure::Failed(e)) => {
                    log::warn(&format!(
                        "VM {}: QMP does not answer ({e}); sending SIGTERM",
                        rec.id
                    ));
                    self.host.kill(pid, false)?;
                    if rec.terminate_deadline_ms.is_none() {
                        rec.terminate_deadline_ms = Some(now.saturating_add(TERMINATE_GRACE_MS));
                        store.save(rec)?;
                    }
                    return Ok(());
                }
            }
        }
        if self.stop_qemu(store, rec) {
            self.finish_terminate(store, rec)
        } else {
            Err(Error::Unavailable(format!(
                "VM {}: QEMU (pid {pid}) did not stop",
                rec.id
            )))
        }
    }

    /// A terminated VM: nothing of it is left.
    pub(super) fn finish_terminate(
        &mut self,
        store: &Store,
        rec: &mut VmRecord,
    ) -> Result<(), Error> {
        rec.terminated = true;
        rec.terminate_deadline_ms = None;
        rec.powered_off = false;
        self.cpu.remove(&rec.id);
        if let Err(e) = store.forget(&rec.id, &rec.operation_id) {
            // Kept as terminated, so it is not taken for a live VM.
            log::warn(&format!("VM {}: removing its files: {e}", rec.id));
            store.save(rec)?;
        }
        log::info(&format!("VM {}: terminated", rec.id));
        Ok(())
    }
}
