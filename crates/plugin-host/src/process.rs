//! `flotilla:host/process`: programs a plugin may start as host processes
//! (a QEMU driver's `qemu-system-x86_64`), under the operator's grant.
//!
//! What a plugin gets is the intersection of its manifest
//! (`capabilities.exec`, by file name) and the grant (`exec`, by absolute
//! path, with argument patterns); nothing is granted by default. Every
//! argument must match a pattern; `{dir}` in a pattern stands for a
//! granted directory, so a path argument can be held inside them. Only
//! processes running a granted program can be watched or stopped (their
//! `/proc/<pid>/exe`), and only sockets inside a granted directory reached.

use crate::bindings::driver::flotilla::host::process as wit;
use crate::bindings::types as wit_types;
use crate::manifest::{Grant, Manifest};
use crate::state::PluginState;
use flotilla_model::pattern::{glob, safe};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Output of `run` kept for the plugin.
const OUTPUT_KEPT: usize = 4096;
/// The longest answer line of an `exchange`.
const MAX_LINE: usize = 1 << 20;

impl PluginState {
    /// When a host-process call must be over: its own timeout, and never
    /// after the plugin call's deadline (the epoch cannot interrupt a host
    /// call).
    fn call_deadline(&self, timeout_ms: u32) -> Instant {
        let own = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
        self.outbound.deadline.map_or(own, |d| d.min(own))
    }
}

#[derive(Debug, Default)]
pub struct ExecPolicy {
    /// (program path, argument patterns).
    programs: Vec<(PathBuf, Vec<String>)>,
    dirs: Vec<PathBuf>,
}

impl ExecPolicy {
    /// The programs both the manifest declares and the grant allows.
    pub fn new(manifest: &Manifest, grant: &Grant) -> ExecPolicy {
        let declared = &manifest.capabilities.exec;
        let programs = grant
            .exec
            .iter()
            .filter(|(path, _)| {
                let name = Path::new(path)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                declared.iter().any(|d| d == name || d == *path)
            })
            .map(|(path, g)| (PathBuf::from(path), g.args.clone()))
            .collect();
        ExecPolicy {
            programs,
            dirs: grant.dirs.clone(),
        }
    }

    /// The programs the plugin may start, for `plugin list`.
    pub fn programs(&self) -> Vec<String> {
        self.programs
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect()
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The granted program `program` (its path or file name) with `args`
    /// all allowed, or why not.
    pub fn check(&self, program: &str, args: &[String]) -> Result<PathBuf, String> {
        let (path, patterns) = self
            .programs
            .iter()
            .find(|(path, _)| {
                path.as_os_str() == program
                    || path.file_name().and_then(|n| n.to_str()) == Some(program)
            })
            .ok_or_else(|| {
                if self.programs.is_empty() {
                    format!("program `{program}`: this plugin is granted no program")
                } else {
                    format!(
                        "program `{program}`: not granted (granted: {})",
                        self.programs().join(", ")
                    )
                }
            })?;
        for (i, arg) in args.iter().enumerate() {
            if !patterns.iter().any(|p| self.matches(p, arg)) {
                return Err(format!(
                    "argument {i} `{arg}` of {}: matches no pattern of the grant",
                    path.display()
                ));
            }
        }
        Ok(path.clone())
    }

    fn matches(&self, pattern: &str, arg: &str) -> bool {
        if !pattern.contains("{dir}") {
            return glob(pattern, arg);
        }
        // A path inside a granted directory, never one that climbs out,
        // through `..` or a symlink the plugin made there.
        !arg.contains("..")
            && self.dirs.iter().any(|d| {
                let dir = d.display().to_string();
                let dir = dir.trim_end_matches('/');
                glob(&pattern.replace("{dir}", dir), arg) && self.paths_stay_inside(arg, dir)
            })
    }

    /// Every path in `arg` that starts with `dir` resolves (symlinks
    /// followed) inside a granted directory; a path that does not exist
    /// yet must not be a symlink and its directory must resolve inside.
    fn paths_stay_inside(&self, arg: &str, dir: &str) -> bool {
        let granted: Vec<PathBuf> = self
            .dirs
            .iter()
            .filter_map(|d| std::fs::canonicalize(d).ok())
            .collect();
        let inside = |p: &Path| granted.iter().any(|g| p.starts_with(g));
        let mut rest = arg;
        while let Some(at) = rest.find(dir) {
            let tail = &rest[at..];
            let end = tail.find(|c: char| !safe(c)).unwrap_or(tail.len());
            let path = Path::new(&tail[..end]);
            let ok = match std::fs::canonicalize(path) {
                Ok(real) => inside(&real),
                Err(_) => {
                    std::fs::symlink_metadata(path).is_err()
                        && path
                            .parent()
                            .and_then(|p| std::fs::canonicalize(p).ok())
                            .is_some_and(|p| inside(&p))
                }
            };
            if !ok {
                return false;
            }
            rest = &tail[end..];
        }
        true
    }

    /// The process with `pid`, if it runs a granted program.
    fn granted_process(&self, pid: u32) -> Result<(), String> {
        // An exe the host cannot read (another user's process) is not a
        // granted program either.
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map_err(|_| format!("process {pid}: does not run a granted program"))?;
        let runs_granted = self
            .programs
            .iter()
            .any(|(p, _)| std::fs::canonicalize(p).is_ok_and(|c| c == exe) || p == &exe);
        if runs_granted {
            Ok(())
        } else {
            Err(format!("process {pid}: does not run a granted program"))
        }
    }

    /// A socket path inside a granted directory.
    fn granted_socket(&self, socket: &str) -> Result<PathBuf, String> {
        // Resolved whole (a symlink in a granted directory pointing out of
        // it is refused), as the kernel will resolve it.
        let real = std::fs::canonicalize(socket)
            .map_err(|_| format!("socket `{socket}`: not inside a granted directory"))?;
        let inside = self
            .dirs
            .iter()
            .filter_map(|d| std::fs::canonicalize(d).ok())
            .any(|d| real.starts_with(d));
        if inside {
            Ok(real)
        } else {
            Err(format!("socket `{socket}`: not inside a granted directory"))
        }
    }
}

fn denied(m: String) -> wit_types::Error {
    wit_types::Error::Denied(m)
}

fn unavailable(m: impl Into<String>) -> wit_types::Error {
    wit_types::Error::Unavailable(m.into())
}

/// CPU ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;

fn stats_of(pid: u32) -> Option<wit::ProcessStats> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces) in ()s.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let state = fields.first()?;
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Some(wit::ProcessStats {
        alive: !matches!(*state, "Z" | "X"),
        cpu_ms: ticks * 1000 / TICKS_PER_SECOND,
        rss_kib,
    })
}

fn command(path: &Path, args: &[String]) -> std::process::Command {
    let mut cmd = std::process::Command::new(path);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .stdin(std::process::Stdio::null());
    cmd
}

impl wit::Host for PluginState {
    fn spawn(&mut self, program: String, args: Vec<String>) -> Result<u32, wit_types::Error> {
        let path = self.exec.check(&program, &args).map_err(denied)?;
        let mut cmd = command(&path, &args);
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // Its own process group: a signal to the server's group (Ctrl-C,
        // a service manager stopping the server) does not reach it.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .spawn()
            .map_err(|e| unavailable(format!("starting {}: {e}", path.display())))?;
        let pid = child.id();
        // Reaped when it exits, so it never lingers as a zombie while the
        // server runs; after a restart it belongs to init.
        std::thread::Builder::new()
            .name(format!("reap-{pid}"))
            .spawn(move || {
                let _ = child.wait();
            })
            .map_err(|e| unavailable(format!("watching process {pid}: {e}")))?;
        tracing::info!(plugin = %self.plugin, pid, program = %path.display(), "started a process");
        Ok(pid)
    }

    fn run(
        &mut self,
        program: String,
        args: Vec<String>,
        timeout_ms: u32,
    ) -> Result<wit::Finished, wit_types::Error> {
        let path = self.exec.check(&program, &args).map_err(denied)?;
        let deadline = self.call_deadline(timeout_ms);
        let mut child = command(&path, &args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| unavailable(format!("starting {}: {e}", path.display())))?;
        // Read while it runs: a child that fills a pipe would otherwise
        // wait for us while we wait for it. Only the end is kept.
        let drain = |stream: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut kept: Vec<u8> = Vec::new();
                if let Some(mut stream) = stream {
                    let mut buf = [0u8; 8192];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        kept.extend_from_slice(&buf[..n]);
                        if kept.len() > 2 * OUTPUT_KEPT {
                            kept.drain(..kept.len() - OUTPUT_KEPT);
                        }
                    }
                }
                kept
            })
        };
        let err = drain(
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let out = drain(
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(unavailable(format!(
                        "{} did not finish in time",
                        path.display()
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(unavailable(e.to_string())),
            }
        };
        let mut output = err.join().unwrap_or_default();
        output.extend(out.join().unwrap_or_default());
        let start = output.len().saturating_sub(OUTPUT_KEPT);
        Ok(wit::Finished {
            exit_code: status.code().unwrap_or(-1),
            output: String::from_utf8_lossy(&output[start..]).into_owned(),
        })
    }

    fn stats(&mut self, pid: u32) -> Result<wit::ProcessStats, wit_types::Error> {
        if let Err(e) = self.exec.granted_process(pid) {
            // A process that exited (a zombie has no exe link) is not
            // alive; a pid of another program is not the plugin's business.
            return match stats_of(pid) {
                Some(s) if !s.alive => Ok(s),
                _ => Err(wit_types::Error::NotFound(e)),
            };
        }
        stats_of(pid).ok_or_else(|| wit_types::Error::NotFound(format!("process {pid}: gone")))
    }

    fn kill(&mut self, pid: u32, force: bool) -> Result<(), wit_types::Error> {
        match self.exec.granted_process(pid) {
            Ok(()) => {}
            Err(_) if !std::path::Path::new(&format!("/proc/{pid}")).exists() => return Ok(()),
            Err(e) => return Err(denied(e)),
        }
        let signal = if force { libc::SIGKILL } else { libc::SIGTERM };
        // SAFETY: kill(2) with a pid checked to run a granted program.
        let sent = unsafe { libc::kill(pid as libc::pid_t, signal) };
        if sent == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            Ok(())
        } else {
            Err(unavailable(format!(
                "signalling process {pid}: {}",
                std::io::Error::last_os_error()
            )))
        }
    }

    fn exchange(
        &mut self,
        socket: String,
        requests: Vec<String>,
        timeout_ms: u32,
    ) -> Result<Vec<String>, wit_types::Error> {
        let path = self.exec.granted_socket(&socket).map_err(denied)?;
        let deadline = self.call_deadline(timeout_ms.max(1));
        let stream = std::os::unix::net::UnixStream::connect(&path)
            .map_err(|e| unavailable(format!("connecting to {socket}: {e}")))?;
        let left = || {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        };
        let mut writer = stream.try_clone().map_err(|e| unavailable(e.to_string()))?;
        let mut reader = BufReader::new(stream);
        let read_answer = |reader: &mut BufReader<std::os::unix::net::UnixStream>| {
            loop {
                reader
                    .get_ref()
                    .set_read_timeout(Some(left()))
                    .map_err(|e| unavailable(e.to_string()))?;
                // One answer is a line of at most MAX_LINE bytes: a peer
                // that never ends its line cannot grow the host.
                let mut line = String::new();
                let n = (&mut *reader)
                    .take(MAX_LINE as u64)
                    .read_line(&mut line)
                    .map_err(|e| unavailable(format!("reading {socket}: {e}")))?;
                if n >= MAX_LINE && !line.ends_with('\n') {
                    return Err(unavailable(format!(
                        "{socket}: an answer over {MAX_LINE} bytes"
                    )));
                }
                if n == 0 {
                    return Err(unavailable(format!("{socket} closed the connection")));
                }
                let is_event = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .is_some_and(|v| v.get("event").is_some());
                if !is_event {
                    return Ok(line.trim_end().to_string());
                }
            }
        };
        read_answer(&mut reader)?; // the greeting
        let mut answers = Vec::with_capacity(requests.len());
        for request in requests {
            writer
                .set_write_timeout(Some(left()))
                .map_err(|e| unavailable(e.to_string()))?;
            writer
                .write_all(format!("{}\n", request.trim_end()).as_bytes())
                .map_err(|e| unavailable(format!("writing {socket}: {e}")))?;
            answers.push(read_answer(&mut reader)?);
        }
        Ok(answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(dir: &Path) -> ExecPolicy {
        ExecPolicy {
            programs: vec![(
                PathBuf::from("/usr/bin/qemu-system-x86_64"),
                vec![
                    "-m".into(),
                    "*M".into(),
                    "file={dir}/*,format=raw".into(),
                    "-name".into(),
                    "vm-*".into(),
                ],
            )],
            dirs: vec![dir.to_path_buf()],
        }
    }

    #[test]
    fn programs_and_arguments_must_be_granted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        let p = policy(&dir);
        let d = dir.display();
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(
            p.check(
                "qemu-system-x86_64",
                &args(&["-m", "256M", "-name", "vm-3"])
            )
            .is_ok()
        );
        let disk = format!("file={d}/vm-3.qcow2,format=raw");
        assert!(
            p.check("/usr/bin/qemu-system-x86_64", &args(&[&disk]))
                .is_ok()
        );
        let err = p.check("sh", &args(&["-c", "id"])).unwrap_err();
        assert!(err.contains("not granted"), "{err}");
        let err = p
            .check("qemu-system-x86_64", &args(&["-name", "x"]))
            .unwrap_err();
        assert!(err.starts_with("argument 1 `x`"), "{err}");
        for escape in [
            "file=/etc/shadow,format=raw".to_string(),
            format!("file={d}/../../etc/shadow,format=raw"),
            // A `*` never covers a comma: no option is smuggled in.
            format!("file={d}/a,driver=file,filename=/etc/shadow,format=raw"),
            "vm-1; rm -rf ~".to_string(),
        ] {
            assert!(
                p.check("qemu-system-x86_64", &args(&[&escape])).is_err(),
                "{escape}"
            );
        }
        // A symlink the plugin made in its directory, pointing out of it.
        std::os::unix::fs::symlink("/etc/shadow", dir.join("link")).unwrap();
        let link = format!("file={d}/link,format=raw");
        assert!(p.check("qemu-system-x86_64", &args(&[&link])).is_err());
        let nothing = ExecPolicy::default();
        assert!(
            nothing
                .check("qemu-system-x86_64", &[])
                .unwrap_err()
                .contains("granted no program")
        );
    }

    #[test]
    fn globs_match_runs_of_characters() {
        assert!(glob("*", "anything"));
        assert!(!glob("*", "two words") && !glob("*", "a,b") && !glob("*", "a:b"));
        assert!(glob("vm-*", "vm-12"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("a*c*e", "abde"));
        assert!(!glob("vm-*", "xvm-1"));
        assert!(glob("exact", "exact") && !glob("exact", "exactly"));
    }
}
