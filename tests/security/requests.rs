//! Requests refused before they change anything: cross-site state changes
//! and bodies over the limit.

use crate::{basic, prepare, request, start};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn cross_site_state_changes_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let admin_pw = prepare(
        data.path(),
        "[server]\nallowed_origins = [\"https://dash.example.com\"]\n",
    );
    let server = start(data.path());
    let port = server.api;
    let admin = Some(("oneadmin", admin_pw.as_str()));
    let vm = |name: &str| json!({"name": name, "template": {"CPU": "1"}}).to_string();
    let post = |headers: &[(&str, &str)], name: &str| {
        request(port, "POST", "/vm_template", admin, headers, &vm(name)).unwrap()
    };

    let a = post(&[("origin", "https://evil.example")], "evil");
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.body["error"]
            .as_str()
            .unwrap()
            .contains("https://evil.example"),
        "{}",
        a.body
    );
    let a = post(&[("sec-fetch-site", "cross-site")], "evil-too");
    assert_eq!(a.status, 403, "{}", a.body);
    let a = post(&[("origin", "null")], "evil-null");
    assert_eq!(a.status, 403, "{}", a.body);

    // The server's own origin, an allowed one, and no Origin (CLI, curl).
    let own = format!("http://127.0.0.1:{port}");
    assert_eq!(post(&[("origin", &own)], "own").status, 201);
    assert_eq!(
        post(&[("origin", "https://dash.example.com")], "dash").status,
        201
    );
    assert_eq!(
        post(&[("sec-fetch-site", "same-origin")], "same").status,
        201
    );
    assert_eq!(post(&[], "cli").status, 201);
    // Reads are not state changes.
    let a = request(
        port,
        "GET",
        "/vm_template",
        admin,
        &[("origin", "https://evil.example")],
        "",
    )
    .unwrap();
    assert_eq!(a.status, 200);
    let names: Vec<&str> = a.body["VMTEMPLATE_POOL"]["VMTEMPLATE"]
        .as_array()
        .map(|l| l.iter().filter_map(|t| t["NAME"].as_str()).collect())
        .unwrap_or_default();
    assert!(!names.iter().any(|n| n.starts_with("evil")), "{names:?}");
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn a_body_over_the_limit_is_413() {
    let data = tempfile::tempdir().unwrap();
    let admin_pw = prepare(data.path(), "");
    let server = start(data.path());
    let mut s = TcpStream::connect(("127.0.0.1", server.api)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The head announces 64 MiB; the server answers without reading it.
    let head = format!(
        "POST /vm_template HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\nauthorization: {}\r\ncontent-length: {}\r\n\r\n{{\"name\": \"",
        basic("oneadmin", &admin_pw),
        64 << 20
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(&vec![b'a'; 64 * 1024]);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    let body: Value = serde_json::from_str(out.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
}
