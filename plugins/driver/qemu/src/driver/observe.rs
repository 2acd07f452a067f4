//! Observing VMs, for `poll` and `list`: the QEMU process, then its run
//! state over QMP, as an OpenNebula state with monitoring. Observing also
//! moves VMs along: it finishes a terminate whose guest powered off (or
//! whose grace ran out), and lets go of a QEMU whose guest powered itself
//! off, keeping its files for a resume.

use super::QemuDriver;
use super::create::CREATE_STALL_MS;
use super::exchange::QmpFailure;
use super::supervise::{Proc, STARTUP_GRACE_MS};
use crate::host::Host;
use crate::monitor::{Sample, cpu_percent};
use crate::qmp;
use crate::store::{Store, VmRecord};
use flotilla_plugin_sdk::driver::{Error, ManagedVm, Metric, VmState, VmStatus};
use flotilla_plugin_sdk::log;

/// QMP for one VM of a poll (a poll asks every VM in turn).
const POLL_QMP_TIMEOUT_MS: u32 = 2_000;
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

    /// The state of each VM, in order, within the poll's budget.
    pub(super) fn poll_vms(&mut self, vm_ids: Vec<String>) -> Result<Vec<VmStatus>, Error> {
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

    /// Every VM in the state directory that is not terminated.
    pub(super) fn list_vms(&mut self) -> Result<Vec<ManagedVm>, Error> {
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
}
