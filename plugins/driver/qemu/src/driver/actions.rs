//! The actions on a VM (`act`): each checks the VM's record and process,
//! then asks its QEMU over QMP (stop, cont, system_powerdown,
//! system_reset, savevm / loadvm / delvm) or starts and stops QEMU
//! (poweroff-hard, resume of a powered-off VM). Terminate is its own
//! module, [`super::terminate`], as polls finish it.

use super::QemuDriver;
use super::create::CREATE_STALL_MS;
use super::supervise::{Proc, Starting};
use crate::args;
use crate::host::Host;
use crate::qmp::{self, Reply};
use crate::store::{Store, VmRecord};
use flotilla_plugin_sdk::driver::{Error, KeyValue, VmAction, lookup};

/// QMP for an action.
pub(super) const QMP_TIMEOUT_MS: u32 = 5_000;
/// savevm / loadvm / delvm: they copy the guest's memory.
const SNAPSHOT_TIMEOUT_MS: u32 = 20_000;

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

    /// Go on running a VM: paused, powered off by the guest (its QEMU
    /// waits) or with no QEMU at all (powered off: started again).
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
                return self.start(store, rec, Starting::Alone);
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
                return self.start(store, rec, Starting::Alone);
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

    /// savevm, loadvm or delvm of a VM with a qcow2 disk.
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

    /// Do `action` on the VM `id`.
    pub(super) fn act_on(
        &mut self,
        id: &str,
        action: VmAction,
        args: &[KeyValue],
    ) -> Result<(), Error> {
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
