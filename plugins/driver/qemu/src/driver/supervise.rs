//! Supervision of each VM's QEMU process: starting it (and saying why it
//! would not run), telling whether it still runs, and stopping it. The
//! host only knows pids; this is where a pid is checked against the VM's
//! QMP socket before it is signalled, and where a start waits for QEMU.

use super::QemuDriver;
use super::exchange::QmpFailure;
use crate::args::{self, QEMU};
use crate::host::Host;
use crate::qmp;
use crate::store::{Store, VmRecord};
use flotilla_plugin_sdk::driver::Error;
use flotilla_plugin_sdk::log;

/// How long a new QEMU may take to answer on its QMP socket.
pub(super) const STARTUP_GRACE_MS: u64 = 10_000;
/// How long a start waits for QMP to answer before it returns.
const START_WAIT_MS: u64 = 2_000;
/// How long QEMU gets to exit after `quit`, before SIGKILL.
const QUIT_WAIT_MS: u64 = 3_000;

/// Whether a start waits for its QEMU to answer on QMP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Starting {
    /// A create or a resume on its own: it waits (briefly), and a QEMU
    /// that exits at once fails it.
    Alone,
    /// One create of a batch: it does not wait; the batch waits once for
    /// them all (waiting for each in turn would make a round of 64 creates
    /// outlast the call's deadline).
    InBatch,
}

/// What the host says of a VM's QEMU process.
pub(super) enum Proc {
    /// No pid recorded: the create has not started QEMU (yet).
    NotStarted,
    Gone,
    Alive(flotilla_plugin_sdk::process::Stats),
    Unknown(Error),
}

/// The last few lines of a program's output, on one line.
pub(super) fn tail(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(3);
    let text = lines[start..].join(" | ");
    if text.is_empty() {
        "no output".into()
    } else {
        text
    }
}

impl<H: Host> QemuDriver<H> {
    /// What the host says of the VM's QEMU process now.
    pub(super) fn process(&mut self, rec: &VmRecord) -> Proc {
        let Some(pid) = rec.pid else {
            return Proc::NotStarted;
        };
        match self.host.stats(pid) {
            Ok(s) if s.alive => Proc::Alive(s),
            Ok(_) | Err(Error::NotFound(_)) => Proc::Gone,
            Err(e) => Proc::Unknown(e),
        }
    }

    /// The process has exited.
    fn gone(&mut self, pid: u32) -> bool {
        match self.host.stats(pid) {
            Ok(s) => !s.alive,
            Err(Error::NotFound(_)) => true,
            Err(_) => false,
        }
    }

    /// Wait up to `ms` for the process to exit; false if it still runs.
    fn wait_gone(&mut self, pid: u32, ms: u64) -> bool {
        let deadline = self.now().saturating_add(ms);
        loop {
            if self.gone(pid) {
                return true;
            }
            if self.now() >= deadline {
                return false;
            }
            self.host.sleep_ms(50);
        }
    }

    /// Stop the VM's QEMU: QMP `quit`, SIGKILL if it does not go. True
    /// when no QEMU of this VM runs any more. A pid whose QMP socket has
    /// nobody listening (after the start-up grace) is not this VM's QEMU
    /// (the pid was reused): it is not signalled.
    pub(super) fn stop_qemu(&mut self, store: &Store, rec: &VmRecord) -> bool {
        let Some(pid) = rec.pid else {
            return true;
        };
        let socket = args::qmp_socket(&store.vm_dir(&rec.id));
        match self.qmp(&socket, &[qmp::command("quit")], QUIT_WAIT_MS as u32) {
            Err(QmpFailure::NotListening(_))
                if self.now() >= rec.started_ms.saturating_add(STARTUP_GRACE_MS) =>
            {
                return true;
            }
            Err(QmpFailure::NotListening(_)) => {
                let _ = self.host.kill(pid, true);
            }
            // After `quit` QEMU may close the socket before it answers.
            Ok(_) | Err(QmpFailure::Failed(_)) => {}
        }
        if self.wait_gone(pid, QUIT_WAIT_MS) {
            return true;
        }
        log::warn(&format!(
            "VM {}: QEMU (pid {pid}) did not quit; killing it",
            rec.id
        ));
        let _ = self.host.kill(pid, true);
        self.wait_gone(pid, 1_000)
    }

    /// A QEMU still holding this VM's socket that no record knows of (a
    /// create that crashed between starting it and recording its pid):
    /// quit it, so the VM's files are free for the one about to start.
    fn evict_orphan(&mut self, store: &Store, id: &str) {
        if !store.socket_exists(id) {
            return;
        }
        let socket = args::qmp_socket(&store.vm_dir(id));
        if let Err(QmpFailure::NotListening(_)) =
            self.qmp(&socket, &[qmp::command("quit")], QUIT_WAIT_MS as u32)
        {
            return; // a stale socket file
        }
        log::warn(&format!(
            "VM {id}: quit a QEMU left over from an earlier start"
        ));
        let deadline = self.now().saturating_add(QUIT_WAIT_MS);
        while self.now() < deadline {
            self.host.sleep_ms(100);
            if let Err(QmpFailure::NotListening(_)) = self.qmp(&socket, &[], 500) {
                return;
            }
        }
    }

    /// Start the VM's QEMU. [`Starting::Alone`], wait (briefly) until it
    /// answers on QMP; a QEMU that exits meanwhile is run again to say why
    /// (a detached process's output is not kept). [`Starting::InBatch`],
    /// return once it is spawned.
    pub(super) fn start(
        &mut self,
        store: &Store,
        rec: &mut VmRecord,
        starting: Starting,
    ) -> Result<(), Error> {
        self.evict_orphan(store, &rec.id);
        let dir = store.vm_dir(&rec.id);
        let qemu_args = args::qemu_args(&rec.id, &dir, &rec.template, rec.hold);
        let pid = self.host.spawn(QEMU, &qemu_args)?;
        rec.pid = Some(pid);
        rec.started_ms = self.now();
        rec.powered_off = false;
        store.save(rec)?;
        self.cpu.remove(&rec.id);
        log::info(&format!("VM {}: QEMU started, pid {pid}", rec.id));
        if starting == Starting::InBatch {
            return Ok(());
        }

        let deadline = self.now().saturating_add(START_WAIT_MS);
        loop {
            match self.process(rec) {
                Proc::Gone => return Err(self.why_exited(&rec.id, &qemu_args)),
                Proc::Alive(_) => {}
                // Cannot tell: poll will.
                Proc::NotStarted | Proc::Unknown(_) => return Ok(()),
            }
            if self.query_status(store, rec, 500).is_ok() || self.now() >= deadline {
                return Ok(());
            }
            self.host.sleep_ms(50);
        }
    }

    /// Why a QEMU exited as it started: it is run again, attached, for
    /// its output.
    pub(super) fn why_exited(&mut self, id: &str, qemu_args: &[String]) -> Error {
        match self.host.run(QEMU, qemu_args, 3_000) {
            Ok(f) => Error::Unavailable(format!(
                "VM {id}: QEMU exited as it started (exit {}): {}",
                f.exit_code,
                tail(&f.output)
            )),
            Err(Error::Denied(m)) => Error::Denied(m),
            Err(e) => Error::Unavailable(format!(
                "VM {id}: QEMU exited as it started; started again to see why, it did not fail \
                 ({e})"
            )),
        }
    }
}
