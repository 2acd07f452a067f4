//! QMP exchanges with a VM's QEMU, through the host's `exchange` call:
//! every action, start, stop and poll talks to QEMU this way. The pure
//! protocol (request lines, answers, run states) is [`crate::qmp`]; this
//! adds the negotiation, the host's `not-found` read as "no QEMU listens",
//! and `query-status` (a poll asks it of every VM in one `exchange-many`).

use super::QemuDriver;
use crate::args;
use crate::host::Host;
use crate::qmp::{self, Reply};
use crate::store::{Store, VmRecord};
use flotilla_plugin_sdk::driver::Error;

/// How a QMP exchange failed.
pub(super) enum QmpFailure {
    /// Nobody listens on the socket: no QEMU of this VM runs.
    NotListening(String),
    Failed(Error),
}

impl QmpFailure {
    pub(super) fn into_error(self, id: &str) -> Error {
        match self {
            QmpFailure::NotListening(m) => Error::Unavailable(format!(
                "VM {id}: QEMU does not answer on its QMP socket: {m}"
            )),
            QmpFailure::Failed(e) => e,
        }
    }
}

impl<H: Host> QemuDriver<H> {
    /// Negotiate, then send `commands`: their answers, in order.
    pub(super) fn qmp(
        &mut self,
        socket: &str,
        commands: &[String],
        timeout_ms: u32,
    ) -> Result<Vec<Reply>, QmpFailure> {
        let requests = requests(commands);
        replies(&requests, self.host.exchange(socket, &requests, timeout_ms))
    }

    /// QEMU's run state (`running`, `paused`, `shutdown`, …).
    pub(super) fn query_status(
        &mut self,
        store: &Store,
        rec: &VmRecord,
        timeout_ms: u32,
    ) -> Result<String, QmpFailure> {
        let socket = args::qmp_socket(&store.vm_dir(&rec.id));
        status_of(self.qmp(&socket, &[qmp::command("query-status")], timeout_ms))
    }
}

/// The negotiation, then `commands`.
pub(super) fn requests(commands: &[String]) -> Vec<String> {
    let mut requests = Vec::with_capacity(commands.len() + 1);
    requests.push(qmp::capabilities());
    requests.extend(commands.iter().cloned());
    requests
}

/// The replies to `commands` from what an exchange of
/// [`requests`]`(commands)` brought: the host says `not-found` when no
/// socket is there or nothing listens on it.
pub(super) fn replies(
    requests: &[String],
    answers: Result<Vec<String>, Error>,
) -> Result<Vec<Reply>, QmpFailure> {
    let answers = answers.map_err(|e| match e {
        Error::NotFound(m) => QmpFailure::NotListening(m),
        e => QmpFailure::Failed(e),
    })?;
    if answers.len() != requests.len() {
        return Err(QmpFailure::Failed(Error::Other(format!(
            "QMP answered {} of {} requests",
            answers.len(),
            requests.len()
        ))));
    }
    let mut replies = answers
        .iter()
        .map(|a| qmp::parse_reply(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| QmpFailure::Failed(Error::Other(e.to_string())))?;
    if let Reply::Error { class, desc } = replies.remove(0) {
        return Err(QmpFailure::Failed(Error::Other(format!(
            "QMP qmp_capabilities: {class}: {desc}"
        ))));
    }
    Ok(replies)
}

/// `query-status`'s run state from its replies.
pub(super) fn status_of(replies: Result<Vec<Reply>, QmpFailure>) -> Result<String, QmpFailure> {
    replies?
        .first()
        .ok_or_else(|| QmpFailure::Failed(Error::Other("no answer to query-status".into())))
        .and_then(|r| {
            qmp::run_state(r).map_err(|e| QmpFailure::Failed(Error::Other(e.to_string())))
        })
}
