//! The two things systemd asks of a `Type=notify` service, written out
//! rather than pulled in: a datagram to `$NOTIFY_SOCKET` (`READY=1`,
//! `STATUS=…`, `WATCHDOG=1`), and the watchdog interval from
//! `$WATCHDOG_USEC`. Without those variables (a terminal, a test) every
//! call does nothing.

use std::time::Duration;

/// Send `message` (`KEY=value` lines) to the service manager, if one
/// listens. Failures are logged, never fatal: a server must not stop
/// because its supervisor's socket went away.
pub fn notify(message: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&path, message) {
        tracing::warn!("notifying the service manager: {e}");
    }
}

#[cfg(target_os = "linux")]
fn send(path: &std::ffi::OsStr, message: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt as _;
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let socket = UnixDatagram::unbound()?;
    let bytes = path.as_bytes();
    // `@name` is a socket in the abstract namespace.
    let address = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(std::path::Path::new(path))?,
    };
    socket.send_to_addr(message.as_bytes(), &address)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn send(_: &std::ffi::OsStr, _: &str) -> std::io::Result<()> {
    Ok(())
}

/// How often to tell the watchdog the server is alive: half the interval
/// systemd set (`WatchdogSec=`), when it set one for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}
