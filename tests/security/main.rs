//! Security of the real `flotilla` binary on loopback: user changes take
//! effect at once, wrong-password floods are throttled and keep memory
//! flat, idle connections are closed and capped, cross-site requests are
//! refused, oversized bodies get 413, every image a service uses is
//! checked, and the dashboard's sessions hold to the same rules.

#[path = "../common/mod.rs"]
mod common;

mod connections;
mod images;
mod requests;
mod sessions;
mod sign_in;

use common::Flotilla;
use flotilla::access::users;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

fn basic(user: &str, password: &str) -> String {
    common::basic(user, password)
}

/// An answer: status, head (lower-cased, and as sent) and JSON body (Null
/// if none).
struct Answer {
    status: u16,
    head: String,
    raw_head: String,
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
        raw_head: head.to_string(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    })
}

fn call(
    f: &Flotilla,
    method: &str,
    path: &str,
    auth: (&str, &str),
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let a =
        request(f.server.api, method, path, Some(auth), &[], &body).expect("the server answers");
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
    common::prepare(data, |store| {
        users::create_user(store, "alice", "alice-pw", users::USERS_GROUP).unwrap();
        users::create_user(store, "bob", "bob-pw", users::USERS_GROUP).unwrap();
    })
}

/// Start the server on `data` and wait (bounded) until it answers.
fn start(data: &Path) -> Flotilla {
    Flotilla::options().data_at(data).start()
}
