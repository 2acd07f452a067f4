//! OneFlow's routes with users, permissions and errors: one server, one
//! walk from authentication to deleting a service.

use crate::{prepare, start, template};
use flotilla::access::users;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn oneflow_routes_with_users_permissions_and_errors() {
    let data = tempfile::tempdir().unwrap();
    let admin_password = prepare(
        data.path(),
        "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n",
        &[("small", json!({"CPU": "1"}))],
        |store| {
            users::create_user(store, "alice", "alice-pw", users::USERS_GROUP).unwrap();
            let team = users::create_group(store, "team").unwrap();
            users::create_user(store, "bob", "bob-pw", team).unwrap();
        },
    );
    let server = start(data.path());
    let admin = Some(("oneadmin", admin_password.as_str()));
    let alice = Some(("alice", "alice-pw"));
    let bob = Some(("bob", "bob-pw"));

    // Authentication.
    let (status, body) = server.call("GET", "/service", None, None);
    assert_eq!(status, 401);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("username and password")
    );
    assert_eq!(
        server.status("GET", "/service", Some(("alice", "nope")), None),
        401
    );

    // Templates: create, with OneFlow's document shape.
    let (status, created) = server.call("POST", "/service_template", admin, Some(&template()));
    assert_eq!(status, 201, "{created}");
    let doc = &created["DOCUMENT"];
    assert_eq!(
        (
            doc["ID"].as_str(),
            doc["TYPE"].as_str(),
            doc["UNAME"].as_str()
        ),
        (Some("0"), Some("101"), Some("oneadmin"))
    );
    assert_eq!(doc["PERMISSIONS"]["OWNER_U"], "1");
    assert_eq!(
        doc["TEMPLATE"]["BODY"]["roles"][1]["max_vms"], 3,
        "typed values inside BODY"
    );

    // Malformed JSON and schema errors: 400 naming the problem, nothing created.
    let (status, err) = server.call("POST", "/service_template", admin, Some("{not json"));
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().starts_with("request body"),
        "{err}"
    );
    let (status, err) = server.call("POST", "/service_template", admin, Some(r#"{"name": "x", "roles": [{"name": "a", "type": "vm", "template_id": 0, "parents": ["ghost"]}]}"#));
    assert_eq!(status, 400);
    assert_eq!(err["fields"][0]["field"], "roles[0].parents[0]", "{err}");
    // A policy expression is parsed when the template is created: the
    // error names the policy and the column.
    let bad_policy = json!({"name": "x", "roles": [{"name": "a", "type": "vm", "template_id": 0,
        "min_vms": 1, "max_vms": 3,
        "elasticity_policies": [{"type": "CHANGE", "adjust": 1, "expression": "CPU >> 80"}]}]});
    let (status, err) = server.call(
        "POST",
        "/service_template",
        admin,
        Some(&bad_policy.to_string()),
    );
    assert_eq!(status, 400);
    assert_eq!(
        err["fields"][0]["field"], "roles[0].elasticity_policies[0].expression",
        "{err}"
    );
    assert!(
        err["fields"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("at column 6: expected a name or a number, found `>`"),
        "{err}"
    );
    let (_, pool) = server.call("GET", "/service_template", admin, None);
    assert_eq!(
        pool["DOCUMENT_POOL"]["DOCUMENT"].as_array().unwrap().len(),
        1
    );

    // Alice sees nothing of oneadmin's until the group/other bits allow it.
    let (_, pool) = server.call("GET", "/service_template", alice, None);
    assert_eq!(pool, json!({"DOCUMENT_POOL": {}}));
    assert_eq!(
        server.status("GET", "/service_template/0", alice, None),
        403
    );
    let chmod = r#"{"action": {"perform": "chmod", "params": {"octet": "604"}}}"#;
    assert_eq!(
        server.status("POST", "/service_template/0/action", admin, Some(chmod)),
        204
    );
    let (_, pool) = server.call("GET", "/service_template", alice, None);
    assert_eq!(
        pool["DOCUMENT_POOL"]["DOCUMENT"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        server.status("DELETE", "/service_template/0", alice, None),
        403,
        "use, not manage"
    );

    // Instantiating needs `use` on the VM templates too.
    assert_eq!(
        server.status("POST", "/vm_template/0/action", admin, Some(chmod)),
        204
    );

    // Alice instantiates; the service is hers.
    let instantiate = r#"{"action": {"perform": "instantiate", "params": {"merge_template": {"name": "alice-app"}}}}"#;
    let (status, service) = server.call(
        "POST",
        "/service_template/0/action",
        alice,
        Some(instantiate),
    );
    assert_eq!(status, 201, "{service}");
    let sid = service["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    assert_eq!(service["DOCUMENT"]["TYPE"], "100");
    assert_eq!(service["DOCUMENT"]["UNAME"], "alice");
    assert_eq!(service["DOCUMENT"]["NAME"], "alice-app");

    // Bob, in another group, cannot see or touch it.
    assert_eq!(
        server.status("GET", &format!("/service/{sid}"), bob, None),
        403
    );
    assert_eq!(
        server.call("GET", "/service", bob, None).1,
        json!({"DOCUMENT_POOL": {}})
    );
    assert_eq!(
        server.status("DELETE", &format!("/service/{sid}"), bob, None),
        403
    );

    // It reaches RUNNING (bounded wait).
    let body = server.0.wait_state_as(&sid, alice, 2);
    assert_eq!(body["state"], 2, "{body}");
    assert_eq!(body["roles"][1]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["roles"][1]["nodes"][0]["vm_info"]["VM"]["NAME"],
        format!("web_0_(service_{sid})")
    );
    assert!(
        body["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"] == "New state: RUNNING")
    );

    // Errors: unknown role 404, outside bounds 400, wrong state 409.
    let scale = |role: &str, n: u32| {
        format!(r#"{{"role_name": "{role}", "cardinality": {n}, "force": false}}"#)
    };
    assert_eq!(
        server.status(
            "POST",
            &format!("/service/{sid}/scale"),
            alice,
            Some(&scale("nope", 2))
        ),
        404
    );
    let (status, err) = server.call(
        "POST",
        &format!("/service/{sid}/scale"),
        alice,
        Some(&scale("web", 9)),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().contains("above max_vms (3)"),
        "{err}"
    );
    let release = r#"{"action": {"perform": "release"}}"#;
    assert_eq!(
        server.status(
            "POST",
            &format!("/service/{sid}/action"),
            alice,
            Some(release)
        ),
        409
    );
    assert_eq!(server.status("GET", "/service/999", alice, None), 404);

    // VM templates: alice's is hers; bob may not build a service on it.
    let (status, vmt) = server.call(
        "POST",
        "/vm_template",
        alice,
        Some(r#"{"name": "alice-small", "template": {"CPU": "2", "MEMORY": "1024"}}"#),
    );
    assert_eq!(status, 201, "{vmt}");
    let vmt_id = vmt["VMTEMPLATE"]["ID"].as_str().unwrap().to_string();
    assert_eq!(vmt["VMTEMPLATE"]["TEMPLATE"]["MEMORY"], "1024");
    let (status, err) = server.call(
        "POST",
        "/vm_template",
        alice,
        Some(r#"{"name": "x", "template": {"NIC": {"NETWORK_ID": "0"}}}"#),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().starts_with("template.NIC"),
        "{err}"
    );
    assert_eq!(
        server.status("GET", &format!("/vm_template/{vmt_id}"), bob, None),
        403
    );
    let bobs = json!({"name": "bobs", "roles": [{"name": "r", "type": "vm", "cardinality": 1, "template_id": vmt_id.parse::<u64>().unwrap()}]});
    let (status, bob_tpl) = server.call("POST", "/service_template", bob, Some(&bobs.to_string()));
    assert_eq!(status, 201);
    let bob_tpl = bob_tpl["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let (status, err) = server.call(
        "POST",
        &format!("/service_template/{bob_tpl}/action"),
        bob,
        Some(r#"{"action": {"perform": "instantiate"}}"#),
    );
    assert_eq!(status, 403, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("roles[0].template_id"),
        "{err}"
    );

    // Users and groups: oneadmin creates them, others may not.
    let (status, group) = server.call("POST", "/group", admin, Some(r#"{"name": "ops"}"#));
    assert_eq!(status, 201, "{group}");
    let gid = group["GROUP"]["ID"].as_str().unwrap().to_string();
    let new_user = format!(r#"{{"name": "carol", "password": "carol-pw", "group_id": {gid}}}"#);
    assert_eq!(server.status("POST", "/user", admin, Some(&new_user)), 201);
    assert_eq!(
        server.status("POST", "/user", admin, Some(&new_user)),
        409,
        "the name is taken"
    );
    assert_eq!(
        server.status(
            "POST",
            "/user",
            alice,
            Some(r#"{"name": "eve", "password": "x"}"#)
        ),
        403
    );
    assert_eq!(
        server.status("GET", "/service", Some(("carol", "carol-pw")), None),
        200
    );
    let (_, me) = server.call("GET", "/user", alice, None);
    assert_eq!(
        me["USER_POOL"]["USER"].as_array().unwrap().len(),
        1,
        "alice sees only herself"
    );

    // Delete: 204, then the service goes away.
    assert_eq!(
        server.status("DELETE", &format!("/service/{sid}"), alice, None),
        204
    );
    let started = Instant::now();
    let status = loop {
        let status = server.status("GET", &format!("/service/{sid}"), alice, None);
        if status == 404 || started.elapsed() > Duration::from_secs(30) {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 404);
}
