//! The driver's files in the state directory. The domains live on the
//! hosts; what the driver keeps is how to reach them again:
//!
//! ```text
//! <state_dir>/hosts/<host>.json          {"name", "uri"}: the host's libvirt URI,
//!                                        learned from HOST.ADDRESS at each create
//! <state_dir>/vms/<host>/<domain>.json   the VM's record (VmRecord)
//! <state_dir>/ops/<operation>            operation id → VM id (`<host>/<domain>`)
//! <state_dir>/domains/<domain>.xml       the XML last defined (virsh reads it)
//! <state_dir>/context/<domain>/          the context disk (a read-only FAT disk to
//!                                        the guest): context.sh, token.txt
//! ```
//!
//! Every file is replaced whole (written beside, then renamed). The
//! context directories are read by QEMU on the VM's host, at the same
//! path: like the disk images, the state directory must be the same on
//! every host (shared storage), as OpenNebula's `shared` transfer driver
//! assumes.

use crate::settings::{HostAddr, is_host_name};
use crate::template::{Context, is_domain_name};
use flotilla_plugin_sdk::driver::Error;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;

/// One VM, as `vms/<host>/<domain>.json` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmRecord {
    /// `<host>/<domain>`.
    pub id: String,
    pub host: String,
    pub domain: String,
    pub operation_id: String,
    pub name: String,
    pub service_id: u64,
    pub role_name: String,
    /// On hold: created on hold and not released, or held since.
    #[serde(default)]
    pub hold: bool,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct HostRecord {
    name: String,
    uri: String,
}

/// A VM id: `<host>/<domain>`, both names this driver makes. Anything
/// else is no VM of ours (and never a path).
pub fn split_id(id: &str) -> Option<(&str, &str)> {
    let (host, domain) = id.split_once('/')?;
    (is_host_name(host) && is_domain_name(domain)).then_some((host, domain))
}

/// The directory of a domain's context disk.
pub fn context_dir(state_dir: &str, domain: &str) -> String {
    format!("{}/context/{domain}", state_dir.trim_end_matches('/'))
}

pub fn vm_id(host: &str, domain: &str) -> String {
    format!("{host}/{domain}")
}

fn io_error(what: &str, e: io::Error) -> Error {
    Error::Unavailable(format!("{what}: {e}"))
}

/// An operation id as a file name, one-to-one: letters, digits and `-`
/// stay, every other byte is `_xx`; a very long one is cut and given a
/// hash of the whole.
pub fn op_file_name(operation_id: &str) -> String {
    let mut name = String::with_capacity(operation_id.len());
    for b in operation_id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            name.push(b as char);
        } else {
            name.push_str(&format!("_{b:02x}"));
        }
    }
    if name.len() > 200 {
        name.truncate(180);
        name.push_str(&format!("~{:016x}", crate::template::fnv(operation_id)));
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

fn remove_dir(path: &str) -> Result<(), Error> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(io_error(&format!("removing {path}"), e))
        }
        _ => Ok(()),
    }
}

fn mkdir(dir: &str) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|e| io_error(&format!("creating {dir}"), e))
}

fn read_optional(path: &str) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&format!("reading {path}"), e)),
    }
}

fn entries(dir: &str) -> Result<Vec<String>, Error> {
    match fs::read_dir(dir) {
        Ok(entries) => {
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            names.sort();
            Ok(names)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error(&format!("reading {dir}"), e)),
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

    /// The state directory can be reached from inside the sandbox.
    pub fn check_reachable(&self) -> Result<(), Error> {
        match fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(Error::InvalidInput(format!(
                "config: state_dir `{}` is not a directory",
                self.root
            ))),
            Err(e) => Err(Error::InvalidInput(format!(
                "config: state_dir `{}` cannot be reached from the sandbox ({e}); create it and \
                 grant it: [plugins.libvirt] dirs = [\"{}\"]",
                self.root, self.root
            ))),
        }
    }

    /// Where the domain's XML is written for `virsh define`.
    pub fn xml_path(&self, domain: &str) -> String {
        format!("{}/domains/{domain}.xml", self.root)
    }

    pub fn write_xml(&self, domain: &str, xml: &str) -> Result<String, Error> {
        mkdir(&format!("{}/domains", self.root))?;
        let path = self.xml_path(domain);
        write_atomic(&path, xml.as_bytes())?;
        Ok(path)
    }

    /// The directory of the domain's context disk.
    pub fn context_dir(&self, domain: &str) -> String {
        context_dir(&self.root, domain)
    }

    /// The domain's context disk: `context.sh` and `token.txt` (when
    /// there is a token) replace what was there; no context, no
    /// directory. Writing it again (a create retried) changes nothing.
    pub fn write_context(&self, domain: &str, context: Option<&Context>) -> Result<(), Error> {
        let dir = self.context_dir(domain);
        let Some(context) = context else {
            return remove_dir(&dir);
        };
        mkdir(&dir)?;
        write_atomic(&format!("{dir}/context.sh"), context.script.as_bytes())?;
        let token = format!("{dir}/token.txt");
        match &context.token {
            Some(t) => write_atomic(&token, t.as_bytes()),
            None => remove_file(&token),
        }
    }

    fn host_path(&self, host: &str) -> String {
        format!("{}/hosts/{host}.json", self.root)
    }

    /// Remember (or update) how a host is reached.
    pub fn save_host(&self, host: &HostAddr) -> Result<(), Error> {
        let path = self.host_path(&host.name);
        let record = HostRecord {
            name: host.name.clone(),
            uri: host.uri.clone(),
        };
        let json = serde_json::to_vec_pretty(&record)
            .map_err(|e| Error::Other(format!("encoding {path}: {e}")))?;
        if read_optional(&path)?.is_some_and(|t| t.as_bytes() == json.as_slice()) {
            return Ok(());
        }
        mkdir(&format!("{}/hosts", self.root))?;
        write_atomic(&path, &json)
    }

    /// A host's URI, as the last create on it learned it.
    pub fn host_uri(&self, host: &str) -> Result<Option<String>, Error> {
        if !is_host_name(host) {
            return Ok(None);
        }
        let path = self.host_path(host);
        let Some(text) = read_optional(&path)? else {
            return Ok(None);
        };
        serde_json::from_str::<HostRecord>(&text)
            .map(|r| Some(r.uri))
            .map_err(|e| Error::Other(format!("{path} is damaged: {e}")))
    }

    fn record_path(&self, host: &str, domain: &str) -> String {
        format!("{}/vms/{host}/{domain}.json", self.root)
    }

    /// The VM's record; `None` for an id this driver never made (or
    /// whose VM was terminated).
    pub fn load(&self, id: &str) -> Result<Option<VmRecord>, Error> {
        let Some((host, domain)) = split_id(id) else {
            return Ok(None);
        };
        let path = self.record_path(host, domain);
        let Some(text) = read_optional(&path)? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Other(format!("{path} is damaged: {e}")))
    }

    pub fn save(&self, record: &VmRecord) -> Result<(), Error> {
        mkdir(&format!("{}/vms/{}", self.root, record.host))?;
        let json = serde_json::to_vec_pretty(record)
            .map_err(|e| Error::Other(format!("encoding a VM record: {e}")))?;
        write_atomic(&self.record_path(&record.host, &record.domain), &json)
    }

    fn op_path(&self, operation_id: &str) -> String {
        format!("{}/ops/{}", self.root, op_file_name(operation_id))
    }

    pub fn lookup_op(&self, operation_id: &str) -> Result<Option<String>, Error> {
        Ok(read_optional(&self.op_path(operation_id))?
            .map(|id| id.trim().to_string())
            .filter(|id| split_id(id).is_some()))
    }

    pub fn record_op(&self, operation_id: &str, id: &str) -> Result<(), Error> {
        mkdir(&format!("{}/ops", self.root))?;
        write_atomic(&self.op_path(operation_id), id.as_bytes())
    }

    /// A terminated VM leaves nothing: its record, its operation's entry,
    /// its XML and its context disk go.
    pub fn forget(&self, record: &VmRecord) -> Result<(), Error> {
        remove_file(&self.op_path(&record.operation_id))?;
        remove_file(&self.xml_path(&record.domain))?;
        remove_dir(&self.context_dir(&record.domain))?;
        remove_file(&self.record_path(&record.host, &record.domain))
    }

    /// Every VM record, host by host.
    pub fn records(&self) -> Result<Vec<VmRecord>, Error> {
        let mut out = Vec::new();
        let vms = format!("{}/vms", self.root);
        for host in entries(&vms)?.into_iter().filter(|h| is_host_name(h)) {
            for file in entries(&format!("{vms}/{host}"))? {
                let Some(domain) = file.strip_suffix(".json") else {
                    continue;
                };
                if let Some(record) = self.load(&vm_id(&host, domain))? {
                    out.push(record);
                }
            }
        }
        Ok(out)
    }
}
