//! Why a command failed, by kind. Callers act on the kind, never on the
//! text: a 404 ends `service delete --wait`, and a server that cannot be
//! reached is told apart from one that said no.

use std::fmt;

/// The error of every command. All kinds exit with status 1; the message
/// goes to stderr after `error: `.
#[derive(Debug)]
pub enum CliError {
    /// The API answered with an error status; `message` is its answer with
    /// the API's words turned into the CLI's (`use --force to override`).
    Api { status: u16, message: String },
    /// The API could not be reached, or its answer could not be read.
    Unreachable(String),
    /// What was given (an argument, a file, the data directory) is wrong,
    /// or a step on this machine failed; nothing was sent.
    Local(String),
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// A step on this machine that failed, in its own words (another
    /// crate's error, a task that did not finish).
    pub fn local(e: impl fmt::Display) -> CliError {
        CliError::Local(e.to_string())
    }

    /// The API's status, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            CliError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Api { message, .. } => f.write_str(message),
            CliError::Unreachable(m) | CliError::Local(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CliError {}

/// A message built on this machine (`format!(…)?`, `Err("…".into())`).
impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::Local(message)
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> CliError {
        CliError::Local(message.to_string())
    }
}

/// An argument refused, naming it.
impl From<crate::model::FieldError> for CliError {
    fn from(e: crate::model::FieldError) -> CliError {
        CliError::local(e)
    }
}

/// `plugin check` and `plugin call` on a file that cannot be checked.
impl From<crate::conformance::CheckError> for CliError {
    fn from(e: crate::conformance::CheckError) -> CliError {
        CliError::local(e)
    }
}
