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

use common::{Flotilla, http};

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// The server, spoken to as an API client with any user's credentials.
struct Api(Flotilla);

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
        let (status, payload) = http(
            self.0.server.api,
            method,
            path,
            &headers,
            body.unwrap_or(""),
        )
        .expect("the server answers");
        (
            status,
            serde_json::from_str(&payload).unwrap_or(Value::Null),
        )
    }
}

/// Start the server on `data` and wait (bounded) until it answers.
fn start(data: &Path) -> Api {
    Api(Flotilla::options().data_at(data).start())
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
    common::prepare(data, |store| {
        for (name, attributes) in vm_templates {
            store
                .create_vm_template(
                    name,
                    Default::default(),
                    attributes.as_object().unwrap().clone(),
                )
                .unwrap();
        }
        more(store);
    })
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

/// Create `template` as `user`; its id.
fn create_template(server: &Api, user: Option<(&str, &str)>, template: &Value) -> String {
    let (status, body) = server.call(
        "POST",
        "/service_template",
        user,
        Some(&template.to_string()),
    );
    assert_eq!(status, 201, "{body}");
    body["DOCUMENT"]["ID"].as_str().unwrap().to_string()
}

/// Create `template`, instantiate it and wait until the service runs; its id.
fn deploy(server: &Api, admin: Option<(&str, &str)>, template: Value) -> String {
    let tid = create_template(server, admin, &template);
    let (status, doc) = server.call(
        "POST",
        &format!("/service_template/{tid}/action"),
        admin,
        Some(&json!({"action": {"perform": "instantiate"}}).to_string()),
    );
    assert_eq!(status, 201, "{doc}");
    let id = doc["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let _ = server.0.wait_state_as(&id, admin, 2);
    id
}

/// Run the `flotilla` CLI against `server` as oneadmin; its stdout, or a
/// panic with its stderr.
fn cli(server: &Api, password: &str, args: &[&str]) -> String {
    let url = format!("http://127.0.0.1:{}", server.0.server.api);
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
        server.0.server.sim,
        "PUT",
        &format!("/vms/{vm_id}/monitoring"),
        &[],
        &values.to_string(),
    )
    .expect("the simulated hypervisor answers");
    assert_eq!(status, 200, "{body}");
}

/// Wait (bounded, 60 s) until each of `roles` (their indexes) of service
/// `id` has been evaluated `n` more times than when called: decisions that
/// `GET /service/{id}/explain` lists (newest first) above the newest it
/// listed then.
fn wait_evaluations(server: &Api, id: &str, auth: Option<(&str, &str)>, roles: &[usize], n: usize) {
    let decisions = |role: usize| {
        let (status, explained) = server.call("GET", &format!("/service/{id}/explain"), auth, None);
        assert_eq!(status, 200, "{explained}");
        explained["roles"][role]["decisions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let newest: Vec<Option<Value>> = roles
        .iter()
        .map(|&role| decisions(role).first().cloned())
        .collect();
    let newer = |role: usize, newest: &Option<Value>| {
        let now = decisions(role);
        // The newest seen then may have left the list (it keeps the last
        // 50): then all of them are newer.
        newest
            .as_ref()
            .and_then(|newest| now.iter().position(|d| d == newest))
            .unwrap_or(now.len())
    };
    let evaluated = common::wait_for(Duration::from_secs(60), || {
        roles
            .iter()
            .zip(&newest)
            .all(|(&role, newest)| newer(role, newest) >= n)
            .then_some(())
    });
    assert!(
        evaluated.is_some(),
        "roles {roles:?} of service {id} were not all evaluated {n} more times within 60 s: {:?}",
        roles
            .iter()
            .zip(&newest)
            .map(|(&role, newest)| newer(role, newest))
            .collect::<Vec<_>>()
    );
}

fn action(perform: &str, params: Value) -> String {
    json!({"action": {"perform": perform, "params": params}}).to_string()
}
