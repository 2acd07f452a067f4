//! Why the driver, a policy or a network mode gave no answer, as the
//! engine and the life cycle see it: the plugin (or the host on its
//! behalf) said no, or something broke. The two call for different
//! readings (a refusal is the user's to fix, a fault the operator's), so
//! callers match on the kind rather than on the sentence.

/// The message is the whole sentence the service log and the API show,
/// with the context of the boundary it crossed (`driver error: …`,
/// ``network mode `static`: …``).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The VM, template or input is wrong: the plugin returned an error
    /// (its [`crate::PluginError`]), or the host refused before asking it
    /// (a template that names a network the service has not got, a mode
    /// or policy that is not loaded).
    Refused(String),
    /// The plugin or what stands behind it broke: it trapped, ran past
    /// its deadline or its memory cap, or the host's database failed.
    Fault(String),
}

impl BackendError {
    pub fn message(&self) -> &str {
        match self {
            BackendError::Refused(m) | BackendError::Fault(m) => m,
        }
    }

    /// The same error with its sentence reworded (a prefix naming where
    /// it happened), of the same kind.
    pub fn map(self, f: impl FnOnce(String) -> String) -> BackendError {
        match self {
            BackendError::Refused(m) => BackendError::Refused(f(m)),
            BackendError::Fault(m) => BackendError::Fault(f(m)),
        }
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for BackendError {}
