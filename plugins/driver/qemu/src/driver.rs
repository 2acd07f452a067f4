//! The driver: VMs as QEMU processes, their state in files, their control
//! through QMP. Everything it asks of the host goes through [`Host`].

use crate::args::{self, QEMU, QEMU_IMG};
use crate::context;
use crate::host::Host;
use crate::monitor::{Sample, cpu_percent};
use crate::qmp::{self, Reply};
use crate::settings::Settings;
use crate::store::{self, Store, VmRecord};
use crate::template::{DiskFormat, Launch, Template};
use flotilla_plugin_sdk::driver::*;
use flotilla_plugin_sdk::log;
use std::collections::HashMap;

pub const DESCRIPTION: &str =
    "Runs each VM as a QEMU process on this host (TCG, or KVM when /dev/kvm works), through QMP";

/// QMP for an action.
const QMP_TIMEOUT_MS: u32 = 5_000;
/// QMP for one VM of a poll (a poll asks every VM in turn).
const POLL_QMP_TIMEOUT_MS: u32 = 2_000;
/// savevm / loadvm / delvm: they copy the guest's memory.
const SNAPSHOT_TIMEOUT_MS: u32 = 20_000;
const QEMU_IMG_TIMEOUT_MS: u32 = 20_000;
/// How long a soft terminate waits for the guest to power off.
const TERMINATE_GRACE_MS: u64 = 10_000;
/// How long a new QEMU may take to answer on its QMP socket.
const STARTUP_GRACE_MS: u64 = 10_000;
/// How long `create` waits for QMP to answer before it returns.
const START_WAIT_MS: u64 = 2_000;
/// How long a batch of creates waits, once, before checking its QEMUs.
const BATCH_SETTLE_MS: u64 = 300;
/// How long QEMU gets to exit after `quit`, before SIGKILL.
const QUIT_WAIT_MS: u64 = 3_000;
/// A VM whose create never got as far as starting QEMU is FAILED after this.
const CREATE_STALL_MS: u64 = 60_000;
/// A poll stops asking QMP after this (a driver call has 30 s by default);
/// the VMs left are UNKNOWN.
const POLL_BUDGET_MS: u64 = 20_000;

pub struct QemuDriver<H: Host> {
    host: H,
    /// The previous CPU sample of each VM, for the CPU percentage.
    cpu: HashMap<String, Sample>,
    /// Inside `create_many`: start each QEMU without waiting for it; the
    /// batch waits once for them all (waiting for each in turn would make
    /// a round of 64 creates outlast the call's deadline).
    batch: bool,
}

/// How a QMP exchange failed.
enum QmpFailure {
    /// Nobody listens on the socket: no QEMU of this VM runs.
    NotListening(String),
    Failed(Error),
}

impl QmpFailure {
    fn into_error(self, id: &str) -> Error {
        match self {
            QmpFailure::NotListening(m) => Error::Unavailable(format!(
                "VM {id}: QEMU does not answer on its QMP socket: {m}"
            )),
            QmpFailure::Failed(e) => e,
        }
    }
}

/// What the host says of a VM's QEMU process.
enum Proc {
    /// No pid recorded: the create has not started QEMU (yet).
    NotStarted,
    Gone,
    Alive(flotilla_plugin_sdk::process::Stats),
    Unknown(Error),
}

fn status(id: &str, state: VmState, reason: Option<String>) -> VmStatus {
    VmStatus {
        id: id.to_string(),
        state,
        monitoring: Vec::new(),
        user_attributes: Vec::new(),
        reason,
    }
}

/// The last few lines of a program's output, on one line.
fn tail(output: &str) -> String {
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

/// A snapshot name the human monitor takes as one word.
fn snapshot_name(name: &str) -> Result<String, Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(Error::InvalidInput(format!(
            "name: `{name}` is not a snapshot name (1 to 64 letters, digits, `-`, `_` or `.`)"
        )))
    }
}

/// The actions this driver does not do, and why.
fn unsupported(action: VmAction) -> Option<Error> {
    use VmAction::*;
    let why = match action {
        Undeploy | UndeployHard => {
            "the qemu driver keeps no VM off this host; use poweroff (files kept) or terminate"
        }
        DiskSnapshotCreate | DiskSnapshotRevert | DiskSnapshotDelete => {
            "disk snapshots are not implemented; snapshot-create saves the whole VM"
        }
        _ => return None,
    };
    Some(Error::Unsupported(format!("{}: {why}", action.as_str())))
}

impl<H: Host> QemuDriver<H> {
    pub fn with_host(host: H) -> Self {
        QemuDriver {
            host,
            cpu: HashMap::new(),
            batch: false,
        }
    }

    fn settings(&self) -> Result<Settings, Error> {
        Settings::from_lookup(|k| self.host.config(k))
    }

    fn now(&self) -> u64 {
        self.host.now_ms()
    }

    // ------------------------------------------------------------ QMP

    /// Negotiate, then send `commands`: their answers, in order.
    fn qmp(
        &mut self,
        socket: &str,
        commands: &[String],
        timeout_ms: u32,
    ) -> Result<Vec<Reply>, QmpFailure> {
        let mut requests = Vec::with_capacity(commands.len() + 1);
        requests.push(qmp::capabilities());
        requests.extend(commands.iter().cloned());
        let answers = self
            .host
            .exchange(socket, &requests, timeout_ms)
            .map_err(|e| match e {
                Error::Unavailable(m) if m.starts_with("connecting to") => {
                    QmpFailure::NotListening(m)
                }
                e => QmpFailure::Failed(e),
            })?;
        if answers.len() != requests.len() {
            return Err(QmpFailure::Failed(Error::Other(format!(
                "QMP answered {} of {} requests",
                answers.len(),
                requests.len()
            ))));
        }
        let mut replies = answers
            .iter()
            .map(|a| qmp::parse_reply(a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QmpFailure::Failed(Error::Other(e)))?;
        if let Reply::Error { class, desc } = replies.remove(0) {
            return Err(QmpFailure::Failed(Error::Other(format!(
                "QMP qmp_capabilities: {class}: {desc}"
            ))));
        }
        Ok(replies)
    }

    fn query_status(
        &mut self,
        store: &Store,
        rec: &VmRecord,
        timeout_ms: u32,
    ) -> Result<String, QmpFailure> {
        let socket = args::qmp_socket(&store.vm_dir(&rec.id));
        let replies = self.qmp(&socket, &[qmp::command("query-status")], timeout_ms)?;
        replies
            .first()
            .ok_or_else(|| QmpFailure::Failed(Error::Other("no answer to query-status".into())))
            .and_then(|r| qmp::run_state(r).map_err(|m| QmpFailure::Failed(Error::Other(m))))
    }

    // ------------------------------------------------------------ processes

    fn process(&mut self, rec: &VmRecord) -> Proc {
        let Some(pid) = rec.pid else {
            return Proc::NotStarted;
        };
        match self.host.stats(pid) {
            Ok(s) if s.alive => Proc::Alive(s),
            Ok(_) | Err(Error::NotFound(_)) => Proc::Gone,
            Err(e) => Proc::Unknown(e),
        }
    }

    fn gone(&mut self, pid: u32) -> bool {
        match self.host.stats(pid) {
            Ok(s) => !s.alive,
            Err(Error::NotFound(_)) => true,
            Err(_) => false,
        }
    }

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
    fn stop_qemu(&mut self, store: &Store, rec: &VmRecord) -> bool {
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

    /// Start the VM's QEMU and wait (briefly) until it answers on QMP. A
    /// QEMU that exits at once is run again to say why (a detached
    /// process's output is not kept).
    fn start(&mut self, store: &Store, rec: &mut VmRecord) -> Result<(), Error> {
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
        if self.batch {
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

    fn why_exited(&mut self, id: &str, qemu_args: &[String]) -> Error {
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

    /// Make the VM's overlays, one per disk, unless they are made.
    fn prepare_disks(&mut self, store: &Store, rec: &mut VmRecord) -> Result<(), Error> {
        if rec.template.disks.is_empty() || rec.disk_ready {
            return Ok(());
        }
        store.remove_overlays(&rec.id)?;
        let vm_dir = store.vm_dir(&rec.id);
        for (i, disk) in rec.template.disks.clone().iter().enumerate() {
            let img_args = args::qemu_img_args(disk.format, &disk.base, &vm_dir, i);
            let out = self.host.run(QEMU_IMG, &img_args, QEMU_IMG_TIMEOUT_MS)?;
            if out.exit_code != 0 {
                return Err(Error::InvalidInput(format!(
                    "DISK[{i}]: qemu-img could not make an overlay on `{}` ({}): {}",
                    disk.base,
                    disk.format.as_str(),
                    tail(&out.output)
                )));
            }
        }
        rec.disk_ready = true;
        store.save(rec)
    }

    /// A terminated VM: nothing of it is left.
    fn finish_terminate(&mut self, store: &Store, rec: &mut VmRecord) -> Result<(), Error> {
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

    // ------------------------------------------------------------ create

    fn create_vm(&mut self, spec: VmSpec) -> Result<String, Error> {
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
                    return self.resume_create(&store, &mut rec).map(|()| id);
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

        if template.nics > 1 {
            log::info(&format!(
                "VM {id}: one user-network NIC for now; {} more NIC(s) ignored",
                template.nics - 1
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
        self.start(&store, &mut rec)?;
        Ok(id)
    }

    /// A create repeated for an operation that already has its VM: the
    /// same VM, started again if its QEMU is not running (the first call
    /// crashed before or after starting it).
    fn resume_create(&mut self, store: &Store, rec: &mut VmRecord) -> Result<(), Error> {
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
                self.start(store, rec)
            }
        }
    }

    // ------------------------------------------------------------ poll

    fn metrics(&mut self, id: &str, stats: flotilla_plugin_sdk::process::Stats) -> Vec<Metric> {
        let sample = Sample {
            cpu_ms: stats.cpu_ms,
            wall_ms: self.now(),
        };
        let previous = self.cpu.insert(id.to_string(), sample);
        vec![
            Metric::new("CPU", cpu_percent(previous, sample)),
            Metric::new("MEMORY", stats.rss_kib as f64),
        ]
    }

    /// The state of one VM, advancing a terminate under way and reaping a
    /// guest that powered itself off.
    fn observe(&mut self, store: &Store, id: &str, monitor: bool) -> VmStatus {
        let mut rec = match store.load(id) {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                return status(
                    id,
                    VmState::Done,
                    Some(format!("VM {id} is not a VM of the qemu driver")),
                );
            }
            Err(e) => return status(id, VmState::Unknown, Some(e.to_string())),
        };
        if rec.terminated {
            return status(id, VmState::Done, Some("terminated".into()));
        }
        let now = self.now();
        match self.process(&rec) {
            Proc::NotStarted if now >= rec.created_ms.saturating_add(CREATE_STALL_MS) => status(
                id,
                VmState::Failed,
                Some("the create of this VM did not finish: QEMU was never started".into()),
            ),
            Proc::NotStarted => status(id, VmState::Pending, Some("being created".into())),
            Proc::Unknown(e) => status(
                id,
                VmState::Unknown,
                Some(format!("QEMU process {}: {e}", rec.pid.unwrap_or(0))),
            ),
            Proc::Gone => self.observe_gone(store, &mut rec, None),
            Proc::Alive(stats) => {
                let monitoring = if monitor {
                    self.metrics(id, stats)
                } else {
                    Vec::new()
                };
                let mut s = match self.query_status(store, &rec, POLL_QMP_TIMEOUT_MS) {
                    Err(QmpFailure::NotListening(_))
                        if now < rec.started_ms.saturating_add(STARTUP_GRACE_MS) =>
                    {
                        status(id, VmState::Pending, Some("QEMU is starting".into()))
                    }
                    Err(QmpFailure::NotListening(m)) => {
                        let note = format!(
                            "nothing answers on the VM's QMP socket ({m}); pid {} is not its QEMU",
                            rec.pid.unwrap_or(0)
                        );
                        self.observe_gone(store, &mut rec, Some(note))
                    }
                    Err(QmpFailure::Failed(e)) => {
                        status(id, VmState::Unknown, Some(format!("QMP: {e}")))
                    }
                    Ok(run_state) => self.observe_running(store, &mut rec, &run_state),
                };
                if matches!(
                    s.state,
                    VmState::Running | VmState::Hold | VmState::Suspended | VmState::Unknown
                ) {
                    s.monitoring = monitoring;
                }
                s
            }
        }
    }

    /// A VM whose QEMU is not running.
    fn observe_gone(
        &mut self,
        store: &Store,
        rec: &mut VmRecord,
        note: Option<String>,
    ) -> VmStatus {
        self.cpu.remove(&rec.id);
        if rec.terminate_deadline_ms.is_some() {
            return match self.finish_terminate(store, rec) {
                Ok(()) => status(&rec.id, VmState::Done, Some("terminated".into())),
                Err(e) => status(&rec.id, VmState::Unknown, Some(e.to_string())),
            };
        }
        if rec.powered_off {
            return status(&rec.id, VmState::Poweroff, None);
        }
        let mut reason = note.unwrap_or_else(|| "QEMU process exited".into());
        if let Some(line) = store.console_tail(&rec.id) {
            reason.push_str(&format!("; console: {line}"));
        }
        status(&rec.id, VmState::Failed, Some(reason))
    }

    /// A VM whose QEMU answers with `run_state`.
    fn observe_running(&mut self, store: &Store, rec: &mut VmRecord, run_state: &str) -> VmStatus {
        let id = rec.id.clone();
        let now = self.now();
        if let Some(deadline) = rec.terminate_deadline_ms {
            let (state, _) = qmp::vm_state(run_state, rec.hold);
            if run_state == "shutdown" || now >= deadline || state != VmState::Running {
                if self.stop_qemu(store, rec) {
                    return match self.finish_terminate(store, rec) {
                        Ok(()) => status(&id, VmState::Done, Some("terminated".into())),
                        Err(e) => status(&id, VmState::Unknown, Some(e.to_string())),
                    };
                }
                return status(
                    &id,
                    state,
                    Some("terminating: QEMU did not quit yet".into()),
                );
            }
            return status(
                &id,
                state,
                Some(format!(
                    "terminating: waiting {} s more for the guest to power off",
                    deadline.saturating_sub(now).div_ceil(1000)
                )),
            );
        }
        if run_state == "shutdown" {
            // The guest powered itself off: QEMU (-no-shutdown) waits; let
            // it go, keeping the files for a resume. The record is read
            // again first: another instance may have started a terminate
            // since this one read it.
            self.stop_qemu(store, rec);
            if let Ok(Some(fresh)) = store.load(&id) {
                *rec = fresh;
            }
            if rec.terminated || rec.terminate_deadline_ms.is_some() {
                return match self.finish_terminate(store, rec) {
                    Ok(()) => status(&id, VmState::Done, Some("terminated".into())),
                    Err(e) => status(&id, VmState::Unknown, Some(e.to_string())),
                };
            }
            rec.powered_off = true;
            if let Err(e) = store.save(rec) {
                return status(&id, VmState::Unknown, Some(e.to_string()));
            }
            return status(&id, VmState::Poweroff, Some("the guest powered off".into()));
        }
        let (state, reason) = qmp::vm_state(run_state, rec.hold);
        status(&id, state, reason)
    }

    fn poll_vms(&mut self, vm_ids: Vec<String>) -> Result<Vec<VmStatus>, Error> {
        let settings = self.settings()?;
        let store = Store::new(&settings.state_dir);
        let deadline = self.now().saturating_add(POLL_BUDGET_MS);
        Ok(vm_ids
            .iter()
            .map(|id| {
                if self.now() >= deadline {
                    status(
                        id,
                        VmState::Unknown,
                        Some("not polled: this poll ran out of time on other VMs".into()),
                    )
                } else {
                    self.observe(&store, id, true)
                }
            })
            .collect())
    }

    fn list_vms(&mut self) -> Result<Vec<ManagedVm>, Error> {
        let settings = self.settings()?;
        let store = Store::new(&settings.state_dir);
        store.check_reachable()?;
        let deadline = self.now().saturating_add(POLL_BUDGET_MS);
        let mut vms = Vec::new();
        for id in store.ids()? {
            let rec = match store.load(&id) {
                Ok(Some(rec)) if !rec.terminated => rec,
                Ok(_) => continue,
                Err(e) => {
                    log::warn(&format!("VM {id}: {e}"));
                    continue;
                }
            };
            let state = if self.now() < deadline {
                self.observe(&store, &id, false).state
            } else {
                VmState::Unknown
            };
            if state == VmState::Done {
                continue;
            }
            vms.push(ManagedVm {
                id: rec.id,
                operation_id: rec.operation_id,
                name: rec.name,
                service_id: rec.service_id,
                role_name: rec.role_name,
                state,
            });
        }
        Ok(vms)
    }

    // ------------------------------------------------------------ actions

    /// Send `commands` to a running VM's QEMU; a QMP error is the call's.
    fn command(
        &mut self,
        store: &Store,
        rec: &VmRecord,
        commands: &[String],
        timeout_ms: u32,
    ) -> Result<Vec<Reply>, Error> {
        let id = &rec.id;
        if rec.powered_off {
            return Err(Error::Denied(format!(
                "VM {id} is powered off; resume it first"
            )));
        }
        match self.process(rec) {
            Proc::Alive(_) => {}
            Proc::NotStarted => {
                return Err(Error::Unavailable(format!("VM {id} is being created")));
            }
            Proc::Gone => {
                return Err(Error::Denied(format!(
                    "VM {id} is not running: its QEMU process exited"
                )));
            }
            Proc::Unknown(e) => return Err(e),
        }
        let socket = args::qmp_socket(&store.vm_dir(id));
        let replies = self
            .qmp(&socket, commands, timeout_ms)
            .map_err(|f| f.into_error(id))?;
        for (reply, request) in replies.iter().zip(commands) {
            if let Reply::Error { class, desc } = reply {
                return Err(Error::Other(format!(
                    "VM {id}: QMP {request}: {class}: {desc}"
                )));
            }
        }
        Ok(replies)
    }

    fn terminate(&mut self, store: &Store, rec: &mut VmRecord, hard: bool) -> Result<(), Error> {
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

    fn resume(&mut self, store: &Store, rec: &mut VmRecord) -> Result<(), Error> {
        let stalled = self.now() >= rec.created_ms.saturating_add(CREATE_STALL_MS);
        match self.process(rec) {
            Proc::NotStarted if !rec.powered_off && !stalled => {
                return Err(Error::Unavailable(format!(
                    "VM {} is being created",
                    rec.id
                )));
            }
            Proc::Unknown(e) => return Err(e),
            Proc::NotStarted | Proc::Gone => {
                // Powered off (or failed): start it again on its files.
                rec.hold = false;
                self.prepare_disks(store, rec)?;
                return self.start(store, rec);
            }
            Proc::Alive(_) if rec.powered_off => {
                // Powered off but QEMU not reaped yet.
                if !self.stop_qemu(store, rec) {
                    return Err(Error::Unavailable(format!(
                        "VM {}: its QEMU did not stop; try again",
                        rec.id
                    )));
                }
                rec.hold = false;
                return self.start(store, rec);
            }
            Proc::Alive(_) => {}
        }
        let run_state = self
            .query_status(store, rec, QMP_TIMEOUT_MS)
            .map_err(|f| f.into_error(&rec.id))?;
        let commands = if run_state == "shutdown" {
            vec![qmp::command("system_reset"), qmp::command("cont")]
        } else {
            vec![qmp::command("cont")]
        };
        self.command(store, rec, &commands, QMP_TIMEOUT_MS)?;
        rec.hold = false;
        store.save(rec)
    }

    fn snapshot(
        &mut self,
        store: &Store,
        rec: &VmRecord,
        action: VmAction,
        args: &[KeyValue],
    ) -> Result<(), Error> {
        let verb = match action {
            VmAction::SnapshotCreate => "savevm",
            VmAction::SnapshotRevert => "loadvm",
            _ => "delvm",
        };
        let name = match lookup(args, "name").map(str::trim) {
            Some(name) if !name.is_empty() => snapshot_name(name)?,
            _ if action == VmAction::SnapshotCreate => format!("snap-{}", self.now()),
            _ => {
                return Err(Error::InvalidInput(format!(
                    "name: {} needs the snapshot's name",
                    action.as_str()
                )));
            }
        };
        if rec.template.disks.is_empty() {
            return Err(Error::Unsupported(format!(
                "{}: VM {} has no qcow2 disk to keep snapshots in (it boots a kernel and initrd \
                 without DISK)",
                action.as_str(),
                rec.id
            )));
        }
        let replies = self.command(
            store,
            rec,
            &[qmp::human(&format!("{verb} {name}"))],
            SNAPSHOT_TIMEOUT_MS,
        )?;
        if let Some(error) = replies.first().and_then(qmp::human_error) {
            return Err(Error::Other(format!(
                "VM {}: {verb} {name}: {error}",
                rec.id
            )));
        }
        Ok(())
    }

    fn act_on(&mut self, id: &str, action: VmAction, args: &[KeyValue]) -> Result<(), Error> {
        use VmAction::*;
        if let Some(e) = unsupported(action) {
            return Err(e);
        }
        let settings = self.settings()?;
        let store = Store::new(&settings.state_dir);
        let Some(mut rec) = store.load(id)? else {
            return Err(Error::NotFound(format!(
                "VM {id} is not a VM of the qemu driver"
            )));
        };
        if rec.terminated {
            return match action {
                Terminate | TerminateHard => Ok(()),
                _ => Err(Error::NotFound(format!("VM {id} was terminated"))),
            };
        }
        let c = |name: &str| vec![qmp::command(name)];
        match action {
            Terminate => self.terminate(&store, &mut rec, false),
            TerminateHard => self.terminate(&store, &mut rec, true),
            Poweroff => {
                if rec.powered_off {
                    return Ok(());
                }
                self.command(&store, &rec, &c("system_powerdown"), QMP_TIMEOUT_MS)
                    .map(drop)
            }
            PoweroffHard => {
                if !rec.powered_off {
                    if let Proc::Alive(_) = self.process(&rec)
                        && !self.stop_qemu(&store, &rec)
                    {
                        return Err(Error::Unavailable(format!("VM {id}: QEMU did not stop")));
                    }
                    rec.powered_off = true;
                    store.save(&rec)?;
                }
                Ok(())
            }
            Stop | Suspend => {
                self.command(&store, &rec, &c("stop"), QMP_TIMEOUT_MS)?;
                rec.hold = false;
                store.save(&rec)
            }
            Hold => {
                self.command(&store, &rec, &c("stop"), QMP_TIMEOUT_MS)?;
                rec.hold = true;
                store.save(&rec)
            }
            Release => {
                self.command(&store, &rec, &c("cont"), QMP_TIMEOUT_MS)?;
                rec.hold = false;
                store.save(&rec)
            }
            Resume => self.resume(&store, &mut rec),
            Reboot | RebootHard => self
                .command(&store, &rec, &c("system_reset"), QMP_TIMEOUT_MS)
                .map(drop),
            SnapshotCreate | SnapshotRevert | SnapshotDelete => {
                self.snapshot(&store, &rec, action, args)
            }
            Undeploy | UndeployHard | DiskSnapshotCreate | DiskSnapshotRevert
            | DiskSnapshotDelete => {
                Err(unsupported(action)
                    .unwrap_or_else(|| Error::Unsupported(action.as_str().into())))
            }
        }
    }
}

impl<H: Host + Default + 'static> Driver for QemuDriver<H> {
    fn new() -> Self {
        QemuDriver::with_host(H::default())
    }

    fn info(&self) -> PluginInfo {
        PluginInfo::new("qemu", env!("CARGO_PKG_VERSION"), DESCRIPTION)
    }

    fn create(&mut self, spec: VmSpec) -> Result<String, Error> {
        self.create_vm(spec)
    }

    /// Every QEMU of the batch is started first; then one short wait, and
    /// a QEMU that exited as it started fails its own create, saying why.
    fn create_many(&mut self, specs: Vec<VmSpec>) -> Vec<Result<String, Error>> {
        self.batch = true;
        let created: Vec<Result<String, Error>> =
            specs.into_iter().map(|spec| self.create_vm(spec)).collect();
        self.batch = false;
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

    fn act(&mut self, vm_id: String, action: VmAction, args: Vec<KeyValue>) -> Result<(), Error> {
        self.act_on(&vm_id, action, &args)
    }

    fn poll(&mut self, vm_ids: Vec<String>) -> Result<Vec<VmStatus>, Error> {
        self.poll_vms(vm_ids)
    }

    fn list(&mut self) -> Result<Vec<ManagedVm>, Error> {
        self.list_vms()
    }
}
