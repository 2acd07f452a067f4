//! A refusal of input: the field that is wrong and why. Templates, network
//! ranges, plugin manifests and operator grants all refuse their input with
//! it, and the API turns a list of them into a 400 naming each field.

/// `field` is a path into the input (`roles[1].cardinality`,
/// `plugins.qemu.exec."/usr/bin/qemu-img".args[0]`); shown as
/// `field: reason`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same refusal one level down: `AR[1]` in `template` becomes
    /// `template.AR[1]`.
    pub fn within(self, parent: &str) -> FieldError {
        FieldError {
            field: format!("{parent}.{}", self.field),
            reason: self.reason,
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

/// Where a refusal joins a message (a plugin's load error, a log line).
impl From<FieldError> for String {
    fn from(e: FieldError) -> String {
        e.to_string()
    }
}
