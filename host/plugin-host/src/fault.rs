//! Plugin faults: what the host reports when a plugin misbehaves, as
//! opposed to errors the plugin returns as data.

use super::PluginError;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The guest trapped (a panic, an unreachable, an out-of-bounds access).
    Trap,
    /// The call ran past its deadline and was interrupted.
    Timeout,
    /// The guest tried to grow its memory past the cap.
    MemoryCap,
    /// The guest used a capability (an outbound host) it was not granted.
    CapabilityDenied,
    /// A fresh instance could not be created.
    Instantiate,
    /// The plugin faulted too often and is resting before the next restart.
    Quarantined,
}

impl FaultKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FaultKind::Trap => "trap",
            FaultKind::Timeout => "timeout",
            FaultKind::MemoryCap => "memory-cap",
            FaultKind::CapabilityDenied => "capability-denied",
            FaultKind::Instantiate => "instantiate",
            FaultKind::Quarantined => "quarantined",
        }
    }

    /// Whether the instance that faulted can no longer be used. After a
    /// trap wasmtime's store may hold half-updated guest state.
    pub fn poisons_instance(&self) -> bool {
        matches!(
            self,
            FaultKind::Trap | FaultKind::Timeout | FaultKind::MemoryCap | FaultKind::Instantiate
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plugin misbehaved. Carries the plugin's id and a reason a person can
/// act on; the server keeps running.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginFault {
    pub plugin: String,
    pub kind: FaultKind,
    pub reason: String,
}

impl fmt::Display for PluginFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "plugin `{}` fault ({}): {}",
            self.plugin, self.kind, self.reason
        )
    }
}

impl std::error::Error for PluginFault {}

/// Why a plugin call did not produce a value: the plugin said no (an error
/// it returned as data) or the plugin faulted.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    Plugin(PluginError),
    Fault(PluginFault),
}

impl CallError {
    pub fn fault(&self) -> Option<&PluginFault> {
        match self {
            CallError::Fault(f) => Some(f),
            CallError::Plugin(_) => None,
        }
    }
}

impl From<PluginFault> for CallError {
    fn from(f: PluginFault) -> Self {
        CallError::Fault(f)
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Plugin(e) => write!(f, "{e}"),
            CallError::Fault(fault) => write!(f, "{fault}"),
        }
    }
}

impl std::error::Error for CallError {}
