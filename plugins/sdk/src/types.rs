//! Types shared by every plugin kind (`flotilla:types@0.1.0`).

pub use crate::bindings::driver::flotilla::types::types::{
    Error, KeyValue, Metric, PluginInfo, VmState,
};

impl PluginInfo {
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        PluginInfo {
            name: name.to_string(),
            version: version.to_string(),
            description: description.to_string(),
        }
    }
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

impl Metric {
    pub fn new(name: impl Into<String>, value: f64) -> Self {
        Metric {
            name: name.into(),
            value,
        }
    }
}

/// Look a key up in a list of key-value pairs, case-insensitively, as
/// OpenNebula attribute names are.
pub fn lookup<'a>(pairs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|kv| kv.key.eq_ignore_ascii_case(key))
        .map(|kv| kv.value.as_str())
}

impl VmState {
    /// The state's name as OpenNebula spells it (`RUNNING`, `POWEROFF`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            VmState::Pending => "PENDING",
            VmState::Hold => "HOLD",
            VmState::Running => "RUNNING",
            VmState::Poweroff => "POWEROFF",
            VmState::Suspended => "SUSPENDED",
            VmState::Stopped => "STOPPED",
            VmState::Undeployed => "UNDEPLOYED",
            VmState::Unknown => "UNKNOWN",
            VmState::Failed => "FAILED",
            VmState::Done => "DONE",
        }
    }

    pub fn parse(name: &str) -> Option<VmState> {
        Some(match name.to_ascii_uppercase().as_str() {
            "PENDING" => VmState::Pending,
            "HOLD" => VmState::Hold,
            "RUNNING" => VmState::Running,
            "POWEROFF" => VmState::Poweroff,
            "SUSPENDED" => VmState::Suspended,
            "STOPPED" => VmState::Stopped,
            "UNDEPLOYED" => VmState::Undeployed,
            "UNKNOWN" => VmState::Unknown,
            "FAILED" => VmState::Failed,
            "DONE" => VmState::Done,
            _ => return None,
        })
    }
}

impl Error {
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidInput(m)
            | Error::NotFound(m)
            | Error::Unsupported(m)
            | Error::Unavailable(m)
            | Error::Denied(m)
            | Error::Other(m) => m,
        }
    }
}
