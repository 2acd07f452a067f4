//! Security of the real `flotilla` binary on loopback: user changes take
//! effect at once, wrong-password floods are throttled and keep memory
//! flat, idle connections are closed and capped, cross-site requests are
//! refused, oversized bodies get 413, and every image a service uses is
//! checked.

mod common;

use common::{Server, http};
use flotilla::access::users;
use flotilla::store::SqliteStore;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn basic(user: &str, password: &str) -> String {
    common::basic(user, password)
}

/// An answer: status, head (lower-cased) and JSON body (Null if none).
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

/// One request with the Host a browser would send (`127.0.0.1:<port>`);
/// `None` when nothing answers within 10 s.
fn request(
    port: u16,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<Answer> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some((u, p)) = auth {
        head.push_str(&format!("authorization: {}\r\n", basic(u, p)));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let out = String::from_utf8_lossy(&out);
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    Some(Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    })
}

fn call(
    server: &Server,
    method: &str,
    path: &str,
    auth: (&str, &str),
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let a = request(server.api, method, path, Some(auth), &[], &body).expect("the server answers");
    (a.status, a.body)
}

fn action(perform: &str, params: Value) -> Value {
    json!({"action": {"perform": perform, "params": params}})
}

/// A data directory with `config` as flotilla.toml, oneadmin, and alice
/// and bob (users group, passwords `alice-pw` and `bob-pw`); returns
/// oneadmin's password.
fn prepare(data: &Path, config: &str) -> String {
    std::fs::write(data.join("flotilla.toml"), config).unwrap();
    let store = SqliteStore::open(&data.join("flotilla.db"))
        .unwrap()
        .boxed();
    users::bootstrap(&*store, data).unwrap();
    users::create_user(&*store, "alice", "alice-pw", users::USERS_GROUP).unwrap();
    users::create_user(&*store, "bob", "bob-pw", users::USERS_GROUP).unwrap();
    let auth = std::fs::read_to_string(data.join("one_auth")).unwrap();
    auth.trim().split_once(':').unwrap().1.to_string()
}

/// Start the server and wait (bounded) until it answers.
fn start(data: &Path) -> Server {
    let server = Server::start(data);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if http(server.api, "GET", "/health", &[], "").is_some_and(|(status, _)| status == 200) {
            return server;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server did not start");
}

/// A process's resident memory in MiB, from /proc.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kib / 1024
}

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

const ALICE: u64 = 1;

#[test]
fn every_change_to_a_user_takes_effect_on_the_next_request() {
    let data = tempfile::tempdir().unwrap();
    let admin_pw = prepare(data.path(), "");
    let server = start(data.path());
    let admin = ("oneadmin", admin_pw.as_str());
    let me = format!("/user/{ALICE}");

    // Remembered after the first request; a new password ends it.
    assert_eq!(
        call(&server, "GET", &me, ("alice", "alice-pw"), None).0,
        200
    );
    let passwd = action("passwd", json!({"password": "second"}));
    let to = format!("/user/{ALICE}/action");
    assert_eq!(call(&server, "POST", &to, admin, Some(passwd)).0, 204);
    assert_eq!(
        call(&server, "GET", &me, ("alice", "alice-pw"), None).0,
        401
    );
    assert_eq!(call(&server, "GET", &me, ("alice", "second"), None).0, 200);

    // In oneadmin's group she sees every user; moved out, she no longer does.
    let chgrp = |gid| action("chgrp", json!({"group_id": gid}));
    assert_eq!(call(&server, "POST", &to, admin, Some(chgrp(0))).0, 204);
    assert_eq!(
        call(&server, "GET", "/user/0", ("alice", "second"), None).0,
        200
    );
    assert_eq!(call(&server, "POST", &to, admin, Some(chgrp(1))).0, 204);
    assert_eq!(
        call(&server, "GET", "/user/0", ("alice", "second"), None).0,
        403
    );

    // Deleted, her credentials are refused.
    assert_eq!(call(&server, "GET", &me, ("alice", "second"), None).0, 200);
    assert_eq!(call(&server, "DELETE", &me, admin, None).0, 204);
    assert_eq!(
        call(&server, "GET", "/service", ("alice", "second"), None).0,
        401
    );
}

#[test]
fn sign_ins_in_flight_do_not_outlive_a_password_change() {
    let data = tempfile::tempdir().unwrap();
    // Throttling would hide the answer this test looks for.
    let admin_pw = prepare(
        data.path(),
        "[server]\nfailed_logins_per_minute = 1000000\n",
    );
    let server = start(data.path());
    let port = server.api;
    let admin = ("oneadmin", admin_pw.as_str());
    let mut password = "alice-pw".to_string();
    for round in 0..8 {
        // Several clients keep signing in as alice with her current password.
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..6)
            .map(|_| {
                let (stop, password) = (stop.clone(), password.clone());
                std::thread::spawn(move || {
                    let started = Instant::now();
                    while !stop.load(Ordering::Relaxed)
                        && started.elapsed() < Duration::from_secs(20)
                    {
                        request(port, "GET", "/service", Some(("alice", &password)), &[], "");
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150));
        // A change to bob makes alice's next sign-ins check her stored
        // password again, so checks are in flight when her password changes.
        let chgrp = action("chgrp", json!({"group_id": 1}));
        assert_eq!(
            call(&server, "POST", "/user/2/action", admin, Some(chgrp)).0,
            204
        );
        let new = format!("pw-{round}");
        let passwd = action("passwd", json!({"password": new}));
        let to = format!("/user/{ALICE}/action");
        assert_eq!(call(&server, "POST", &to, admin, Some(passwd)).0, 204);
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        assert_eq!(
            call(&server, "GET", "/service", ("alice", &password), None).0,
            401,
            "round {round}: the old password still works after the change"
        );
        assert_eq!(
            call(&server, "GET", "/service", ("alice", &new), None).0,
            200
        );
        password = new;
    }
}

/// `requests` wrong-password requests from `threads` clients, each on its
/// own connection; returns how many were answered 401 and 429.
fn flood(port: u16, threads: usize, requests: usize) -> (usize, usize) {
    let clients: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let mut counts = (0, 0);
                for i in (t..requests).step_by(threads) {
                    let user = if i % 2 == 0 { "alice" } else { "nobody" };
                    match request(port, "GET", "/service", Some((user, "wrong")), &[], "")
                        .map(|a| a.status)
                    {
                        Some(401) => counts.0 += 1,
                        Some(429) => counts.1 += 1,
                        _ => {}
                    }
                }
                counts
            })
        })
        .collect();
    clients
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

#[test]
fn a_wrong_password_flood_keeps_memory_flat_and_signed_in_users_served() {
    let data = tempfile::tempdir().unwrap();
    // Every attempt is checked (no throttling) so that hashing is what is
    // measured.
    let admin_pw = prepare(
        data.path(),
        "[server]\nfailed_logins_per_minute = 1000000\n",
    );
    let server = start(data.path());
    let admin = ("oneadmin", admin_pw.as_str());
    assert_eq!(call(&server, "GET", "/service", admin, None).0, 200);
    let before = rss_mib(server.pid());
    let (refused, throttled) = flood(server.api, 64, 512);
    assert_eq!((refused, throttled), (512, 0), "every attempt answered 401");
    let after = rss_mib(server.pid());
    eprintln!("RSS before {before} MiB, after 512 wrong passwords {after} MiB");
    assert!(after < 400, "RSS grew from {before} MiB to {after} MiB");
    assert_eq!(call(&server, "GET", "/service", admin, None).0, 200);
}

#[test]
fn repeated_failures_are_answered_429_but_a_remembered_session_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let admin_pw = prepare(data.path(), "");
    let server = start(data.path());
    let port = server.api;
    assert_eq!(
        call(&server, "GET", "/service", ("alice", "alice-pw"), None).0,
        200
    );
    for i in 0..10 {
        let a = request(port, "GET", "/service", Some(("alice", "guess")), &[], "").unwrap();
        assert_eq!(a.status, 401, "failure {i}");
    }
    let a = request(port, "GET", "/service", Some(("alice", "guess")), &[], "").unwrap();
    assert_eq!(a.status, 429, "the 11th failure within a minute");
    let retry: u64 = a
        .head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Retry-After header in seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(
        a.body["error"].as_str().unwrap().contains("sign-in"),
        "{}",
        a.body
    );
    // The right password is 429 too while it lasts, unless it was
    // remembered from before.
    assert_eq!(
        call(&server, "GET", "/service", ("alice", "alice-pw"), None).0,
        200
    );
    // The client address is throttled too: bob, never signed in from it.
    assert_eq!(
        call(&server, "GET", "/service", ("bob", "bob-pw"), None).0,
        429
    );
    assert_eq!(
        call(&server, "GET", "/service", ("oneadmin", &admin_pw), None).0,
        429
    );
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

#[test]
fn every_image_a_service_uses_is_checked() {
    let data = tempfile::tempdir().unwrap();
    let admin_pw = prepare(
        data.path(),
        "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n",
    );
    let server = start(data.path());
    let alice = ("alice", "alice-pw");
    let bob = ("bob", "bob-pw");
    let _ = admin_pw;

    // Alice's private image, bob's own VM template without disks.
    let (status, image) = call(
        &server,
        "POST",
        "/image",
        alice,
        Some(json!({"name": "secret", "template": {"TYPE": "OS"}})),
    );
    assert_eq!(status, 201, "{image}");
    let image_id: u64 = image["IMAGE"]["ID"].as_str().unwrap().parse().unwrap();
    let (status, vm) = call(
        &server,
        "POST",
        "/vm_template",
        bob,
        Some(json!({"name": "small", "template": {"CPU": "1"}})),
    );
    assert_eq!(status, 201, "{vm}");
    let vm_id: u64 = vm["VMTEMPLATE"]["ID"].as_str().unwrap().parse().unwrap();

    // A float IMAGE_ID is not an id, in a VM template as in a role.
    let (status, err) = call(
        &server,
        "POST",
        "/vm_template",
        bob,
        Some(json!({"name": "float", "template": {"DISK": {"IMAGE_ID": 19.0}}})),
    );
    assert_eq!(status, 400, "{err}");
    assert!(err["error"].as_str().unwrap().contains("IMAGE_ID"), "{err}");

    let template = |disk: Value| {
        json!({
            "name": "sneaky", "deployment": "straight",
            "roles": [{"name": "a", "type": "vm", "cardinality": 1, "template_id": vm_id,
                       "template_contents": {"DISK": disk}}]
        })
    };
    let instantiate = action("instantiate", json!({}));
    for (i, disk) in [
        json!([{"IMAGE_ID": image_id}]),
        json!({"IMAGE_ID": image_id.to_string()}),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, doc) = call(
            &server,
            "POST",
            "/service_template",
            bob,
            Some(template(disk)),
        );
        assert_eq!(status, 201, "{doc}");
        let id = doc["DOCUMENT"]["ID"].as_str().unwrap();
        let (status, err) = call(
            &server,
            "POST",
            &format!("/service_template/{id}/action"),
            bob,
            Some(instantiate.clone()),
        );
        assert_eq!(status, 403, "case {i}: {err}");
        assert!(
            err["error"]
                .as_str()
                .unwrap()
                .contains(&format!("image {image_id}")),
            "{err}"
        );
    }
    let (status, doc) = call(
        &server,
        "POST",
        "/service_template",
        bob,
        Some(template(json!([{"IMAGE_ID": 19.0}]))),
    );
    assert_eq!(status, 201, "{doc}");
    let id = doc["DOCUMENT"]["ID"].as_str().unwrap();
    let (status, err) = call(
        &server,
        "POST",
        &format!("/service_template/{id}/action"),
        bob,
        Some(instantiate.clone()),
    );
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("roles[0].template_contents.DISK[0].IMAGE_ID"),
        "{err}"
    );
    let (_, pool) = call(&server, "GET", "/service", bob, None);
    assert_eq!(pool, json!({"DOCUMENT_POOL": {}}), "no service was created");

    // add_role: the new role's template_contents too.
    let (status, doc) = call(
        &server,
        "POST",
        "/service_template",
        bob,
        Some(template(json!([]))),
    );
    assert_eq!(status, 201, "{doc}");
    let id = doc["DOCUMENT"]["ID"].as_str().unwrap();
    let (status, service) = call(
        &server,
        "POST",
        &format!("/service_template/{id}/action"),
        bob,
        Some(instantiate),
    );
    assert_eq!(status, 201, "{service}");
    let sid = service["DOCUMENT"]["ID"].as_str().unwrap();
    let add = action(
        "add_role",
        json!({"role": {"name": "b", "type": "vm", "cardinality": 1, "template_id": vm_id,
                        "template_contents": {"DISK": {"IMAGE_ID": image_id}}}}),
    );
    let (status, err) = call(
        &server,
        "POST",
        &format!("/service/{sid}/role_action"),
        bob,
        Some(add),
    );
    assert_eq!(status, 403, "{err}");
}
