//! `flotilla:host/process`: programs a plugin may start as host processes
//! (a QEMU driver's `qemu-system-x86_64`), under the operator's grant.
//!
//! What a plugin gets is the intersection of its manifest
//! (`capabilities.exec`, by file name) and the grant (`exec`, by absolute
//! path, with argument groups); nothing is granted by default. The
//! arguments must be a run of the grant's groups, each pattern matching
//! the argument at its own place (`flotilla_model::pattern`). `{state}`
//! in a pattern stands for a granted read-write directory and `{image}`
//! for a read-only image directory, so a path argument is held inside
//! the right set: a disk's backing file can come from an image directory
//! only, never from a VM's files. Only processes running a granted
//! program can be watched or stopped (their `/proc/<pid>/exe`), and only
//! sockets inside a granted read-write directory reached.

use crate::bindings::driver::flotilla::host::process as wit;
use crate::bindings::types as wit_types;
use crate::child::{RunError, run_to_end};
use crate::manifest::{Grant, Manifest};
use crate::state::PluginState;
use flotilla_model::pattern::{IMAGE_DIR, STATE_DIR, glob, match_groups, safe};
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
    /// (program path, argument groups).
    programs: Vec<(PathBuf, Vec<Vec<String>>)>,
    /// Read-write: `{state}`.
    dirs: Vec<PathBuf>,
    /// Read-only sources of disk images: `{image}`.
    image_dirs: Vec<PathBuf>,
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
            image_dirs: grant.image_dirs.clone(),
        }
    }

    /// The programs the plugin may start, for `plugin list`.
    pub fn programs(&self) -> Vec<String> {
        self.programs
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect()
    }

    /// The read-write directories.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The read-only image directories.
    pub fn image_dirs(&self) -> &[PathBuf] {
        &self.image_dirs
    }

    /// The granted program `program` (its path or file name) with `args`
    /// all allowed, or why not.
    pub fn check(&self, program: &str, args: &[String]) -> Result<PathBuf, NotGranted> {
        let (path, groups) = self
            .programs
            .iter()
            .find(|(path, _)| {
                path.as_os_str() == program
                    || path.file_name().and_then(|n| n.to_str()) == Some(program)
            })
            .ok_or_else(|| {
                NotGranted(if self.programs.is_empty() {
                    format!("program `{program}`: this plugin is granted no program")
                } else {
                    format!(
                        "program `{program}`: not granted (granted: {})",
                        self.programs().join(", ")
                    )
                })
            })?;
        match_groups(groups, args, |pattern, arg| self.matches(pattern, arg))
            .map_err(|at| NotGranted(self.refusal(path, groups, args, at)))?;
        Ok(path.clone())
    }

    /// Why `args` from `at` on match no group: the argument where the
    /// group that starts there and matches longest parts from it, and the
    /// pattern it wants there.
    fn refusal(&self, path: &Path, groups: &[Vec<String>], args: &[String], at: usize) -> String {
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
        let program = path.display();
        let nearest = groups
            .iter()
            .filter(|g| g.first().is_some_and(|p| self.matches(p, arg(at))))
            .map(|g| {
                let agree = g
                    .iter()
                    .zip(&args[at..])
                    .take_while(|(p, a)| self.matches(p, a))
                    .count();
                (agree, g)
            })
            .max_by_key(|(agree, _)| *agree);
        match nearest {
            Some((agree, group)) if at + agree < args.len() => format!(
                "argument {} `{}` of {program}: the grant wants `{}` there (after `{}`)",
                at + agree,
                arg(at + agree),
                group[agree],
                group[..agree].join(" ")
            ),
            Some((_, group)) => format!(
                "argument {at} `{}` of {program}: the grant's group `{}` goes on past the last \
                 argument",
                arg(at),
                group.join(" ")
            ),
            None => format!(
                "argument {at} `{}` of {program}: no group of the grant starts with it",
                arg(at)
            ),
        }
    }

    fn matches(&self, pattern: &str, arg: &str) -> bool {
        let has_state = pattern.contains(STATE_DIR);
        let has_image = pattern.contains(IMAGE_DIR);
        if !has_state && !has_image {
            return glob(pattern, arg);
        }
        // A path inside a granted directory of the placeholder's kind,
        // never one that climbs out, through `..` or a symlink.
        if arg.contains("..") {
            return false;
        }
        let text = |d: &PathBuf| d.display().to_string().trim_end_matches('/').to_string();
        let states: Vec<Option<String>> = if has_state {
            self.dirs.iter().map(|d| Some(text(d))).collect()
        } else {
            vec![None]
        };
        let images: Vec<Option<String>> = if has_image {
            self.image_dirs.iter().map(|d| Some(text(d))).collect()
        } else {
            vec![None]
        };
        states.iter().any(|state| {
            images.iter().any(|image| {
                let mut p = pattern.to_string();
                if let Some(s) = state {
                    p = p.replace(STATE_DIR, s);
                }
                if let Some(i) = image {
                    p = p.replace(IMAGE_DIR, i);
                }
                glob(&p, arg)
                    && state
                        .as_ref()
                        .is_none_or(|s| self.paths_stay_inside(arg, s, Kind::State))
                    && image
                        .as_ref()
                        .is_none_or(|i| self.paths_stay_inside(arg, i, Kind::Image))
            })
        })
    }

    /// Every path in `arg` that starts with `dir` resolves (symlinks
    /// followed) inside a granted directory of `kind`. A state path that
    /// does not exist yet must not be a symlink and its directory must
    /// resolve inside; an image must exist, and never resolves into a
    /// read-write directory.
    fn paths_stay_inside(&self, arg: &str, dir: &str, kind: Kind) -> bool {
        let canonical = |dirs: &[PathBuf]| -> Vec<PathBuf> {
            dirs.iter()
                .filter_map(|d| std::fs::canonicalize(d).ok())
                .collect()
        };
        let states = canonical(&self.dirs);
        let granted = match kind {
            Kind::State => states.clone(),
            Kind::Image => canonical(&self.image_dirs),
        };
        let inside = |p: &Path| {
            granted.iter().any(|g| p.starts_with(g))
                && (kind == Kind::State || !states.iter().any(|s| p.starts_with(s)))
        };
        let mut rest = arg;
        while let Some(at) = rest.find(dir) {
            let tail = &rest[at..];
            let end = tail.find(|c: char| !safe(c)).unwrap_or(tail.len());
            let path = Path::new(&tail[..end]);
            let ok = match std::fs::canonicalize(path) {
                Ok(real) => inside(&real),
                Err(_) if kind == Kind::Image => false,
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
    fn granted_process(&self, pid: u32) -> Result<(), NotGranted> {
        let refused = || NotGranted(format!("process {pid}: does not run a granted program"));
        // An exe the host cannot read (another user's process) is not a
        // granted program either.
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).map_err(|_| refused())?;
        let runs_granted = self
            .programs
            .iter()
            .any(|(p, _)| std::fs::canonicalize(p).is_ok_and(|c| c == exe) || p == &exe);
        if runs_granted { Ok(()) } else { Err(refused()) }
    }

    /// A socket path inside a granted read-write directory: `denied`
    /// outside them, `not-found` when nothing is there (yet) but would be
    /// inside.
    fn granted_socket(&self, socket: &str) -> Result<PathBuf, wit_types::Error> {
        let refused = || {
            wit_types::Error::Denied(format!("socket `{socket}`: not inside a granted directory"))
        };
        let granted: Vec<PathBuf> = self
            .dirs
            .iter()
            .filter_map(|d| std::fs::canonicalize(d).ok())
            .collect();
        let inside = |p: &Path| granted.iter().any(|d| p.starts_with(d));
        // Resolved whole (a symlink in a granted directory pointing out of
        // it is refused), as the kernel will resolve it.
        match std::fs::canonicalize(socket) {
            Ok(real) if inside(&real) => Ok(real),
            Ok(_) => Err(refused()),
            Err(_) => {
                // Nothing there: a QEMU that has not made its socket yet, or
                // removed it. Said so only for a name in a granted directory
                // (not a dangling symlink, not `..`).
                let path = Path::new(socket);
                let missing_inside = std::fs::symlink_metadata(path).is_err()
                    && path.file_name().is_some()
                    && path
                        .parent()
                        .and_then(|p| std::fs::canonicalize(p).ok())
                        .is_some_and(|p| inside(&p));
                if missing_inside {
                    Err(wit_types::Error::NotFound(format!(
                        "socket `{socket}`: no such socket"
                    )))
                } else {
                    Err(refused())
                }
            }
        }
    }
}

/// Which granted directories a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    State,
    Image,
}

/// Why a plugin may not run a program with its arguments, or reach a
/// process or a socket: what it hears back as `denied`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotGranted(String);

impl std::fmt::Display for NotGranted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn denied(e: NotGranted) -> wit_types::Error {
    wit_types::Error::Denied(e.0)
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
        let path = self.terms().exec.check(&program, &args).map_err(denied)?;
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
        tracing::info!(plugin = %self.terms().plugin, pid, program = %path.display(), "started a process");
        Ok(pid)
    }

    fn run(
        &mut self,
        program: String,
        args: Vec<String>,
        timeout_ms: u32,
    ) -> Result<wit::Finished, wit_types::Error> {
        let path = self.terms().exec.check(&program, &args).map_err(denied)?;
        let deadline = self.call_deadline(timeout_ms);
        let ran = run_to_end(command(&path, &args), deadline, OUTPUT_KEPT).map_err(|e| {
            unavailable(match e {
                RunError::Start(e) => format!("starting {}: {e}", path.display()),
                RunError::Read(e) => format!("{}: reading its output: {e}", path.display()),
                RunError::Late => format!("{} did not finish in time", path.display()),
                RunError::Wait(e) => e.to_string(),
            })
        })?;
        let mut output = ran.stderr;
        output.extend(ran.stdout);
        let start = output.len().saturating_sub(OUTPUT_KEPT);
        Ok(wit::Finished {
            exit_code: ran.status.code().unwrap_or(-1),
            output: String::from_utf8_lossy(&output[start..]).into_owned(),
        })
    }

    fn stats(&mut self, pid: u32) -> Result<wit::ProcessStats, wit_types::Error> {
        if let Err(e) = self.terms().exec.granted_process(pid) {
            // A process that exited (a zombie has no exe link) is not
            // alive; a pid of another program is not the plugin's business.
            return match stats_of(pid) {
                Some(s) if !s.alive => Ok(s),
                _ => Err(wit_types::Error::NotFound(e.0)),
            };
        }
        stats_of(pid).ok_or_else(|| wit_types::Error::NotFound(format!("process {pid}: gone")))
    }

    fn kill(&mut self, pid: u32, force: bool) -> Result<(), wit_types::Error> {
        match self.terms().exec.granted_process(pid) {
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
        let path = self.terms().exec.granted_socket(&socket)?;
        let deadline = self.call_deadline(timeout_ms.max(1));
        exchange_on(&path, &socket, &requests, deadline)
    }

    fn exchange_many(
        &mut self,
        exchanges: Vec<wit::ExchangeRequest>,
        timeout_ms: u32,
    ) -> Vec<Result<Vec<String>, wit_types::Error>> {
        let deadline = self.call_deadline(timeout_ms.max(1));
        exchange_many(&self.terms().exec, exchanges, deadline, timeout_ms)
    }
}

/// `exchange-many`: each socket checked against the grant as `exchange`
/// does, the granted ones exchanged with concurrently until `deadline`
/// (`timeout_ms` from now, or the call's own end), the results in the
/// order asked.
fn exchange_many(
    exec: &ExecPolicy,
    exchanges: Vec<wit::ExchangeRequest>,
    deadline: Instant,
    timeout_ms: u32,
) -> Vec<Result<Vec<String>, wit_types::Error>> {
    let sockets: Vec<String> = exchanges.iter().map(|e| e.socket.clone()).collect();
    let mut results: Vec<Option<Result<Vec<String>, wit_types::Error>>> =
        (0..exchanges.len()).map(|_| None).collect();
    let mut jobs = Vec::new();
    for (index, e) in exchanges.into_iter().enumerate() {
        match exec.granted_socket(&e.socket) {
            Ok(path) => jobs.push(Job {
                index,
                path,
                socket: e.socket,
                requests: e.requests,
            }),
            Err(refused) => results[index] = Some(Err(refused)),
        }
    }
    for (index, result) in run_concurrently(jobs, deadline) {
        results[index] = Some(result);
    }
    results
        .into_iter()
        .zip(sockets)
        .map(|(result, socket)| {
            result.unwrap_or_else(|| {
                Err(unavailable(format!(
                    "{socket}: the exchange was not over within {timeout_ms} ms"
                )))
            })
        })
        .collect()
}

/// At most this many exchanges of one `exchange-many` at a time: each
/// waits almost only for its peer (a QEMU's main loop to be scheduled),
/// so a poll of many VMs overlaps their round trips; beyond this many VMs
/// a thread serves several, one after another.
const EXCHANGE_THREADS: usize = 64;

/// One exchange of an `exchange-many`, its socket granted.
struct Job {
    index: usize,
    path: PathBuf,
    socket: String,
    requests: Vec<String>,
}

/// Run `jobs` on up to [`EXCHANGE_THREADS`] threads until `deadline`: the
/// results there are by then, with their job's index. The threads are
/// not waited for past the deadline; each takes no new job after it, and
/// every read and write it makes is bounded by it.
fn run_concurrently(
    jobs: Vec<Job>,
    deadline: Instant,
) -> Vec<(usize, Result<Vec<String>, wit_types::Error>)> {
    let count = jobs.len();
    let threads = EXCHANGE_THREADS.min(count);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(jobs.into_iter()));
    let (tx, rx) = std::sync::mpsc::channel();
    let mut started = 0;
    for _ in 0..threads {
        let (queue, tx) = (queue.clone(), tx.clone());
        let spawned = std::thread::Builder::new()
            .name("plugin-exchange".into())
            .spawn(move || {
                while Instant::now() < deadline {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some(job) = job else { break };
                    let result = exchange_on(&job.path, &job.socket, &job.requests, deadline);
                    if tx.send((job.index, result)).is_err() {
                        break;
                    }
                }
            });
        started += usize::from(spawned.is_ok());
    }
    drop(tx);
    if started == 0 {
        // No thread to be had: one after another, here.
        let jobs = std::mem::take(&mut *queue.lock().unwrap_or_else(|e| e.into_inner()));
        return jobs
            .take_while(|_| Instant::now() < deadline)
            .map(|job| {
                let result = exchange_on(&job.path, &job.socket, &job.requests, deadline);
                (job.index, result)
            })
            .collect();
    }
    let mut done = Vec::with_capacity(count);
    while done.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(result) => done.push(result),
            // The deadline passed, or every thread ended.
            Err(_) => break,
        }
    }
    done
}

/// One exchange on the socket at `path` (`socket` as the plugin named
/// it), over by `deadline`.
fn exchange_on(
    path: &Path,
    socket: &str,
    requests: &[String],
    deadline: Instant,
) -> Result<Vec<String>, wit_types::Error> {
    let stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        use std::io::ErrorKind;
        let message = format!("connecting to {socket}: {e}");
        match e.kind() {
            // No socket file, or nothing listens on it.
            ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
                wit_types::Error::NotFound(message)
            }
            _ => unavailable(message),
        }
    })?;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let io_error = |doing: &str, e: std::io::Error| {
        use std::io::ErrorKind;
        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            unavailable(format!("{doing} {socket}: no answer in time"))
        } else {
            unavailable(format!("{doing} {socket}: {e}"))
        }
    };
    let mut writer = stream.try_clone().map_err(|e| unavailable(e.to_string()))?;
    let mut reader = BufReader::new(stream);
    let read_answer = |reader: &mut BufReader<std::os::unix::net::UnixStream>| {
        loop {
            reader
                .get_ref()
                .set_read_timeout(Some(left()))
                .map_err(|e| unavailable(e.to_string()))?;
            // One answer is a line of at most MAX_LINE bytes: a peer that
            // never ends its line cannot grow the host.
            let mut line = String::new();
            let n = (&mut *reader)
                .take(MAX_LINE as u64)
                .read_line(&mut line)
                .map_err(|e| io_error("reading", e))?;
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
    // Every request is written at once, before the greeting is read: the
    // peer answers them in order, and a busy QEMU, whose main loop runs
    // when the scheduler gets to it, answers them all in one turn
    // instead of one turn per request.
    let mut batch = String::new();
    for request in requests {
        batch.push_str(request.trim_end());
        batch.push('\n');
    }
    writer
        .set_write_timeout(Some(left()))
        .map_err(|e| unavailable(e.to_string()))?;
    writer
        .write_all(batch.as_bytes())
        .map_err(|e| io_error("writing", e))?;
    read_answer(&mut reader)?; // the greeting
    requests.iter().map(|_| read_answer(&mut reader)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    fn args(a: &[&str]) -> Vec<String> {
        group(a)
    }

    /// `{state}` is `state`, `{image}` is `images`.
    fn policy(state: &Path, images: &Path) -> ExecPolicy {
        ExecPolicy {
            programs: vec![
                (
                    PathBuf::from("/usr/bin/qemu-system-x86_64"),
                    vec![
                        group(&["-m", "*M"]),
                        group(&["-drive", "file={state}/*,format=raw"]),
                        group(&["-name", "vm-*"]),
                    ],
                ),
                (
                    PathBuf::from("/usr/bin/qemu-img"),
                    vec![group(&[
                        "create",
                        "-f",
                        "qcow2",
                        "-b",
                        "{image}/*.qcow2",
                        "{state}/vms/*.qcow2",
                    ])],
                ),
            ],
            dirs: vec![state.to_path_buf()],
            image_dirs: vec![images.to_path_buf()],
        }
    }

    struct Dirs {
        _tmp: tempfile::TempDir,
        state: PathBuf,
        images: PathBuf,
    }

    fn dirs() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let (state, images) = (root.join("state"), root.join("images"));
        std::fs::create_dir_all(state.join("vms")).unwrap();
        std::fs::create_dir_all(&images).unwrap();
        std::fs::write(images.join("base.qcow2"), b"QFI\xfb").unwrap();
        std::fs::write(state.join("vms/q0.qcow2"), b"QFI\xfb").unwrap();
        Dirs {
            _tmp: tmp,
            state,
            images,
        }
    }

    #[test]
    fn programs_and_arguments_must_be_granted() {
        let d = dirs();
        let p = policy(&d.state, &d.images);
        let s = d.state.display();
        assert!(
            p.check(
                "qemu-system-x86_64",
                &args(&["-m", "256M", "-name", "vm-3"])
            )
            .is_ok()
        );
        let disk = format!("file={s}/vm-3.qcow2,format=raw");
        assert!(
            p.check("/usr/bin/qemu-system-x86_64", &args(&["-drive", &disk]))
                .is_ok()
        );
        let err = p.check("sh", &args(&["-c", "id"])).unwrap_err().to_string();
        assert!(err.contains("not granted"), "{err}");
        let err = p
            .check("qemu-system-x86_64", &args(&["-name", "x"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("argument 1 `x`") && err.contains("wants `vm-*` there (after `-name`)"),
            "{err}"
        );
        for escape in [
            "file=/etc/shadow,format=raw".to_string(),
            format!("file={s}/../../etc/shadow,format=raw"),
            // A `*` never covers a comma: no option is smuggled in.
            format!("file={s}/a,driver=file,filename=/etc/shadow,format=raw"),
            "vm-1; rm -rf ~".to_string(),
        ] {
            assert!(
                p.check("qemu-system-x86_64", &args(&["-drive", &escape]))
                    .is_err(),
                "{escape}"
            );
        }
        // A symlink the plugin made in its directory, pointing out of it.
        std::os::unix::fs::symlink("/etc/shadow", d.state.join("link")).unwrap();
        let link = format!("file={s}/link,format=raw");
        assert!(
            p.check("qemu-system-x86_64", &args(&["-drive", &link]))
                .is_err()
        );
        let nothing = ExecPolicy::default();
        assert!(
            nothing
                .check("qemu-system-x86_64", &[])
                .unwrap_err()
                .to_string()
                .contains("granted no program")
        );
    }

    #[test]
    fn a_pattern_matches_only_at_its_position_and_in_its_kind_of_directory() {
        let d = dirs();
        let p = policy(&d.state, &d.images);
        let image = format!("{}/base.qcow2", d.images.display());
        let vm_disk = format!("{}/vms/q0.qcow2", d.state.display());
        let overlay = format!("{}/vms/q1.qcow2", d.state.display());
        let img =
            |b: &str, o: &str| p.check("qemu-img", &args(&["create", "-f", "qcow2", "-b", b, o]));
        assert!(img(&image, &overlay).is_ok());
        // Another VM's disk is a state path: never a backing file.
        let err = img(&vm_disk, &overlay).unwrap_err().to_string();
        assert!(
            err.starts_with("argument 4 `") && err.contains("wants `{image}/*.qcow2` there"),
            "{err}"
        );
        // The overlay pattern does not serve the backing file's place, nor
        // the literals each other's.
        assert!(img(&overlay, &overlay).is_err());
        assert!(
            p.check(
                "qemu-img",
                &args(&["create", "-f", "-b", "qcow2", &image, &overlay])
            )
            .is_err()
        );
        // A missing image, and a symlink in the image directory to a VM's
        // disk, are no images.
        assert!(img(&format!("{}/gone.qcow2", d.images.display()), &overlay).is_err());
        std::os::unix::fs::symlink(&vm_disk, d.images.join("sneaky.qcow2")).unwrap();
        let sneaky = format!("{}/sneaky.qcow2", d.images.display());
        assert!(img(&sneaky, &overlay).is_err());
        // An overlay outside the state directory.
        let err = img(&image, &format!("{}/x.qcow2", d.images.display()))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("argument 5 `"), "{err}");
        let err = p
            .check("qemu-img", &args(&["-b", &image]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no group of the grant starts with it"),
            "{err}"
        );
    }

    /// A QMP peer on `path` for one connection: the greeting, then for
    /// each request line (after `wait`, if given, has fired) an event and
    /// the answer `{"return": {"from": name, "to": request}}`; `answered`
    /// fires after the first answer. `hang`: greets nobody and answers
    /// nothing, until the host hangs up.
    fn peer(
        path: &Path,
        name: &str,
        hang: bool,
        wait: Option<std::sync::mpsc::Receiver<()>>,
        answered: Option<std::sync::mpsc::Sender<()>>,
    ) -> std::thread::JoinHandle<()> {
        let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
        let name = name.to_string();
        std::thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            if hang {
                // Reads what it is sent, until the host closes its end.
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
                return;
            }
            if let Some(wait) = wait {
                let _ = wait.recv();
            }
            let _ = writer.write_all(b"{\"QMP\": {}}\n");
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let request = line.trim_end().to_string();
                let answer = serde_json::json!({"return": {"from": name, "to": request}});
                let _ = writer.write_all(format!("{{\"event\": \"X\"}}\n{answer}\n").as_bytes());
                if let Some(answered) = &answered {
                    let _ = answered.send(());
                }
                line.clear();
            }
        })
    }

    fn ask(socket: &Path, requests: &[&str]) -> wit::ExchangeRequest {
        wit::ExchangeRequest {
            socket: socket.display().to_string(),
            requests: requests.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn from_and_to(answer: &str) -> (String, String) {
        let v: serde_json::Value = serde_json::from_str(answer).unwrap();
        (
            v["return"]["from"].as_str().unwrap().to_string(),
            v["return"]["to"].as_str().unwrap().to_string(),
        )
    }

    #[test]
    fn many_exchanges_overlap_and_answer_in_the_order_asked() {
        let d = dirs();
        let p = policy(&d.state, &d.images);
        // The first peer answers only once the last one has: the call can
        // end only if the exchanges overlap.
        let (last_answered, first_may_answer) = std::sync::mpsc::channel();
        let names = ["a", "b", "c", "d", "e"];
        let mut peers = Vec::new();
        let mut asked = Vec::new();
        for name in names {
            let path = d.state.join(format!("{name}.qmp"));
            peers.push((path.clone(), name));
            asked.push(ask(&path, &["qmp_capabilities", name]));
        }
        let mut first_wait = Some(first_may_answer);
        let mut last_signal = Some(last_answered);
        let handles: Vec<_> = peers
            .iter()
            .enumerate()
            .map(|(i, (path, name))| {
                let wait = if i == 0 { first_wait.take() } else { None };
                let answered = if i == names.len() - 1 {
                    last_signal.take()
                } else {
                    None
                };
                peer(path, name, false, wait, answered)
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        let results = exchange_many(&p, asked, deadline, 30_000);
        assert_eq!(results.len(), names.len());
        for (result, name) in results.iter().zip(names) {
            let answers = result.as_ref().unwrap();
            assert_eq!(
                answers.iter().map(|a| from_and_to(a)).collect::<Vec<_>>(),
                [
                    (name.to_string(), "qmp_capabilities".to_string()),
                    (name.to_string(), name.to_string())
                ]
            );
        }
        for h in handles {
            h.join().unwrap();
        }
    }

    #[test]
    fn a_bad_socket_among_good_ones_fails_alone_with_its_kind() {
        let d = dirs();
        let p = policy(&d.state, &d.images);
        let good = d.state.join("good.qmp");
        let handle = peer(&good, "good", false, None, None);
        // A socket file nobody listens on any more.
        let stale = d.state.join("stale.qmp");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let missing = d.state.join("missing.qmp");
        let outside = d.images.join("elsewhere.qmp");
        let asked = vec![
            ask(&stale, &["x"]),
            ask(&good, &["x"]),
            ask(&missing, &["x"]),
            ask(&outside, &["x"]),
            ask(Path::new("/etc/passwd"), &["x"]),
        ];
        let deadline = Instant::now() + Duration::from_secs(30);
        let results = exchange_many(&p, asked, deadline, 30_000);
        assert!(
            matches!(&results[0], Err(wit_types::Error::NotFound(m)) if m.contains("stale.qmp")),
            "{:?}",
            results[0]
        );
        assert_eq!(from_and_to(&results[1].as_ref().unwrap()[0]).0, "good");
        assert!(
            matches!(&results[2], Err(wit_types::Error::NotFound(m)) if m.contains("missing.qmp")),
            "{:?}",
            results[2]
        );
        // Outside the granted directories: refused, whether it exists or
        // not, and never connected to.
        assert!(
            matches!(&results[3], Err(wit_types::Error::Denied(_))),
            "{:?}",
            results[3]
        );
        assert!(
            matches!(&results[4], Err(wit_types::Error::Denied(_))),
            "{:?}",
            results[4]
        );
        handle.join().unwrap();
    }

    #[test]
    fn a_peer_that_never_answers_fails_at_the_call_deadline_and_the_others_answer() {
        let d = dirs();
        let p = policy(&d.state, &d.images);
        let hung = d.state.join("hung.qmp");
        let good = d.state.join("good.qmp");
        let handles = [
            peer(&hung, "hung", true, None, None),
            peer(&good, "good", false, None, None),
        ];
        let deadline = Instant::now() + Duration::from_millis(1500);
        let results = exchange_many(
            &p,
            vec![ask(&hung, &["x"]), ask(&good, &["x"])],
            deadline,
            1500,
        );
        assert!(
            matches!(&results[0], Err(wit_types::Error::Unavailable(m)) if m.contains("hung.qmp")),
            "{:?}",
            results[0]
        );
        assert_eq!(from_and_to(&results[1].as_ref().unwrap()[0]).0, "good");
        // The host hung up on the silent peer: its thread ends.
        for h in handles {
            h.join().unwrap();
        }
    }
}
