//! The REST API of the real `flotilla` binary on loopback: OneFlow's routes
//! and shapes, HTTP Basic authentication, permissions between users, and
//! errors with the right status and a JSON body naming the problem.

#[path = "../common/mod.rs"]
mod common;

mod clients;
mod driver;
mod elasticity;
mod oneflow;
mod policies;
mod rights;
mod scenario;
mod services;

use common::{Server, http};

use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// The server, spoken to as an API client.
struct Api(Server);

impl Api {
    /// One request's status.
    fn status(
        &self,
        method: &str,
        path: &str,
        auth: Option<(&str, &str)>,
        body: Option<&str>,
    ) -> u16 {
        self.call(method, path, auth, body).0
    }

    /// One request; returns the status and the JSON body (Null if none).
    fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<(&str, &str)>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let headers: Vec<(&str, String)> = auth
            .map(|(u, p)| ("authorization", common::basic(u, p)))
            .into_iter()
            .collect();
        let (status, payload) = http(self.0.api, method, path, &headers, body.unwrap_or(""))
            .expect("the server answers");
        (
            status,
            serde_json::from_str(&payload).unwrap_or(Value::Null),
        )
    }
}

/// Start the server and wait (bounded) until it answers.
fn start(data: &Path) -> Api {
    let server = Server::start(data);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if http(server.api, "GET", "/health", &[], "").is_some_and(|(status, _)| status == 200) {
            return Api(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server did not start");
}

/// A data directory for `start`: `config` as its flotilla.toml, the first
/// start's users (oneadmin, whose password is returned), the VM templates
/// `vm_templates` (name, attributes) in id order, and whatever `more` adds.
fn prepare(
    data: &Path,
    config: &str,
    vm_templates: &[(&str, Value)],
    more: impl FnOnce(&dyn flotilla::store::Store),
) -> String {
    std::fs::write(data.join("flotilla.toml"), config).unwrap();
    let store = flotilla::store::SqliteStore::open(&data.join("flotilla.db"))
        .unwrap()
        .boxed();
    flotilla::access::users::bootstrap(&*store, data).unwrap();
    for (name, attributes) in vm_templates {
        store
            .create_vm_template(
                name,
                Default::default(),
                attributes.as_object().unwrap().clone(),
            )
            .unwrap();
    }
    more(&*store);
    let auth = std::fs::read_to_string(data.join("one_auth")).unwrap();
    auth.trim().split_once(':').unwrap().1.to_string()
}

fn template() -> String {
    json!({
        "name": "web-app",
        "deployment": "straight",
        "roles": [
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0},
            {"name": "web", "type": "vm", "cardinality": 2, "template_id": 0, "parents": ["db"], "min_vms": 1, "max_vms": 3}
        ]
    })
    .to_string()
}

/// Poll a service (bounded) until its state is `state`; returns its body.
fn wait_state(server: &Api, id: &str, auth: Option<(&str, &str)>, state: u64) -> Value {
    let started = Instant::now();
    loop {
        let (_, doc) = server.call("GET", &format!("/service/{id}"), auth, None);
        let body = doc["DOCUMENT"]["TEMPLATE"]["BODY"].clone();
        if body["state"] == state || started.elapsed() > Duration::from_secs(30) {
            assert_eq!(body["state"], state, "{body}");
            return body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Create `template`, instantiate it and wait until the service runs; its id.
fn deploy(server: &Api, admin: Option<(&str, &str)>, template: Value) -> String {
    let (status, body) = server.call(
        "POST",
        "/service_template",
        admin,
        Some(&template.to_string()),
    );
    assert_eq!(status, 201, "{body}");
    let tid = body["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let (status, doc) = server.call(
        "POST",
        &format!("/service_template/{tid}/action"),
        admin,
        Some(&json!({"action": {"perform": "instantiate"}}).to_string()),
    );
    assert_eq!(status, 201, "{doc}");
    let id = doc["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    wait_state(server, &id, admin, 2);
    id
}

/// Run the `flotilla` CLI against `server` as oneadmin; its stdout, or a
/// panic with its stderr.
fn cli(server: &Api, password: &str, args: &[&str]) -> String {
    let url = format!("http://127.0.0.1:{}", server.0.api);
    let out = std::process::Command::new(common::BIN)
        .args(["--url", &url, "--user", "oneadmin", "--password", password])
        .args(args)
        .env_remove("FLOTILLA_URL")
        .env_remove("ONEFLOW_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "flotilla {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Set what the simulated hypervisor reports for one VM (`{"CPU": 5}`).
fn pin(server: &Api, vm_id: &str, values: Value) {
    let (status, body) = http(
        server.0.sim,
        "PUT",
        &format!("/vms/{vm_id}/monitoring"),
        &[],
        &values.to_string(),
    )
    .expect("the simulated hypervisor answers");
    assert_eq!(status, 200, "{body}");
}

/// Poll (bounded, 60 s) until `done` says a service body is what the test
/// waits for; returns that body.
fn wait_body(
    server: &Api,
    id: &str,
    auth: Option<(&str, &str)>,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (_, doc) = server.call("GET", &format!("/service/{id}"), auth, None);
        let body = doc["DOCUMENT"]["TEMPLATE"]["BODY"].clone();
        if done(&body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} never happened: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn action(perform: &str, params: Value) -> String {
    json!({"action": {"perform": perform, "params": params}}).to_string()
}
