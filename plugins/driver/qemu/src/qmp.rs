//! QMP, the QEMU Machine Protocol: the request lines the driver sends,
//! the answers it reads, and QEMU's run states as OpenNebula VM states.
//! Pure.

use flotilla_plugin_sdk::driver::VmState;
use serde_json::{Value, json};

/// Every exchange opens with this (QMP's capabilities negotiation).
pub fn capabilities() -> String {
    command("qmp_capabilities")
}

/// `{"execute": name}`.
pub fn command(name: &str) -> String {
    json!({ "execute": name }).to_string()
}

/// A human monitor command (`savevm snap1`) through QMP.
pub fn human(command_line: &str) -> String {
    json!({
        "execute": "human-monitor-command",
        "arguments": { "command-line": command_line },
    })
    .to_string()
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Return(Value),
    Error { class: String, desc: String },
}

/// An answer that is not what the protocol says it is.
#[derive(Debug, Clone, PartialEq)]
pub enum ProtocolError {
    /// The line is not JSON (the parser's reason, the line).
    NotJson(String, String),
    /// JSON with neither `return` nor `error` (the line).
    NotAnAnswer(String),
    /// `query-status` returned no run state (what it returned).
    NoStatus(Value),
    /// `query-status` answered with QMP's error (class, description).
    StatusFailed(String, String),
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::NotJson(e, line) => {
                write!(f, "QMP answered something that is not JSON ({e}): {line}")
            }
            ProtocolError::NotAnAnswer(line) => {
                write!(f, "QMP answered neither return nor error: {line}")
            }
            ProtocolError::NoStatus(v) => write!(f, "query-status answered no status: {v}"),
            ProtocolError::StatusFailed(class, desc) => {
                write!(f, "query-status failed: {class}: {desc}")
            }
        }
    }
}

/// One answer line; `Err` when it is not a QMP answer at all.
pub fn parse_reply(line: &str) -> Result<Reply, ProtocolError> {
    let value: Value = serde_json::from_str(line)
        .map_err(|e| ProtocolError::NotJson(e.to_string(), line.to_string()))?;
    if let Some(ret) = value.get("return") {
        return Ok(Reply::Return(ret.clone()));
    }
    if let Some(err) = value.get("error") {
        let text = |k: &str| {
            err.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        return Ok(Reply::Error {
            class: text("class"),
            desc: text("desc"),
        });
    }
    Err(ProtocolError::NotAnAnswer(line.to_string()))
}

/// `query-status`'s run state (`running`, `paused`, `shutdown`, …).
pub fn run_state(reply: &Reply) -> Result<String, ProtocolError> {
    match reply {
        Reply::Return(v) => v
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ProtocolError::NoStatus(v.clone())),
        Reply::Error { class, desc } => {
            Err(ProtocolError::StatusFailed(class.clone(), desc.clone()))
        }
    }
}

/// What a human monitor command printed: HMP reports its errors as
/// output, not as QMP errors.
pub fn human_error(reply: &Reply) -> Option<String> {
    match reply {
        Reply::Return(Value::String(out)) => {
            let out = out.trim();
            let failed = out.lines().any(|l| {
                let l = l.trim_start().to_ascii_lowercase();
                l.starts_with("error") || l.contains("error:")
            });
            failed.then(|| out.to_string())
        }
        Reply::Return(_) => None,
        Reply::Error { class, desc } => Some(format!("{class}: {desc}")),
    }
}

/// The VM state for QEMU's run state. `hold`: the VM is on hold (created
/// on hold and not released, or held since), so a paused VM is HOLD
/// rather than SUSPENDED. The reason says why a VM is FAILED or UNKNOWN.
pub fn vm_state(run_state: &str, hold: bool) -> (VmState, Option<String>) {
    match run_state {
        "running" => (VmState::Running, None),
        "paused" | "prelaunch" if hold => (VmState::Hold, None),
        "paused" | "prelaunch" => (VmState::Suspended, None),
        // The guest suspended itself (ACPI S3), or a debugger stopped it.
        "suspended" | "debug" => (VmState::Suspended, None),
        // The guest powered itself off (QEMU runs with -no-shutdown).
        "shutdown" => (VmState::Poweroff, None),
        // Moments of a snapshot or a migration: the VM goes on running.
        "save-vm" | "restore-vm" | "finish-migrate" | "inmigrate" | "postmigrate" | "colo" => {
            (VmState::Running, None)
        }
        "internal-error" | "io-error" | "guest-panicked" | "watchdog" => (
            VmState::Failed,
            Some(format!("QEMU stopped the VM: run state {run_state}")),
        ),
        other => (
            VmState::Unknown,
            Some(format!("QEMU reports an unknown run state `{other}`")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_line() {
        assert_eq!(capabilities(), r#"{"execute":"qmp_capabilities"}"#);
        assert_eq!(command("query-status"), r#"{"execute":"query-status"}"#);
        let h: Value = serde_json::from_str(&human("savevm it's \"x\"")).unwrap();
        assert_eq!(h["execute"], "human-monitor-command");
        assert_eq!(h["arguments"]["command-line"], "savevm it's \"x\"");
    }

    #[test]
    fn answers_are_read() {
        let r = parse_reply(r#"{"return": {"status": "running", "running": true}}"#).unwrap();
        assert_eq!(run_state(&r).unwrap(), "running");
        let e = parse_reply(r#"{"error": {"class": "GenericError", "desc": "no"}}"#).unwrap();
        assert_eq!(
            e,
            Reply::Error {
                class: "GenericError".into(),
                desc: "no".into()
            }
        );
        assert!(
            run_state(&e)
                .unwrap_err()
                .to_string()
                .contains("GenericError: no")
        );
        assert!(parse_reply("nope").is_err());
        assert!(parse_reply(r#"{"QMP": {}}"#).is_err());
        assert!(run_state(&Reply::Return(json!({}))).is_err());
    }

    #[test]
    fn human_monitor_errors_are_found_in_the_output() {
        assert_eq!(human_error(&Reply::Return(json!(""))), None);
        assert_eq!(
            human_error(&Reply::Return(json!(
                "Error: Device 'drive0' is writable but does not support snapshots\r\n"
            ))),
            Some("Error: Device 'drive0' is writable but does not support snapshots".into())
        );
        assert!(
            human_error(&Reply::Return(json!(
                "loadvm: error: Snapshot 'x' does not exist"
            )))
            .is_some()
        );
        assert!(
            human_error(&Reply::Error {
                class: "CommandNotFound".into(),
                desc: "x".into()
            })
            .is_some()
        );
    }

    #[test]
    fn run_states_map_to_vm_states() {
        use VmState::*;
        let cases = [
            ("running", false, Running),
            ("running", true, Running),
            ("prelaunch", true, Hold),
            ("paused", true, Hold),
            ("paused", false, Suspended),
            ("prelaunch", false, Suspended),
            ("suspended", true, Suspended),
            ("shutdown", false, Poweroff),
            ("save-vm", false, Running),
            ("io-error", false, Failed),
            ("guest-panicked", false, Failed),
            ("martian", false, Unknown),
        ];
        for (status, hold, state) in cases {
            let (got, reason) = vm_state(status, hold);
            assert_eq!(got, state, "{status} hold={hold}");
            assert_eq!(
                reason.is_some(),
                matches!(state, Failed | Unknown),
                "{status}"
            );
        }
    }
}
