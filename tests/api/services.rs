//! A shown service: what GET /service/:id answers follows every change.

use crate::{action, prepare, start, template};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn a_shown_service_follows_every_change_to_it() {
    let data = tempfile::tempdir().unwrap();
    let admin_password = prepare(
        data.path(),
        "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n",
        &[("small", json!({"CPU": "1"}))],
        |_| {},
    );
    let server = start(data.path());
    let admin = Some(("oneadmin", admin_password.as_str()));
    assert_eq!(
        server.status("POST", "/service_template", admin, Some(&template())),
        201
    );
    let (status, doc) = server.call(
        "POST",
        "/service_template/0/action",
        admin,
        Some(&action("instantiate", json!({}))),
    );
    assert_eq!(status, 201, "{doc}");
    let id = doc["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let path = format!("/service/{id}");

    // Shown while it deploys, then again as it runs: the same document is
    // not served across a change of state.
    let (_, shown) = server.call("GET", &path, admin, None);
    assert_eq!(shown["DOCUMENT"]["NAME"], "web-app");
    let body = server.0.wait_state_as(&id, admin, 2);
    assert_eq!(body["roles"][1]["nodes"].as_array().unwrap().len(), 2);

    let (_, before) = server.call("GET", &path, admin, None);
    let rename = action("rename", json!({"name": "web-app-2"}));
    assert_eq!(
        server.status("POST", &format!("{path}/action"), admin, Some(&rename)),
        204
    );
    let (_, after) = server.call("GET", &path, admin, None);
    assert_eq!(after["DOCUMENT"]["NAME"], "web-app-2");
    assert_eq!(before["DOCUMENT"]["NAME"], "web-app");

    let chmod = action("chmod", json!({"octet": "644"}));
    assert_eq!(
        server.status("POST", &format!("{path}/action"), admin, Some(&chmod)),
        204
    );
    let (_, after) = server.call("GET", &path, admin, None);
    assert_eq!(after["DOCUMENT"]["PERMISSIONS"]["OTHER_U"], "1", "{after}");

    assert_eq!(server.status("DELETE", &path, admin, None), 204);
    let started = Instant::now();
    while server.status("GET", &path, admin, None) != 404 {
        assert!(started.elapsed() < Duration::from_secs(30), "never deleted");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn values_for_a_role_s_vm_template_inputs_are_expected_even_under_strict_attributes() {
    let data = tempfile::tempdir().unwrap();
    let password = crate::prepare(
        data.path(),
        "[server]\nstrict_attributes = true\n",
        &[(
            "greeter",
            serde_json::json!({"CPU": "1", "USER_INPUTS": {"GREETING": "O|text|Greeting||hello"}}),
        )],
        |_| {},
    );
    let server = crate::start(data.path());
    let admin = Some(("oneadmin", password.as_str()));
    let template = serde_json::json!({"name": "greet", "roles": [
        {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0}]});
    let id = crate::create_template(&server, admin, &template);
    let instantiate = |values: serde_json::Value| {
        server.call(
            "POST",
            &format!("/service_template/{id}/action"),
            admin,
            Some(
                &serde_json::json!({"action": {"perform": "instantiate", "params": {
                    "merge_template": {"roles": [{"name": "web", "user_inputs_values": values}]}}}})
                .to_string(),
            ),
        )
    };
    // GREETING is the VM template's: taken; a name nobody declares is
    // still refused under strict_attributes, naming it.
    let (status, body) = instantiate(serde_json::json!({"GREETING": "hi"}));
    assert_eq!(status, 201, "{body}");
    assert!(body.get("warnings").is_none(), "{body}");
    let (status, body) = instantiate(serde_json::json!({"GREETNG": "hi"}));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string()
            .contains("user_inputs_values.GREETNG: not a declared user input"),
        "{body}"
    );
}
