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
    let f = start(data.path());
    let port = f.server.api;
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
    let f = start(data.path());
    let mut s = TcpStream::connect(("127.0.0.1", f.server.api)).unwrap();
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

/// Send `head` (a request's head with its blank line, no body) and read
/// the answer, giving the server `within` to answer before any of the
/// body is sent: the status and the JSON body, or None if it did not
/// answer in time.
fn answer_before_the_body(port: u16, head: &str, within: Duration) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(within)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    let out = String::from_utf8_lossy(&out);
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = serde_json::from_str(out.split_once("\r\n\r\n")?.1).unwrap_or(Value::Null);
    Some((status, body))
}

#[test]
fn a_plugin_upload_over_its_limit_is_413_at_once() {
    let data = tempfile::tempdir().unwrap();
    let admin_pw = prepare(data.path(), "");
    let f = start(data.path());
    let head = format!(
        "POST /plugins HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\nauthorization: {}\r\ncontent-length: {}\r\n\r\n",
        basic("oneadmin", &admin_pw),
        200u64 << 20
    );
    let answer = answer_before_the_body(f.server.api, &head, Duration::from_secs(5));
    let (status, body) = answer.expect("no answer to a 200 MiB announced upload within 5 s");
    assert_eq!(status, 413, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("limit of"), "{error}");
}

#[test]
fn a_user_not_in_oneadmin_is_refused_a_plugin_upload_before_it_is_read() {
    let data = tempfile::tempdir().unwrap();
    prepare(data.path(), "");
    let f = start(data.path());
    // 90 MiB announced, within the upload limit; not a byte of it sent.
    let head = format!(
        "POST /plugins HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\nauthorization: {}\r\ncontent-length: {}\r\n\r\n",
        basic("alice", "alice-pw"),
        90u64 << 20
    );
    let answer = answer_before_the_body(f.server.api, &head, Duration::from_secs(5));
    let (status, body) = answer.expect("no answer before the body was sent");
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("oneadmin"),
        "{body}"
    );
}

/// The raw bytes of one GET as `user`, with `accept-encoding` if given:
/// the head (lower-cased) and the body as sent.
fn get_bytes(port: u16, path: &str, auth: &str, encoding: Option<&str>) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\nauthorization: {auth}\r\n"
    );
    if let Some(e) = encoding {
        head.push_str(&format!("accept-encoding: {e}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..split]).to_ascii_lowercase();
    let mut body = out[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (head, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 4 + size..];
    }
}

#[test]
fn answers_are_gzipped_for_clients_that_ask_and_plain_for_the_others() {
    let data = tempfile::tempdir().unwrap();
    let admin = prepare(data.path(), "");
    let f = start(data.path());
    let auth = basic("oneadmin", &admin);
    for i in 0..40 {
        let template = json!({"name": format!("t{i}"), "description": "a template among many",
            "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0}]});
        let a = request(
            f.server.api,
            "POST",
            "/service_template",
            Some(("oneadmin", &admin)),
            &[],
            &template.to_string(),
        )
        .unwrap();
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let (plain_head, plain) = get_bytes(f.server.api, "/service_template", &auth, None);
    assert!(!plain_head.contains("content-encoding"), "{plain_head}");
    let listed: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(
        listed["DOCUMENT_POOL"]["DOCUMENT"]
            .as_array()
            .unwrap()
            .len(),
        40
    );

    let (head, gzipped) = get_bytes(f.server.api, "/service_template", &auth, Some("gzip, br"));
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(
        gzipped.len() * 5 < plain.len(),
        "{} bytes gzipped against {} plain",
        gzipped.len(),
        plain.len()
    );
    // The same document once unpacked (gzip from Debian's base system).
    let mut gunzip = std::process::Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    gunzip.stdin.take().unwrap().write_all(&gzipped).unwrap();
    let unpacked = gunzip.wait_with_output().unwrap();
    assert!(unpacked.status.success());
    let unpacked: Value = serde_json::from_slice(&unpacked.stdout).unwrap();
    assert_eq!(unpacked, listed);
}
