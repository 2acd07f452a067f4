//! Open routes and the OpenAPI document.

use super::Scenario;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::Duration;

/// The methods a route answers, from the `Allow` header of the 405 that
/// `TRACE`, a method no route takes, gets (`HEAD` left out: it comes with
/// `GET`).
fn allowed_methods(port: u16, path: &str) -> Vec<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "TRACE {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 405"), "{path}: {answer}");
    let allow = answer
        .lines()
        .find_map(|line| line.strip_prefix("allow: "))
        .unwrap_or_else(|| panic!("{path}: no Allow in {answer}"));
    allow
        .split(',')
        .map(|m| m.trim().to_string())
        .filter(|m| m != "HEAD")
        .collect()
}

pub(super) fn open_routes_and_the_document(cx: &Scenario) {
    let server = &cx.server;

    // Open routes: health, metrics, the OpenAPI document; the rest need a user.
    assert_eq!(server.status("GET", "/plugins", None, None), 401);
    let (status, openapi) = server.call("GET", "/openapi.json", None, None);
    assert_eq!(status, 200);
    // The document describes exactly the routes served: the paths of the
    // router's route table, each with the methods it answers.
    let documented: BTreeSet<(String, String)> = openapi["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .filter(|key| ["get", "put", "post", "delete", "patch"].contains(&key.as_str()))
                .map(|method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = flotilla::api::routes()
        .into_iter()
        .flat_map(|(path, _)| {
            let concrete = path
                .replace("{id}", "0")
                .replace("{role}", "web")
                .replace("{sched_id}", "0");
            allowed_methods(server.0.server.api, &concrete)
                .into_iter()
                .map(move |method| (method, path.to_string()))
        })
        .collect();
    assert_eq!(served, documented);
}
