//! OneFlow's policies on the real binary, evaluated by the built-in
//! `expression` plugin: a role whose VMs report high CPU (the simulated
//! hypervisor's `SIM_LOAD`, or values pinned through its API) scales out
//! by its policy after `period_number` evaluations, waits out its
//! cooldown while another role scales, scales in when the load falls,
//! never past min/max; a cron policy fires at its time; `service
//! explain` shows each decision.

use crate::{Api, cli, common, deploy, pin, prepare, start, wait_evaluations};
use serde_json::{Value, json};

const CONFIG: &str =
    "[engine]\ntick_ms = 100\npolicy_evaluation_seconds = 1\n\n[sim]\nboot_seconds = 0\n";

/// A server with two VM templates (`busy`: CPU 95, `idle`: CPU 5), the
/// service of `template` deployed and RUNNING: (server, password, id).
fn deployed(data: &std::path::Path, template: Value) -> (Api, String, String) {
    let password = prepare(
        data,
        CONFIG,
        &[
            ("busy", json!({"CPU": "1", "SIM_LOAD": "constant:95"})),
            ("idle", json!({"CPU": "1", "SIM_LOAD": "constant:5"})),
        ],
        |_| {},
    );
    let server = start(data);
    let id = deploy(&server, Some(("oneadmin", password.as_str())), template);
    (server, password, id)
}

fn cardinality(body: &Value, role: usize) -> u64 {
    body["roles"][role]["cardinality"].as_u64().unwrap_or(0)
}

fn log(body: &Value) -> Vec<String> {
    body["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["message"].as_str().map(str::to_string))
        .collect()
}

/// When the service log says `needle` first (seconds since the epoch).
fn logged_at(body: &Value, needle: &str) -> Option<u64> {
    body["log"]
        .as_array()?
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.contains(needle)))
        .and_then(|l| l["timestamp"].as_u64())
}

fn vm_ids(body: &Value, role: usize) -> Vec<String> {
    body["roles"][role]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| match &n["deploy_id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn a_role_under_load_scales_out_by_its_policy_up_to_max_vms() {
    let data = tempfile::tempdir().unwrap();
    let policy = json!([{"type": "CHANGE", "adjust": 1, "expression": "CPU > 80",
                         "period_number": 2}]);
    let (server, password, id) = deployed(
        data.path(),
        json!({
            "name": "elastic",
            "deployment": "none",
            "roles": [
                {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
                 "min_vms": 1, "max_vms": 3, "cooldown": 1, "elasticity_policies": policy},
                {"name": "batch", "type": "vm", "cardinality": 1, "template_id": 1,
                 "min_vms": 1, "max_vms": 3, "cooldown": 1, "elasticity_policies": policy}
            ]
        }),
    );
    let admin = Some(("oneadmin", password.as_str()));
    // web scales 1 -> 2 -> 3 and stops there; batch, idle, stays at 1.
    let body = server.0.wait_body_as(&id, admin, "web at 3 VMs", 60, |b| {
        cardinality(b, 0) == 3 && b["state"] == 2
    });
    assert_eq!(cardinality(&body, 1), 1, "{body}");
    // Each policy shows its last evaluation, as OneFlow's do.
    let idle = &body["roles"][1]["elasticity_policies"][0];
    assert_eq!(
        idle["expression_evaluated"], "CPU[5] > 80 → false",
        "{body}"
    );
    assert_eq!(idle["true_evals"], 0, "{body}");
    assert!(idle["last_eval"].as_u64().is_some(), "{body}");
    let fired: Vec<String> = log(&body)
        .into_iter()
        .filter(|m| m.contains("scaling to"))
        .collect();
    assert_eq!(
        fired,
        [
            "Role web: elasticity_policies[0] (expression) CPU[95] > 80 → true: scaling to 2",
            "Role web: elasticity_policies[0] (expression) CPU[95] > 80 → true: scaling to 3"
        ],
    );
    // Evaluated by the built-in policy plugin, in its sandbox.
    let (_, plugins) = server.call("GET", "/plugins/expression", admin, None);
    assert!(plugins["calls"].as_u64().unwrap() >= 4, "{plugins}");

    // At max_vms it stays: a few more evaluations change nothing, and
    // explain says why.
    wait_evaluations(&server, &id, admin, &[0, 1], 3);
    let (_, doc) = server.call("GET", &format!("/service/{id}"), admin, None);
    let body = &doc["DOCUMENT"]["TEMPLATE"]["BODY"];
    assert_eq!(cardinality(body, 0), 3, "{body}");
    assert_eq!(body["roles"][0]["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(cardinality(body, 1), 1, "{body}");
    let (status, explained) = server.call(
        "GET",
        &format!("/service/{id}/explain?role=web"),
        admin,
        None,
    );
    assert_eq!(status, 200, "{explained}");
    let newest = &explained["roles"][0]["decisions"][0];
    assert_eq!(newest["trace"], "CPU[95] > 80 → true", "{explained}");
    assert_eq!(newest["inputs"].as_array().unwrap().len(), 3, "{newest}");
    assert_eq!(newest["inputs"][0]["values"]["CPU"], 95.0, "{newest}");
    let text = cli(
        &server,
        &password,
        &["service", "explain", &id, "web", "--limit", "3"],
    );
    assert!(text.contains("Role web: 3 VMs (min 1, max 3)"), "{text}");
    assert!(
        text.contains("elasticity_policies[0] (expression)")
            && text.contains("clamped to max_vms 3: no change"),
        "{text}"
    );
    let (status, err) = server.call(
        "GET",
        &format!("/service/{id}/explain?role=nope"),
        admin,
        None,
    );
    assert_eq!(status, 404, "{err}");

    // The live decisions, replayed through the same plugin, reproduce.
    let replayed = cli(
        &server,
        &password,
        &["policy", "simulate", "--service", &id, "--role", "web"],
    );
    let first = replayed.lines().next().unwrap();
    assert!(first.contains(" reproduce, 0 differ"), "{replayed}");
    let n: usize = first
        .split(": ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(n >= 5, "{replayed}");
}

#[test]
fn a_simulation_shows_what_a_template_s_policies_would_do_under_a_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.json");
    let template = json!({"name": "shop", "roles": [
    {"name": "web", "type": "vm", "template_id": 0, "cardinality": 1, "min_vms": 1,
     "max_vms": 4, "cooldown": 120,
     "elasticity_policies": [
        {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"},
        {"type": "CHANGE", "adjust": -1, "expression": "CPU < 30"}
     ]}]});
    std::fs::write(&path, template.to_string()).unwrap();
    let out = std::process::Command::new(common::BIN)
        .args([
            "policy",
            "simulate",
            path.to_str().unwrap(),
            "--load",
            "spike:40:250:3600:3600",
            "--duration",
            "4h",
            "--every",
            "60s",
            "--target",
            "80",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // The spike (2.5 VMs of demand for an hour) takes the role up one VM
    // per cooldown until each VM's share is under 80 %, then back to 1.
    for line in [
        "01:00:00  1 -> 2 VMs  elasticity_policies[0]: CPU[100] > 80 → true",
        "01:06:00  3 -> 4 VMs  elasticity_policies[0]: CPU[83.33] > 80 → true",
        "02:00:00  4 -> 3 VMs  elasticity_policies[1]: CPU[10] < 30 → true",
        "02:06:00  2 -> 1 VMs  elasticity_policies[1]: CPU[20] < 30 → true",
        "Scale-outs 3, scale-ins 3, flaps 0",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert!(text.contains("VM-minutes "), "{text}");
}

#[test]
fn the_api_simulates_a_stored_template_as_the_cli_does_and_names_a_bad_field() {
    let data = tempfile::tempdir().unwrap();
    let password = prepare(data.path(), CONFIG, &[], |store| {
        flotilla::access::users::create_user(
            store,
            "eve",
            "eve-pw",
            flotilla::access::users::USERS_GROUP,
        )
        .unwrap();
    });
    let server = start(data.path());
    let admin = Some(("oneadmin", password.as_str()));
    let template = json!({"name": "shop", "roles": [
    {"name": "db", "type": "vm", "template_id": 0, "cardinality": 1},
    {"name": "web", "type": "vm", "template_id": 0, "cardinality": 1, "min_vms": 1,
     "max_vms": 4, "cooldown": 120,
     "elasticity_policies": [
        {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"},
        {"type": "CHANGE", "adjust": -1, "expression": "CPU < 30"}
     ]}]});
    let path = format!(
        "/service_template/{}/simulate",
        crate::create_template(&server, admin, &template)
    );
    let request = json!({"load": "spike:40:250:3600:3600", "duration_seconds": 14400,
                         "every_seconds": 60, "target": 80});
    let (status, report) = server.call("POST", &path, admin, Some(&request.to_string()));
    assert_eq!(status, 200, "{report}");
    // The role with policies is found, and its events are the CLI's (the
    // test above): up one VM per cooldown, then back to one.
    assert_eq!(report["role"], "web");
    let events: Vec<(u64, u64, u64, String)> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["time_seconds"].as_u64().unwrap(),
                e["from"].as_u64().unwrap(),
                e["to"].as_u64().unwrap(),
                e["says"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(events.len(), 6, "{report}");
    assert_eq!(events[0], (3600, 1, 2, "CPU[100] > 80 → true".into()));
    assert_eq!(events[2], (3960, 3, 4, "CPU[83.33] > 80 → true".into()));
    assert_eq!(events[5], (7560, 2, 1, "CPU[20] < 30 → true".into()));
    assert_eq!(report["flaps"], 0);
    assert!(
        report["samples"].as_array().unwrap().len() > 200,
        "{report}"
    );

    // Each bad field is named, and a user who may not use the template is
    // refused.
    for (bad, named) in [
        (json!({"load": "wave:1"}), "load:"),
        (json!({"role": "cache"}), "role: `cache` is not a role"),
        (json!({"duration_seconds": 0}), "duration_seconds:"),
        (
            json!({"duration_seconds": 604800, "every_seconds": 1}),
            "over 100000 steps",
        ),
        (json!({"per_vm": "yes"}), "per_vm:"),
    ] {
        let (status, body) = server.call("POST", &path, admin, Some(&bad.to_string()));
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.to_string().contains(named), "{bad}: {body}");
    }
    let (status, _) = server.call("POST", &path, Some(("eve", "eve-pw")), Some("{}"));
    assert_eq!(status, 403);
}

#[test]
fn a_role_cools_down_while_another_scales_then_scales_in_when_the_load_falls() {
    let data = tempfile::tempdir().unwrap();
    let (server, password, id) = deployed(
        data.path(),
        json!({
            "name": "tidal",
            "deployment": "none",
            "roles": [
                {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
                 "min_vms": 1, "max_vms": 3, "cooldown": 6,
                 "elasticity_policies": [
                    {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"},
                    {"type": "CHANGE", "adjust": -1, "expression": "CPU < 20"}
                 ]},
                {"name": "batch", "type": "vm", "cardinality": 1, "template_id": 1,
                 "min_vms": 1, "max_vms": 2, "cooldown": 1,
                 "elasticity_policies": [
                    {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"}
                 ]}
            ]
        }),
    );
    let admin = Some(("oneadmin", password.as_str()));
    let body = server
        .0
        .wait_body_as(&id, admin, "web's first scale", 60, |b| {
            cardinality(b, 0) == 2 && b["state"] == 2
        });
    // batch gets busy while web cools down: it scales at once.
    for vm in vm_ids(&body, 1) {
        pin(&server, &vm, json!({"CPU": 97}));
    }
    let body = server
        .0
        .wait_body_as(&id, admin, "web at max_vms", 60, |b| {
            cardinality(b, 0) == 3 && cardinality(b, 1) == 2 && b["state"] == 2
        });
    let web_2 = logged_at(
        &body,
        "Role web: elasticity_policies[0] (expression) CPU[95] > 80 → true: scaling to 2",
    )
    .unwrap();
    let web_3 = logged_at(&body, "scaling to 3").unwrap();
    let batch_2 = logged_at(&body, "Role batch:").unwrap();
    assert!(
        web_3 >= web_2 + 6,
        "web waited out its cooldown: {:#?}",
        log(&body)
    );
    assert!(
        batch_2 < web_3,
        "batch scaled during web's cooldown: {:#?}",
        log(&body)
    );
    let (_, explained) = server.call(
        "GET",
        &format!("/service/{id}/explain?role=web"),
        admin,
        None,
    );
    let guards: Vec<String> = explained["roles"][0]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["guards"].as_array().cloned().unwrap_or_default())
        .filter_map(|g| g.as_str().map(str::to_string))
        .collect();
    assert!(
        guards
            .iter()
            .any(|g| g.contains("cooldown:") && g.contains("(6 s, the role's cooldown)")),
        "{guards:#?}"
    );

    // The load falls: web scales in, one VM per cooldown, down to min_vms.
    for vm in vm_ids(&body, 0) {
        pin(&server, &vm, json!({"CPU": 3}));
    }
    let body = server
        .0
        .wait_body_as(&id, admin, "web back at min_vms", 60, |b| {
            cardinality(b, 0) == 1 && b["state"] == 2
        });
    let scaled_in: Vec<String> = log(&body)
        .into_iter()
        .filter(|m| m.starts_with("Role web: elasticity_policies[1]"))
        .collect();
    assert_eq!(
        scaled_in,
        [
            "Role web: elasticity_policies[1] (expression) CPU[3] < 20 → true: scaling to 2",
            "Role web: elasticity_policies[1] (expression) CPU[3] < 20 → true: scaling to 1"
        ]
    );
    // And stays there through more evaluations.
    wait_evaluations(&server, &id, admin, &[0], 2);
    let (_, doc) = server.call("GET", &format!("/service/{id}"), admin, None);
    assert_eq!(cardinality(&doc["DOCUMENT"]["TEMPLATE"]["BODY"], 0), 1);
}

#[test]
fn a_cron_policy_fires_at_its_time() {
    let data = tempfile::tempdir().unwrap();
    let (server, password, id) = deployed(
        data.path(),
        json!({
            "name": "scheduled",
            "deployment": "none",
            "roles": [
                {"name": "web", "type": "vm", "cardinality": 1, "template_id": 1,
                 "min_vms": 1, "max_vms": 2,
                 "scheduled_policies": [
                    {"type": "CARDINALITY", "adjust": 2, "recurrence": "*/3 * * * * *"}
                 ]}
            ]
        }),
    );
    let admin = Some(("oneadmin", password.as_str()));
    let body = server
        .0
        .wait_body_as(&id, admin, "the cron policy", 60, |b| {
            cardinality(b, 0) == 2 && b["state"] == 2
        });
    let line = log(&body)
        .into_iter()
        .find(|m| m.contains("scaling to 2"))
        .unwrap();
    assert!(
        line.starts_with("Role web: scheduled_policies[0] (schedule) run due at "),
        "{line}"
    );
    let text = cli(&server, &password, &["service", "explain", &id]);
    assert!(text.contains("recurrence: */3 * * * * *"), "{text}");
    assert!(text.contains("action:  scale to 2"), "{text}");

    // A template whose policies will flap is created, with a warning.
    let flapping = json!({"name": "flappy", "roles": [
        {"name": "web", "type": "vm", "cardinality": 1, "template_id": 1, "min_vms": 1,
         "max_vms": 4, "elasticity_policies": [
            {"type": "CHANGE", "adjust": 1, "expression": "CPU > 60"},
            {"type": "CHANGE", "adjust": -1, "expression": "CPU < 65"}]}]});
    let (status, body) = server.call(
        "POST",
        "/service_template",
        admin,
        Some(&flapping.to_string()),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["warnings"][0],
        "roles[0].elasticity_policies[1].expression: scales in below 65 while elasticity_policies[0] scales out above 60: both fire between them and the role flaps",
        "{body}"
    );
}
