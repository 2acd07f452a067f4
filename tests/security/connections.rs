//! Connections: idle and half-sent ones are closed, those past the cap
//! wait and are served in turn.

use crate::common::{connections_on, wait_for};
use crate::{call, prepare, start};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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
    let f = start(data.path());
    let connect = || TcpStream::connect(("127.0.0.1", f.server.api)).unwrap();
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
    let f = start(data.path());
    let admin = ("oneadmin", admin_pw.as_str());
    assert_eq!(call(&f, "GET", "/service", admin, None).0, 200);
    let (pid, port) = (f.server.pid(), f.server.api);
    let held: Vec<TcpStream> = (0..12)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for s in &held {
        s.set_nonblocking(true).unwrap();
    }
    // Four are taken in, the others wait; each taken one is closed after
    // its header timeout (1 s) and the next taken in. Watched until more
    // than four have been served in turn, so that clients waited all
    // along.
    let mut most = 0;
    let served = wait_for(Duration::from_secs(30), || {
        most = most.max(connections_on(pid, port));
        (held.iter().filter(|s| closed(s)).count() > 4).then_some(())
    });
    assert!(served.is_some(), "the idle clients were not served in turn");
    assert!(
        most <= 4,
        "{most} connections open at once with 12 idle clients (cap 4)"
    );
    // The idle ones are closed in turn (1 s each), then this one is served.
    assert_eq!(call(&f, "GET", "/service", admin, None).0, 200);
    drop(held);
    // The server's own count: never more than four at once.
    let most = f
        .metric("flotilla_connections_open_max{listener=\"api\"}")
        .expect("the API's connections are counted");
    assert!(most <= 4.0, "{most} connections served at once (cap 4)");
}

/// Whether the server has closed a connection (non-blocking; nothing is
/// read).
fn closed(s: &TcpStream) -> bool {
    match s.peek(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[test]
fn slow_bodies_are_cut_and_do_not_hold_the_connections() {
    let data = tempfile::tempdir().unwrap();
    // The body deadline is left at its default (10 s, then 1 KiB a second).
    let admin_pw = prepare(data.path(), "[server]\nmax_connections = 64\n");
    let f = start(data.path());
    let admin = ("oneadmin", admin_pw.as_str());
    // Signed in once, so the 64 below are answered from the remembered
    // credentials and each of them gets as far as reading its body.
    assert_eq!(call(&f, "GET", "/service", admin, None).0, 200);
    let head = format!(
        "POST /vm_template HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: {}\r\ncontent-length: 4096\r\n\r\n{{",
        crate::basic(admin.0, admin.1)
    );
    let mut slow: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", f.server.api)).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    // One byte every 2 s on each, from another thread, until the good
    // request is answered (bounded: 60 s at most).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        let mut writers: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(60)
            {
                for w in &mut writers {
                    let _ = w.write_all(b" ");
                }
                for _ in 0..20 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
    };
    // A signed-in client is served once the slow bodies are cut (the
    // deadline is 10 s; 40 s bounds the wait).
    let started = std::time::Instant::now();
    let served = std::thread::spawn({
        let port = f.server.api;
        let auth = crate::basic(admin.0, admin.1);
        move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
            s.write_all(
                format!(
                    "GET /service HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\nauthorization: {auth}\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            String::from_utf8_lossy(&out).to_string()
        }
    })
    .join()
    .unwrap();
    let waited = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    trickle.join().unwrap();
    assert!(
        served.starts_with("HTTP/1.1 200"),
        "not served within 40 s while 64 slow bodies trickled: {served:?}"
    );
    assert!(waited < Duration::from_secs(30), "served after {waited:?}");
    // Each slow client was told why (408) or at least cut off.
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out);
        assert!(
            out.is_empty() || (out.starts_with("HTTP/1.1 408") && out.contains("too slow")),
            "a slow body's answer: {out}"
        );
    }
}
