//! A host program run to its end under a deadline, for the capabilities
//! that run one (`process.run`, and `link`'s `ip`): its output is read
//! while it runs (a child that fills a pipe would otherwise wait for us
//! while we wait for it), and it is killed at the deadline.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A program that ran to its end.
pub(crate) struct Ran {
    pub status: ExitStatus,
    /// The end of what it wrote, at least the last `keep` bytes of each.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why it did not.
pub(crate) enum RunError {
    /// It could not be started.
    Start(std::io::Error),
    /// Its output could not be read (no thread to read it on).
    Read(std::io::Error),
    /// The deadline came first: it was killed.
    Late,
    /// Waiting for it failed.
    Wait(std::io::Error),
}

/// Run `command` (stdout and stderr piped here) to its end or `deadline`,
/// keeping at least the last `keep` bytes of each stream.
pub(crate) fn run_to_end(
    mut command: Command,
    deadline: Instant,
    keep: usize,
) -> Result<Ran, RunError> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RunError::Start)?;
    let drain = |stream: Option<Box<dyn Read + Send>>| {
        std::thread::Builder::new()
            .name("child-output".into())
            .spawn(move || {
                let mut kept: Vec<u8> = Vec::new();
                if let Some(mut stream) = stream {
                    let mut buf = [0u8; 8192];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        kept.extend_from_slice(&buf[..n]);
                        if kept.len() > keep.saturating_mul(2) {
                            kept.drain(..kept.len() - keep);
                        }
                    }
                }
                kept
            })
    };
    let out = drain(child.stdout.take().map(|s| Box::new(s) as _));
    let err = drain(child.stderr.take().map(|s| Box::new(s) as _));
    let (out, err) = match (out, err) {
        (Ok(out), Ok(err)) => (out, err),
        (out, err) => {
            // Its pipes close with it, so a reader that did start ends.
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Read(out.err().or(err.err()).unwrap_or_else(
                || std::io::Error::other("no thread to read its output on"),
            )));
        }
    };
    // Short programs (`ip` takes a few milliseconds) are seen to end
    // soon; long ones are not polled more than every 5 ms.
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Late);
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
            }
            Err(e) => return Err(RunError::Wait(e)),
        }
    };
    Ok(Ran {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}
