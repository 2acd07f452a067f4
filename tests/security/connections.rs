//! Connections: idle and half-sent ones are closed, those past the cap
//! wait and are served in turn.

use crate::{call, prepare, start};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How many sockets the process has open.
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

/// Read until the server closes the connection; true if it did within
/// 10 s (false if the read timed out with the connection still open).
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn idle_and_half_sent_connections_are_closed() {
    let data = tempfile::tempdir().unwrap();
    prepare(
        data.path(),
        "[server]\nheader_timeout_seconds = 1\nidle_timeout_seconds = 1\n",
    );
    let server = start(data.path());
    let connect = || TcpStream::connect(("127.0.0.1", server.api)).unwrap();
    let mut idle = connect();
    let mut half = connect();
    half.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .unwrap();
    // A kept-alive connection after a full answer.
    let mut kept = connect();
    kept.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("\"status\"") {
        let n = kept
            .read(&mut buf)
            .expect("an answer on the kept connection");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    assert!(closed_by_server(&mut idle), "an idle connection stays open");
    assert!(
        closed_by_server(&mut half),
        "a half-sent request stays open"
    );
    assert!(
        closed_by_server(&mut kept),
        "a kept-alive connection stays open"
    );
}

#[test]
fn connections_past_the_cap_wait_and_are_served_in_turn() {
    let data = tempfile::tempdir().unwrap();
    let admin_pw = prepare(
        data.path(),
        "[server]\nmax_connections = 4\nheader_timeout_seconds = 1\nidle_timeout_seconds = 1\n",
    );
    let server = start(data.path());
    let admin = ("oneadmin", admin_pw.as_str());
    assert_eq!(call(&server, "GET", "/service", admin, None).0, 200);
    std::thread::sleep(Duration::from_millis(300));
    let baseline = open_sockets(server.pid());
    let held: Vec<TcpStream> = (0..12)
        .map(|_| TcpStream::connect(("127.0.0.1", server.api)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let open = open_sockets(server.pid());
    assert!(
        open <= baseline + 4,
        "{open} sockets open with 12 idle clients (baseline {baseline}, cap 4)"
    );
    // The idle ones are closed in turn (1 s each), then this one is served.
    assert_eq!(call(&server, "GET", "/service", admin, None).0, 200);
    drop(held);
}
