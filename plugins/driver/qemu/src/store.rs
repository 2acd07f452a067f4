//! The driver's files in the state directory: everything it knows about
//! its VMs lives there, so a new instance (after a fault, or a restart of
//! the server) finds every VM again.
//!
//! ```text
//! <state_dir>/next_id            the next VM number (a hint: ids are claimed by mkdir)
//! <state_dir>/ops/<operation>    operation id → VM id, written before QEMU starts
//! <state_dir>/vms/<id>/vm.json   the VM's record (VmRecord)
//!                      qmp.sock  QEMU's QMP socket
//!                      console.log  the serial console
//!                      context/context.sh, context/token.txt
//!                      disk.qcow2, disk1.qcow2, …  the overlays on the template's disks
//! ```
//!
//! Every file is replaced whole (written beside, then renamed).

use crate::args;
use crate::context::Context;
use crate::template::Launch;
use flotilla_plugin_sdk::driver::Error;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};

/// One VM, as `vm.json` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmRecord {
    pub id: String,
    pub operation_id: String,
    pub name: String,
    pub service_id: u64,
    pub role_name: String,
    /// QEMU's pid, once started.
    #[serde(default)]
    pub pid: Option<u32>,
    pub created_ms: u64,
    /// When QEMU was last started.
    #[serde(default)]
    pub started_ms: u64,
    /// On hold: created on hold and not released, or held since.
    #[serde(default)]
    pub hold: bool,
    /// Terminated: QEMU is gone and so are the disks, context and socket.
    #[serde(default)]
    pub terminated: bool,
    /// Powered off on purpose (QEMU quit, files kept): `resume` starts it.
    #[serde(default)]
    pub powered_off: bool,
    /// A terminate under way: when to stop waiting for the guest to power
    /// off and quit QEMU.
    #[serde(default)]
    pub terminate_deadline_ms: Option<u64>,
    /// The overlays were made (half-made ones are made again).
    #[serde(default)]
    pub disk_ready: bool,
    /// What QEMU runs (the template, summarised).
    pub template: Launch,
}

fn io_error(what: &str, e: io::Error) -> Error {
    Error::Unavailable(format!("{what}: {e}"))
}

/// A VM id this driver makes: `q<N>`. Anything else is no VM of ours
/// (and never a path).
pub fn valid_id(id: &str) -> bool {
    id.strip_prefix('q')
        .is_some_and(|n| !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// An operation id as a file name, one-to-one: letters, digits, `-` and
/// `.` stay, every other byte is `_xx` (hex); a very long one is cut and
/// given a hash of the whole.
pub fn op_file_name(operation_id: &str) -> String {
    let mut name = String::with_capacity(operation_id.len());
    for b in operation_id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || (b == b'.' && !name.is_empty()) {
            name.push(b as char);
        } else {
            name.push_str(&format!("_{b:02x}"));
        }
    }
    if name.len() > 200 {
        // FNV-1a: stable across builds and platforms.
        let hash = operation_id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        name.truncate(180);
        name.push_str(&format!("~{hash:016x}"));
    }
    name
}

/// Replace `path` with `bytes`: written beside it, then renamed over it.
pub fn write_atomic(path: &str, bytes: &[u8]) -> Result<(), Error> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = format!("{path}.{nonce:08x}.tmp");
    if let Err(e) = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(&format!("writing {path}"), e));
    }
    Ok(())
}

fn remove_file(path: &str) -> Result<(), Error> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(io_error(&format!("removing {path}"), e))
        }
        _ => Ok(()),
    }
}

pub struct Store {
    root: String,
}

impl Store {
    pub fn new(state_dir: &str) -> Store {
        Store {
            root: state_dir.trim_end_matches('/').to_string(),
        }
    }

    pub fn vm_dir(&self, id: &str) -> String {
        format!("{}/vms/{id}", self.root)
    }

    fn record_path(&self, id: &str) -> String {
        format!("{}/vm.json", self.vm_dir(id))
    }

    fn op_path(&self, operation_id: &str) -> String {
        format!("{}/ops/{}", self.root, op_file_name(operation_id))
    }

    /// The state directory can be written from inside the sandbox.
    pub fn check_reachable(&self) -> Result<(), Error> {
        match fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(Error::InvalidInput(format!(
                "config: state_dir `{}` is not a directory",
                self.root
            ))),
            Err(e) => Err(Error::InvalidInput(format!(
                "config: state_dir `{}` cannot be reached from the sandbox ({e}); create it and \
                 grant it: [plugins.qemu] dirs = [\"{}\"]",
                self.root, self.root
            ))),
        }
    }

    /// The VM's record; `None` for a VM this driver never made (or whose
    /// files are gone).
    pub fn load(&self, id: &str) -> Result<Option<VmRecord>, Error> {
        if !valid_id(id) {
            return Ok(None);
        }
        let path = self.record_path(id);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&format!("reading {path}"), e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Other(format!("{path} is damaged: {e}")))
    }

    pub fn save(&self, record: &VmRecord) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(record)
            .map_err(|e| Error::Other(format!("encoding vm.json: {e}")))?;
        write_atomic(&self.record_path(&record.id), &json)
    }

    /// The VM an operation made (or was making).
    pub fn lookup_op(&self, operation_id: &str) -> Result<Option<String>, Error> {
        let path = self.op_path(operation_id);
        match fs::read_to_string(&path) {
            Ok(id) if valid_id(id.trim()) => Ok(Some(id.trim().to_string())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&format!("reading {path}"), e)),
        }
    }

    pub fn record_op(&self, operation_id: &str, id: &str) -> Result<(), Error> {
        let dir = format!("{}/ops", self.root);
        fs::create_dir_all(&dir).map_err(|e| io_error(&format!("creating {dir}"), e))?;
        write_atomic(&self.op_path(operation_id), id.as_bytes())
    }

    /// A new VM id, its directory created: numbers are claimed by
    /// creating the directory, so two instances never share one, and
    /// `next_id` only saves the search.
    pub fn allocate(&self) -> Result<String, Error> {
        let vms = format!("{}/vms", self.root);
        fs::create_dir_all(&vms).map_err(|e| io_error(&format!("creating {vms}"), e))?;
        let counter = format!("{}/next_id", self.root);
        let mut n: u64 = fs::read_to_string(&counter)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let id = loop {
            let id = format!("q{n}");
            match fs::create_dir(format!("{vms}/{id}")) {
                Ok(()) => break id,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    n = n
                        .checked_add(1)
                        .ok_or_else(|| Error::Unavailable("no VM number left in next_id".into()))?;
                }
                Err(e) => return Err(io_error(&format!("creating {vms}/{id}"), e)),
            }
        };
        write_atomic(&counter, format!("{}\n", n.saturating_add(1)).as_bytes())?;
        Ok(id)
    }

    /// Every VM id with a directory, in number order.
    pub fn ids(&self) -> Result<Vec<String>, Error> {
        let vms = format!("{}/vms", self.root);
        let entries = match fs::read_dir(&vms) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&format!("reading {vms}"), e)),
        };
        let mut ids: Vec<(u64, String)> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| valid_id(name))
            .map(|id| (id[1..].parse().unwrap_or(u64::MAX), id))
            .collect();
        ids.sort();
        Ok(ids.into_iter().map(|(_, id)| id).collect())
    }

    /// `context/context.sh` (and `token.txt`), replacing what was there.
    pub fn write_context(&self, id: &str, context: &Context) -> Result<(), Error> {
        let dir = args::context_dir(&self.vm_dir(id));
        fs::create_dir_all(&dir).map_err(|e| io_error(&format!("creating {dir}"), e))?;
        write_atomic(&format!("{dir}/context.sh"), context.script.as_bytes())?;
        let token = format!("{dir}/token.txt");
        match &context.token {
            Some(t) => write_atomic(&token, t.as_bytes()),
            None => remove_file(&token),
        }
    }

    /// A terminated VM's disks, context and socket; `vm.json` and
    /// `console.log` stay.
    pub fn remove_runtime_files(&self, id: &str) -> Result<(), Error> {
        let dir = self.vm_dir(id);
        self.remove_overlays(id)?;
        remove_file(&args::qmp_socket(&dir))?;
        let context = args::context_dir(&dir);
        match fs::remove_dir_all(&context) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_error(&format!("removing {context}"), e))
            }
            _ => Ok(()),
        }
    }

    /// A terminated VM leaves nothing: its directory (record, disk,
    /// context, socket, console) and its operation's index entry go. A
    /// VM id the driver no longer knows is DONE to `poll`, and the host
    /// never creates under a terminated VM's operation id again.
    pub fn forget(&self, id: &str, operation_id: &str) -> Result<(), Error> {
        remove_file(&self.op_path(operation_id))?;
        // File by file first: a socket QEMU left behind when it was killed
        // is not something every filesystem walk removes.
        self.remove_runtime_files(id)?;
        let dir = self.vm_dir(id);
        for name in ["vm.json", "console.log"] {
            remove_file(&format!("{dir}/{name}"))?;
        }
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_error(&format!("removing {dir}"), e))
            }
            _ => Ok(()),
        }
    }

    /// Remove every overlay of a VM (half-made ones, before they are
    /// made again; all of them, when it is terminated).
    pub fn remove_overlays(&self, id: &str) -> Result<(), Error> {
        let dir = self.vm_dir(id);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error(&format!("reading {dir}"), e)),
        };
        for entry in entries.flatten() {
            if let Some(name) = entry.file_name().to_str()
                && args::is_overlay(name)
            {
                remove_file(&format!("{dir}/{name}"))?;
            }
        }
        Ok(())
    }

    pub fn socket_exists(&self, id: &str) -> bool {
        fs::metadata(args::qmp_socket(&self.vm_dir(id))).is_ok()
    }

    /// The last line the guest wrote on its console, if any.
    pub fn console_tail(&self, id: &str) -> Option<String> {
        let mut file = fs::File::open(args::console_log(&self.vm_dir(id))).ok()?;
        let len = file.metadata().ok()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        last_line(&String::from_utf8_lossy(&bytes))
    }
}

/// The last non-empty line of `text`, without control characters, at most
/// 200 characters.
pub fn last_line(text: &str) -> Option<String> {
    let line = text
        .lines()
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect::<String>()
        })
        .map(|l| l.trim().to_string())
        .rfind(|l| !l.is_empty())?;
    Some(line.chars().take(200).collect())
}

/// The first bytes of a file, when the sandbox can read it (a base image
/// inside a granted directory).
pub fn magic(path: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 4];
    let mut file = fs::File::open(path).ok()?;
    file.read_exact(&mut buf).ok()?;
    Some(buf.to_vec())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::template::Launch;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the system's temporary directory, removed
    /// when dropped.
    pub struct TempDir(pub String);

    impl TempDir {
        pub fn new() -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "flotilla-qemu-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("creating a temporary directory");
            TempDir(dir.to_str().expect("a UTF-8 temp dir").to_string())
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    pub fn record(id: &str) -> VmRecord {
        VmRecord {
            id: id.into(),
            operation_id: format!("op-{id}"),
            name: "web_0".into(),
            service_id: 4,
            role_name: "web".into(),
            pid: Some(1234),
            created_ms: 1,
            started_ms: 1,
            hold: false,
            terminated: false,
            powered_off: false,
            terminate_deadline_ms: None,
            disk_ready: false,
            template: Launch {
                accel: "tcg".into(),
                vcpus: 1,
                memory_mb: 256,
                kernel: None,
                disks: Vec::new(),
                net: None,
                taps: Vec::new(),
            },
        }
    }

    #[test]
    fn ids_are_claimed_in_order_and_never_twice() {
        let dir = TempDir::new();
        let store = Store::new(&dir.0);
        assert_eq!(store.allocate().unwrap(), "q0");
        assert_eq!(store.allocate().unwrap(), "q1");
        // A lost counter does not hand out a number again.
        fs::remove_file(format!("{}/next_id", dir.0)).unwrap();
        assert_eq!(store.allocate().unwrap(), "q2");
        fs::write(format!("{}/next_id", dir.0), "garbage").unwrap();
        assert_eq!(store.allocate().unwrap(), "q3");
        fs::create_dir(format!("{}/vms/q10", dir.0)).unwrap();
        fs::create_dir(format!("{}/vms/not-a-vm", dir.0)).unwrap();
        assert_eq!(store.ids().unwrap(), ["q0", "q1", "q2", "q3", "q10"]);
    }

    #[test]
    fn records_and_operations_round_trip() {
        let dir = TempDir::new();
        let store = Store::new(&dir.0);
        let id = store.allocate().unwrap();
        assert_eq!(store.load(&id).unwrap(), None);
        let rec = record(&id);
        store.save(&rec).unwrap();
        assert_eq!(store.load(&id).unwrap(), Some(rec));
        assert_eq!(store.load("../etc").unwrap(), None);
        assert_eq!(store.load("q999").unwrap(), None);

        assert_eq!(store.lookup_op("svc/4:web#0").unwrap(), None);
        store.record_op("svc/4:web#0", &id).unwrap();
        assert_eq!(store.lookup_op("svc/4:web#0").unwrap(), Some(id));
        assert_eq!(store.lookup_op("svc/4:web_0").unwrap(), None);

        fs::write(store.record_path("q0"), "{not json").unwrap();
        assert!(matches!(store.load("q0"), Err(Error::Other(m)) if m.contains("damaged")));
    }

    #[test]
    fn operation_file_names_are_one_to_one_and_short() {
        assert_eq!(op_file_name("a-1.b"), "a-1.b");
        assert_eq!(op_file_name("a/b"), "a_2fb");
        assert_eq!(op_file_name("a_2fb"), "a_5f2fb");
        assert_eq!(op_file_name(".."), "_2e.");
        assert_eq!(op_file_name(""), "");
        let long = "x".repeat(500);
        let name = op_file_name(&long);
        assert!(name.len() < 220, "{}", name.len());
        assert_ne!(name, op_file_name(&"x".repeat(501)));
    }

    #[test]
    fn ids_are_q_and_a_number() {
        for ok in ["q0", "q12", "q18446744073709551615"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "q", "q-1", "1", "Q1", "q1/..", "q1 ", "987654321"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn context_files_and_cleanup() {
        let dir = TempDir::new();
        let store = Store::new(&dir.0);
        let id = store.allocate().unwrap();
        let ctx = crate::context::build(&[("ONEGATE_TOKEN".into(), "t0k".into())], &id, None);
        store.write_context(&id, &ctx).unwrap();
        let cdir = args::context_dir(&store.vm_dir(&id));
        assert!(
            fs::read_to_string(format!("{cdir}/context.sh"))
                .unwrap()
                .contains("VMID='q0'")
        );
        assert_eq!(
            fs::read_to_string(format!("{cdir}/token.txt")).unwrap(),
            "t0k"
        );
        fs::write(args::overlay(&store.vm_dir(&id), 0), "qcow").unwrap();
        fs::write(args::overlay(&store.vm_dir(&id), 1), "qcow").unwrap();
        fs::write(
            args::console_log(&store.vm_dir(&id)),
            "boot\r\nflotilla-guest: idle\n\n",
        )
        .unwrap();
        store.save(&record(&id)).unwrap();
        store.remove_runtime_files(&id).unwrap();
        store.remove_runtime_files(&id).unwrap();
        assert!(!fs::exists(&cdir).unwrap());
        assert!(!fs::exists(args::overlay(&store.vm_dir(&id), 0)).unwrap());
        assert!(!fs::exists(args::overlay(&store.vm_dir(&id), 1)).unwrap());
        assert!(store.load(&id).unwrap().is_some());
        assert_eq!(
            store.console_tail(&id).as_deref(),
            Some("flotilla-guest: idle")
        );
    }

    #[test]
    fn a_missing_state_dir_says_to_grant_it() {
        let store = Store::new("/nonexistent/flotilla-qemu");
        match store.check_reachable() {
            Err(Error::InvalidInput(m)) => assert!(m.contains("[plugins.qemu] dirs"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
