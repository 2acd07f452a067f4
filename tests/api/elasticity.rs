//! Metric policies on the real binary: a role whose VMs report high CPU
//! (the simulated hypervisor's `SIM_LOAD`) scales out by its policy, one
//! step per firing, and stops at `max_vms`; the service log says why.

use crate::{prepare, start, wait_state};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[test]
fn a_role_under_load_scales_out_by_its_policy_up_to_max_vms() {
    let data = tempfile::tempdir().unwrap();
    let admin_password = prepare(
        data.path(),
        "[engine]\ntick_ms = 100\npolicy_evaluation_seconds = 1\n\n[sim]\nboot_seconds = 0\n",
        &[
            ("busy", json!({"CPU": "1", "SIM_LOAD": "constant:95"})),
            ("idle", json!({"CPU": "1", "SIM_LOAD": "constant:5"})),
        ],
        |_| {},
    );
    let server = start(data.path());
    let admin = Some(("oneadmin", admin_password.as_str()));
    let policy = json!([{"type": "CHANGE", "adjust": 1, "expression": "CPU > 80",
                         "period_number": 2}]);
    let template = json!({
        "name": "elastic",
        "deployment": "none",
        "roles": [
            {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
             "min_vms": 1, "max_vms": 3, "cooldown": 1, "elasticity_policies": policy},
            {"name": "batch", "type": "vm", "cardinality": 1, "template_id": 1,
             "min_vms": 1, "max_vms": 3, "cooldown": 1, "elasticity_policies": policy}
        ]
    });
    let (status, body) = server.call(
        "POST",
        "/service_template",
        admin,
        Some(&template.to_string()),
    );
    assert_eq!(status, 201, "{body}");
    let (status, doc) = server.call(
        "POST",
        "/service_template/0/action",
        admin,
        Some(&json!({"action": {"perform": "instantiate"}}).to_string()),
    );
    assert_eq!(status, 201, "{doc}");
    let id = doc["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    wait_state(&server, &id, admin, 2);

    // web scales 1 -> 2 -> 3 and stops there; batch, idle, stays at 1.
    let started = Instant::now();
    let cardinality = |body: &Value, role: usize| body["roles"][role]["cardinality"].as_u64();
    let body = loop {
        let (_, doc) = server.call("GET", &format!("/service/{id}"), admin, None);
        let body = doc["DOCUMENT"]["TEMPLATE"]["BODY"].clone();
        if cardinality(&body, 0) == Some(3) && body["state"] == 2 {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "web never reached 3 VMs: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(cardinality(&body, 1), Some(1), "{body}");
    // Each policy shows its last evaluation, as OneFlow's do.
    let idle = &body["roles"][1]["elasticity_policies"][0];
    assert_eq!(
        idle["expression_evaluated"], "CPU[5] > 80 → false",
        "{body}"
    );
    assert_eq!(idle["true_evals"], 0, "{body}");
    assert!(idle["last_eval"].as_u64().is_some(), "{body}");
    let log: Vec<&str> = body["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["message"].as_str())
        .collect();
    let fired: Vec<&&str> = log.iter().filter(|m| m.contains("scaling to")).collect();
    assert_eq!(
        fired,
        [
            &"Role web: elasticity_policies[0] (expression) CPU[95] > 80 → true: scaling to 2",
            &"Role web: elasticity_policies[0] (expression) CPU[95] > 80 → true: scaling to 3"
        ],
        "{log:#?}"
    );
    // Evaluated by the built-in policy plugin, in its sandbox.
    let (_, plugins) = server.call("GET", "/plugins", admin, None);
    let expression = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "expression")
        .unwrap();
    assert!(expression["calls"].as_u64().unwrap() >= 4, "{plugins}");

    // At max_vms it stays: a few more evaluations change nothing.
    std::thread::sleep(Duration::from_secs(3));
    let (_, doc) = server.call("GET", &format!("/service/{id}"), admin, None);
    let body = &doc["DOCUMENT"]["TEMPLATE"]["BODY"];
    assert_eq!(cardinality(body, 0), Some(3), "{body}");
    assert_eq!(body["roles"][0]["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(cardinality(body, 1), Some(1), "{body}");
}
