//! virsh's command lines and what it prints, read. Pure.
//!
//! Every command line is `virsh -q -c <URI> <command> <arguments>`: the
//! grant (`crate::grant`) allows exactly these commands, on domains named
//! `flotilla-*` and domain files in the state directory.

use flotilla_plugin_sdk::driver::Error;
use std::collections::HashMap;

pub const VIRSH: &str = "virsh";

/// The commands the driver runs, each with its arguments' patterns as the
/// grant writes them (a domain is `flotilla-*`, a domain file
/// `{state}/domains/flotilla-*.xml`).
pub const COMMANDS: &[&[&str]] = &[
    &["define", "{state}/domains/flotilla-*.xml"],
    &["start", "flotilla-*"],
    &["destroy", "flotilla-*"],
    &["undefine", "flotilla-*"],
    &["shutdown", "flotilla-*"],
    &["reboot", "flotilla-*"],
    &["reset", "flotilla-*"],
    &["suspend", "flotilla-*"],
    &["resume", "flotilla-*"],
    &["domstate", "flotilla-*"],
    &["list", "--all"],
    &["list", "--all", "--name"],
    &["domstats", "--state", "--cpu-total", "--balloon"],
    &["nodeinfo"],
    &["nodememstats"],
    &["nodecpustats"],
];

/// `-q -c <uri> <command…>`.
pub fn args(uri: &str, command: &[&str]) -> Vec<String> {
    ["-q", "-c", uri]
        .iter()
        .chain(command)
        .map(|s| s.to_string())
        .collect()
}

/// The most domains one `domstats` asks about: its output (about 400
/// bytes a domain) must fit the 4 KiB of output a run keeps.
pub const DOMSTATS_CHUNK: usize = 8;

/// Whether a run of virsh succeeded: it exited 0 and printed no error.
/// virsh exits 0 from a command the daemon dropped the connection in
/// (a libvirtd killed mid-`list` leaves `error: Disconnected from … due
/// to end of file` and nothing listed), so an empty listing is believed
/// only when no error came with it.
pub fn succeeded(exit_code: i32, output: &str) -> bool {
    exit_code == 0 && !output.lines().any(|l| l.starts_with("error:"))
}

/// Whether a run's output may have lost its beginning (a run keeps the
/// last 4 KiB).
pub fn maybe_truncated(output: &str) -> bool {
    output.len() >= 4000
}

/// The lines virsh wrote as errors (`error: …`), joined.
pub fn errors(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim())
        .collect();
    if lines.is_empty() {
        output.trim().chars().take(300).collect()
    } else {
        lines.join("; ")
    }
}

/// What a failed virsh command means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The host's libvirtd does not answer (or the connection broke).
    Unreachable,
    /// No such domain.
    NoDomain,
    /// The domain is not running (a destroy or shutdown of a stopped one).
    NotRunning,
    /// The XML (the template) was refused.
    BadXml,
    Other,
}

pub fn classify(output: &str) -> Failure {
    let o = output.to_ascii_lowercase();
    if o.contains("failed to connect to the hypervisor")
        || o.contains("unable to connect to server")
        || o.contains("cannot recv data")
        || o.contains("end of file while reading data")
        || o.contains("no route to host")
        || o.contains("connection refused")
        || o.contains("broken pipe")
        || o.contains("disconnected from")
    {
        Failure::Unreachable
    } else if o.contains("failed to get domain") || o.contains("domain not found") {
        Failure::NoDomain
    } else if o.contains("domain is not running") || o.contains("is not running") {
        Failure::NotRunning
    } else if o.contains("xml error") || o.contains("xml document failed") {
        Failure::BadXml
    } else {
        Failure::Other
    }
}

/// A domain's state, as virsh names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomState {
    Running,
    Paused,
    ShutOff,
    Crashed,
    /// `in shutdown`: still running, the guest shutting down.
    ShuttingDown,
    PmSuspended,
    Other,
}

impl DomState {
    /// virsh's words (`list`, `domstate`).
    pub fn parse(text: &str) -> DomState {
        match text.trim() {
            "running" | "idle" | "blocked" => DomState::Running,
            "paused" => DomState::Paused,
            "shut off" => DomState::ShutOff,
            "crashed" => DomState::Crashed,
            "in shutdown" => DomState::ShuttingDown,
            "pmsuspended" => DomState::PmSuspended,
            _ => DomState::Other,
        }
    }

    /// `state.state` of `domstats` (virDomainState).
    pub fn from_number(n: u64) -> DomState {
        match n {
            1 | 2 => DomState::Running,
            3 => DomState::Paused,
            4 => DomState::ShuttingDown,
            5 => DomState::ShutOff,
            6 => DomState::Crashed,
            7 => DomState::PmSuspended,
            _ => DomState::Other,
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            DomState::Running => "running",
            DomState::Paused => "paused",
            DomState::ShutOff => "shut off",
            DomState::Crashed => "crashed",
            DomState::ShuttingDown => "in shutdown",
            DomState::PmSuspended => "pmsuspended",
            DomState::Other => "in no known state",
        }
    }
}

/// `virsh -q list --all`: ` 1    name   running`, ` -    name   shut off`.
/// A line that does not read (an error, a cut first line) is skipped.
pub fn parse_list(output: &str) -> HashMap<String, DomState> {
    let mut out = HashMap::new();
    for line in output.lines() {
        let mut words = line.split_whitespace();
        let (Some(id), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        if !(id == "-" || id.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        let state = words.collect::<Vec<_>>().join(" ");
        if state.is_empty() {
            continue;
        }
        out.insert(name.to_string(), DomState::parse(&state));
    }
    out
}

/// `virsh -q list --all --name`: one name a line.
pub fn parse_names(output: &str) -> Vec<String> {
    output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("error:"))
        .map(str::to_string)
        .collect()
}

/// One domain's `domstats --state --cpu-total --balloon`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomStats {
    pub state: Option<u64>,
    /// CPU time used, ns.
    pub cpu_time_ns: Option<u64>,
    /// The guest's memory, KiB.
    pub balloon_current_kib: Option<u64>,
    /// QEMU's resident memory, KiB.
    pub balloon_rss_kib: Option<u64>,
}

/// `Domain: 'name'` then `  key=value` lines.
pub fn parse_domstats(output: &str) -> HashMap<String, DomStats> {
    let mut out: HashMap<String, DomStats> = HashMap::new();
    let mut current: Option<String> = None;
    for line in output.lines() {
        let line = line.trim();
        if let Some(name) = line
            .strip_prefix("Domain: '")
            .and_then(|r| r.strip_suffix('\''))
        {
            current = Some(name.to_string());
            out.entry(name.to_string()).or_default();
            continue;
        }
        let (Some(name), Some((key, value))) = (&current, line.split_once('=')) else {
            continue;
        };
        let Ok(value) = value.trim().parse::<u64>() else {
            continue;
        };
        let stats = out.entry(name.clone()).or_default();
        match key.trim() {
            "state.state" => stats.state = Some(value),
            "cpu.time" => stats.cpu_time_ns = Some(value),
            "balloon.current" => stats.balloon_current_kib = Some(value),
            "balloon.rss" => stats.balloon_rss_kib = Some(value),
            _ => {}
        }
    }
    out
}

/// `key: value [unit]` lines into (key, first number).
fn key_numbers(output: &str) -> HashMap<String, u64> {
    output
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let n = v.split_whitespace().next()?.parse::<u64>().ok()?;
            Some((k.trim().to_ascii_lowercase(), n))
        })
        .collect()
}

/// `virsh nodeinfo`: CPUs and memory (KiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeInfo {
    pub cpus: u64,
    pub memory_kib: u64,
}

pub fn parse_nodeinfo(output: &str) -> Option<NodeInfo> {
    let n = key_numbers(output);
    Some(NodeInfo {
        cpus: *n.get("cpu(s)")?,
        memory_kib: *n.get("memory size")?,
    })
}

/// `virsh nodememstats` (KiB): the memory in use is what is neither free
/// nor buffers nor cache.
pub fn parse_used_memory_kib(output: &str) -> Option<u64> {
    let n = key_numbers(output);
    let total = *n.get("total")?;
    let free = *n.get("free")?;
    let reclaimable =
        n.get("buffers").copied().unwrap_or(0) + n.get("cached").copied().unwrap_or(0);
    Some(total.saturating_sub(free).saturating_sub(reclaimable))
}

/// `virsh nodecpustats` (cumulative ns of all CPUs): (busy, total).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    pub busy: u64,
    pub total: u64,
}

pub fn parse_cpu_times(output: &str) -> Option<CpuTimes> {
    let n = key_numbers(output);
    let user = *n.get("user")?;
    let system = *n.get("system")?;
    let idle = *n.get("idle")?;
    let iowait = n.get("iowait").copied().unwrap_or(0);
    let busy = user + system;
    Some(CpuTimes {
        busy,
        total: busy + idle + iowait,
    })
}

/// CPUs in use between two samples (OpenNebula's share: 1.0 is one CPU);
/// with no earlier sample, since the host booted.
pub fn used_cpu(cpus: u64, before: Option<CpuTimes>, now: CpuTimes) -> f64 {
    let (busy, total) = match before {
        Some(b) if now.total > b.total && now.busy >= b.busy => {
            (now.busy - b.busy, now.total - b.total)
        }
        _ => (now.busy, now.total),
    };
    if total == 0 {
        return 0.0;
    }
    let share = cpus as f64 * busy as f64 / total as f64;
    (share * 100.0).round() / 100.0
}

/// A virsh failure as the driver's error: `what` names the host and the
/// operation (`host h1 (qemu+tcp://…): start flotilla-…`).
pub fn error(what: &str, output: &str) -> Error {
    let why = errors(output);
    match classify(output) {
        Failure::Unreachable => {
            Error::Unavailable(format!("{what}: the host does not answer: {why}"))
        }
        Failure::NoDomain => Error::NotFound(format!("{what}: {why}")),
        Failure::BadXml => Error::InvalidInput(format!("{what}: {why}")),
        Failure::NotRunning | Failure::Other => Error::Other(format!("{what}: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_reads_every_state() {
        let out = " 1    flotilla-1-web-aa   running\n -    flotilla-1-db-bb    shut off\n 3    other   paused\n 4    x   in shutdown\nerror: something\n";
        let l = parse_list(out);
        assert_eq!(l["flotilla-1-web-aa"], DomState::Running);
        assert_eq!(l["flotilla-1-db-bb"], DomState::ShutOff);
        assert_eq!(l["other"], DomState::Paused);
        assert_eq!(l["x"], DomState::ShuttingDown);
        assert_eq!(l.len(), 4);
        assert_eq!(parse_names("a\n\nb\n"), ["a", "b"]);
    }

    #[test]
    fn domstats_node_and_cpu_read() {
        let out = "Domain: 'flotilla-1-web-aa'\n  state.state=1\n  state.reason=1\n  cpu.time=260000000\n  balloon.current=131072\n  balloon.rss=49416\n\nDomain: 'b'\n  state.state=5\n";
        let s = parse_domstats(out);
        assert_eq!(
            s["flotilla-1-web-aa"],
            DomStats {
                state: Some(1),
                cpu_time_ns: Some(260000000),
                balloon_current_kib: Some(131072),
                balloon_rss_kib: Some(49416)
            }
        );
        assert_eq!(
            DomState::from_number(s["b"].state.unwrap()),
            DomState::ShutOff
        );
        let info = "CPU model:           x86_64\nCPU(s):              2\nCPU frequency:       2600 MHz\nMemory size:         24683784 KiB\n";
        assert_eq!(
            parse_nodeinfo(info),
            Some(NodeInfo {
                cpus: 2,
                memory_kib: 24683784
            })
        );
        let mem = "total  :             24683784 KiB\nfree   :             18509936 KiB\nbuffers:                32628 KiB\ncached :              3664836 KiB\n";
        assert_eq!(
            parse_used_memory_kib(mem),
            Some(24683784 - 18509936 - 32628 - 3664836)
        );
        let cpu = "user:                  1170240000000\nsystem:                  97830000000\nidle:                   356900000000\niowait:                   2370000000\n";
        let t = parse_cpu_times(cpu).unwrap();
        assert_eq!(t.busy, 1170240000000 + 97830000000);
        let later = CpuTimes {
            busy: t.busy + 50,
            total: t.total + 100,
        };
        assert_eq!(used_cpu(2, Some(t), later), 1.0);
        assert!(used_cpu(2, None, t) > 1.5);
        assert_eq!(used_cpu(2, None, CpuTimes { busy: 0, total: 0 }), 0.0);
    }

    #[test]
    fn failures_are_classified() {
        let down = "error: failed to connect to the hypervisor\nerror: unable to connect to server at '10.77.0.99:16509': No route to host\n";
        assert_eq!(classify(down), Failure::Unreachable);
        assert!(
            matches!(error("host h1", down), Error::Unavailable(m) if m.contains("No route to host"))
        );
        assert_eq!(
            classify("error: failed to get domain 'x'\n"),
            Failure::NoDomain
        );
        assert_eq!(
            classify(
                "error: Failed to destroy domain 'x'\nerror: Requested operation is not valid: domain is not running\n"
            ),
            Failure::NotRunning
        );
        assert_eq!(
            classify("error: Failed to define domain from f\nerror: XML error: bad\n"),
            Failure::BadXml
        );
        assert_eq!(errors("error: a\nerror: b\n"), "a; b");
    }

    #[test]
    fn command_lines_are_quiet_and_name_the_host() {
        assert_eq!(
            args("qemu+tcp://h/system", &["start", "flotilla-1"]),
            ["-q", "-c", "qemu+tcp://h/system", "start", "flotilla-1"]
        );
    }
}
