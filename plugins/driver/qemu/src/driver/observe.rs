//! Observing VMs, for `poll` and `list`: the QEMU process, then its run
//! state over QMP, as an OpenNebula state with monitoring. Observing also
//! moves VMs along: it finishes a terminate whose guest powered off (or
//! whose grace ran out), and lets go of a QEMU whose guest powered itself
//! off, keeping its files for a resume.

use super::QemuDriver;
use super::create::CREATE_STALL_MS;
use super::exchange::{self, QmpFailure};
use super::supervise::{Proc, STARTUP_GRACE_MS};
use crate::args;
use crate::host::Host;
use crate::monitor::{Sample, cpu_percent};
use crate::qmp;
use crate::store::{Store, VmRecord};
use flotilla_plugin_sdk::driver::{Error, ManagedVm, Metric, VmState, VmStatus};
use flotilla_plugin_sdk::log;
use flotilla_plugin_sdk::process::Exchange;

/// QMP for a poll's VMs, all asked at once: what one VM had when they
/// were asked in turn, and a little more per VM.
const POLL_QMP_TIMEOUT_MS: u32 = 2_000;
const POLL_QMP_PER_VM_MS: u64 = 20;
/// A poll stops asking QMP after this (a driver call has 30 s by default);
/// the VMs left are UNKNOWN.
const POLL_BUDGET_MS: u64 = 20_000;

/// A status without monitoring.
fn status(id: &str, state: VmState, reason: Option<String>) -> VmStatus {
    VmStatus {
        id: id.to_string(),
        state,
        monitoring: Vec::new(),
        user_attributes: Vec::new(),
        reason,
    }
}

/// A VM observed as far as its process: done, or its QEMU runs and QMP
/// must say the rest.
enum Step {
    Done(VmStatus),
    Qmp(Box<VmRecord>, Vec<Metric>),
}

impl<H: Host> QemuDriver<H> {
    /// CPU and memory of the VM's QEMU, CPU against its previous sample.
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

    /// How far one VM can be observed without QMP: its status, or its
    /// record and monitoring when its QEMU runs and QMP must say the rest
    /// (see [`QemuDriver::observe_many`]).
    fn observe_process(&mut self, store: &Store, id: &str, monitor: bool) -> Step {
        let mut rec = match store.load(id) {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                return Step::Done(status(
                    id,
                    VmState::Done,
                    Some(format!("VM {id} is not a VM of the qemu driver")),
                ));
            }
            Err(e) => return Step::Done(status(id, VmState::Unknown, Some(e.to_string()))),
        };
        if rec.terminated {
            return Step::Done(status(id, VmState::Done, Some("terminated".into())));
        }
        let now = self.now();
        Step::Done(match self.process(&rec) {
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
                return Step::Qmp(Box::new(rec), monitoring);
            }
        })
    }

    /// The state of a VM whose QEMU runs, from what `query-status` brought,
    /// advancing a terminate under way and reaping a guest that powered
    /// itself off.
    fn observe_answer(
        &mut self,
        store: &Store,
        mut rec: VmRecord,
        monitoring: Vec<Metric>,
        run_state: Result<String, QmpFailure>,
    ) -> VmStatus {
        let now = self.now();
        let id = rec.id.clone();
        let mut s = match run_state {
            Err(QmpFailure::NotListening(_))
                if now < rec.started_ms.saturating_add(STARTUP_GRACE_MS) =>
            {
                status(&id, VmState::Pending, Some("QEMU is starting".into()))
            }
            Err(QmpFailure::NotListening(m)) => {
                let note = format!(
                    "nothing answers on the VM's QMP socket ({m}); pid {} is not its QEMU",
                    rec.pid.unwrap_or(0)
                );
                self.observe_gone(store, &mut rec, Some(note))
            }
            Err(QmpFailure::Failed(e)) => status(&id, VmState::Unknown, Some(format!("QMP: {e}"))),
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

    /// The state of each VM of `ids`, in order: their processes one after
    /// another, then every running QEMU's `query-status` in one
    /// `exchange-many`, so the round trips overlap (a QEMU answers when its
    /// main loop is next scheduled, which with many VMs on few cores takes
    /// a while each). VMs past the poll's budget are UNKNOWN.
    fn observe_many(&mut self, store: &Store, ids: &[String], monitor: bool) -> Vec<VmStatus> {
        let deadline = self.now().saturating_add(POLL_BUDGET_MS);
        let mut steps: Vec<Step> = Vec::with_capacity(ids.len());
        for id in ids {
            steps.push(if self.now() >= deadline {
                Step::Done(status(
                    id,
                    VmState::Unknown,
                    Some("not polled: this poll ran out of time on other VMs".into()),
                ))
            } else {
                self.observe_process(store, id, monitor)
            });
        }
        let requests = exchange::requests(&[qmp::command("query-status")]);
        let asked: Vec<Exchange> = steps
            .iter()
            .filter_map(|step| match step {
                Step::Qmp(rec, _) => Some(Exchange {
                    socket: args::qmp_socket(&store.vm_dir(&rec.id)),
                    requests: requests.clone(),
                }),
                Step::Done(_) => None,
            })
            .collect();
        let mut answers = if asked.is_empty() {
            Vec::new()
        } else {
            // As long as one VM's exchange had before, and a little more
            // per VM for the host's threads to get through them all,
            // within what is left of the budget.
            let per_vm = POLL_QMP_PER_VM_MS.saturating_mul(asked.len() as u64);
            let timeout = (u64::from(POLL_QMP_TIMEOUT_MS) + per_vm)
                .min(deadline.saturating_sub(self.now()))
                .max(1);
            self.host
                .exchange_many(&asked, u32::try_from(timeout).unwrap_or(u32::MAX))
        }
        .into_iter();
        steps
            .into_iter()
            .map(|step| match step {
                Step::Done(s) => s,
                Step::Qmp(rec, monitoring) => {
                    let answer = answers.next().unwrap_or_else(|| {
                        Err(Error::Other(
                            "the host answered fewer exchanges than asked".into(),
                        ))
                    });
                    let run_state = exchange::status_of(exchange::replies(&requests, answer));
                    self.observe_answer(store, *rec, monitoring, run_state)
                }
            })
            .collect()
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

    /// The state of each VM, in order, within the poll's budget.
    pub(super) fn poll_vms(&mut self, vm_ids: Vec<String>) -> Result<Vec<VmStatus>, Error> {
        let settings = self.settings()?;
        let store = Store::new(&settings.state_dir);
        Ok(self.observe_many(&store, &vm_ids, true))
    }

    /// Every VM in the state directory that is not terminated.
    pub(super) fn list_vms(&mut self) -> Result<Vec<ManagedVm>, Error> {
        let settings = self.settings()?;
        let store = Store::new(&settings.state_dir);
        store.check_reachable()?;
        let mut records = Vec::new();
        for id in store.ids()? {
            match store.load(&id) {
                Ok(Some(rec)) if !rec.terminated => records.push(rec),
                Ok(_) => continue,
                Err(e) => log::warn(&format!("VM {id}: {e}")),
            }
        }
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let states = self.observe_many(&store, &ids, false);
        Ok(records
            .into_iter()
            .zip(states)
            .filter(|(_, s)| s.state != VmState::Done)
            .map(|(rec, s)| ManagedVm {
                id: rec.id,
                operation_id: rec.operation_id,
                name: rec.name,
                service_id: rec.service_id,
                role_name: rec.role_name,
                state: s.state,
            })
            .collect())
    }
}
