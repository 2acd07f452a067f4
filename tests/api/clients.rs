//! What OpenNebula's own clients send, taken as OneFlow takes it (goca
//! sends `null` bodies and boolean `recursive`; `oneflow purge-done` is run
//! by ordinary users), and a role added again under a removed role's name.

use crate::{prepare, start, template};
use flotilla::access::users;
use serde_json::{Value, json};

fn action(perform: &str, params: Value) -> String {
    json!({"action": {"perform": perform, "params": params}}).to_string()
}

fn fast() -> &'static str {
    "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n"
}

/// A fast server with VM template 0 and service template 0 (db and two
/// web VMs); its data directory, the server and oneadmin's password.
fn serve_one_template() -> (tempfile::TempDir, crate::Api, String) {
    let data = tempfile::tempdir().unwrap();
    let pw = prepare(
        data.path(),
        fast(),
        &[("small", json!({"CPU": "1"}))],
        |_| {},
    );
    let server = start(data.path());
    let admin = Some(("oneadmin", pw.as_str()));
    let (status, created) = server.call("POST", "/service_template", admin, Some(&template()));
    assert_eq!(status, 201, "{created}");
    (data, server, pw)
}

#[test]
fn goca_null_bodies_and_boolean_recursive_are_understood() {
    let (_data, server, pw) = serve_one_template();
    let admin = Some(("oneadmin", pw.as_str()));

    // goca's clone: `"recursive": true` clones the VM templates too.
    let (status, clone) = server.call(
        "POST",
        "/service_template/0/action",
        admin,
        Some(&action("clone", json!({"name": "copy", "recursive": true}))),
    );
    assert_eq!(status, 201, "{clone}");
    let (_, vm_templates) = server.call("GET", "/vm_template", admin, None);
    let count = vm_templates["VMTEMPLATE_POOL"]["VMTEMPLATE"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(count, 2, "the VM template was cloned: {vm_templates}");
    let (status, clone) = server.call(
        "POST",
        "/service_template/0/action",
        admin,
        Some(&action(
            "clone",
            json!({"name": "plain", "recursive": false}),
        )),
    );
    assert_eq!(status, 201, "{clone}");
    let (_, vm_templates) = server.call("GET", "/vm_template", admin, None);
    assert_eq!(
        vm_templates["VMTEMPLATE_POOL"]["VMTEMPLATE"]
            .as_array()
            .map_or(0, Vec::len),
        2,
        "false clones no VM template"
    );

    // `"params": null` is no params.
    let (status, err) = server.call(
        "POST",
        "/service_template/2/action",
        admin,
        Some(r#"{"action": {"perform": "instantiate", "params": null}}"#),
    );
    assert_eq!(status, 201, "{err}");

    // goca deletes with a body of `null`.
    let (status, err) = server.call("DELETE", "/service_template/2", admin, Some("null"));
    assert_eq!(status, 204, "{err}");
    let (status, _) = server.call("GET", "/service_template/2", admin, None);
    assert_eq!(status, 404);
    // A body that is not an object (nor null) is still refused.
    let (status, err) = server.call("DELETE", "/service_template/1", admin, Some("[1]"));
    assert_eq!(status, 400, "{err}");
}

#[test]
fn purge_done_by_a_user_purges_her_own_done_services() {
    let data = tempfile::tempdir().unwrap();
    // Two DONE services, as an older release or an import leaves them:
    // service 0 oneadmin's, service 1 alice's.
    let pw = prepare(
        data.path(),
        fast(),
        &[("small", json!({"CPU": "1"}))],
        |store| {
            let alice = users::create_user(store, "alice", "alice-pw", users::USERS_GROUP).unwrap();
            let doc = json!({"name": "old", "roles": [
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0}]});
            for (id, uid, gid) in [(0, 0, 0), (1, alice, users::USERS_GROUP)] {
                let template = flotilla::service::parse_template(&doc).unwrap();
                let mut done = flotilla::service::lifecycle::Service::new(id, template, 0, 60_000);
                done.state = flotilla::service::ServiceState::Done;
                done.ownership.uid = uid;
                done.ownership.gid = gid;
                store.save_service(&done).unwrap();
            }
        },
    );
    let server = start(data.path());
    let admin = Some(("oneadmin", pw.as_str()));
    let alice = Some(("alice", "alice-pw"));
    // Before, anyone outside oneadmin's group got a 403.
    let (status, err) = server.call("POST", "/service_pool/purge_done", alice, None);
    assert_eq!(status, 204, "alice may purge: {err}");
    let (status, _) = server.call("GET", "/service/1", admin, None);
    assert_eq!(status, 404, "alice's DONE service is purged");
    let (status, body) = server.call("GET", "/service/0", admin, None);
    assert_eq!(status, 200, "oneadmin's is not alice's to purge: {body}");
    let (status, err) = server.call("POST", "/service_pool/purge_done", admin, None);
    assert_eq!(status, 204, "{err}");
    let (status, _) = server.call("GET", "/service/0", admin, None);
    assert_eq!(status, 404);
}

#[test]
fn a_role_added_again_under_a_removed_roles_name_gets_new_vms() {
    let (_data, server, pw) = serve_one_template();
    let admin = Some(("oneadmin", pw.as_str()));
    let (status, service) = server.call(
        "POST",
        "/service_template/0/action",
        admin,
        Some(&action("instantiate", json!({}))),
    );
    assert_eq!(status, 201, "{service}");
    let id = service["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let body = server.0.wait_state_as(&id, admin, 2);
    let before = crate::common::role_vms(&body, "web");
    assert_eq!(before.len(), 2, "{body}");

    let path = format!("/service/{id}/role_action");
    let (status, err) = server.call(
        "POST",
        &path,
        admin,
        Some(&action("remove_role", json!({"role": "web"}))),
    );
    assert_eq!(status, 204, "{err}");
    let body = server.0.wait_state_as(&id, admin, 2);
    assert!(crate::common::role_vms(&body, "web").is_empty(), "{body}");

    let role = json!({"name": "web", "type": "vm", "cardinality": 2, "template_id": 0});
    let (status, err) = server.call(
        "POST",
        &path,
        admin,
        Some(&action("add_role", json!({"role": role}))),
    );
    assert_eq!(status, 204, "{err}");
    // Before, the new VMs took the removed ones' operation ids: the
    // hypervisor handed back the DONE VMs and the service never left
    // DEPLOYING.
    let body = server.0.wait_state_as(&id, admin, 2);
    let after = crate::common::role_vms(&body, "web");
    assert_eq!(after.len(), 2, "{body}");
    for vm in &after {
        assert!(
            !before.contains(vm),
            "VM {vm} came back: {before:?} → {after:?}"
        );
    }
    let names: Vec<&str> = body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "web")
        .flat_map(|r| r["nodes"].as_array().unwrap())
        .filter_map(|n| n["vm_info"]["VM"]["NAME"].as_str())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("web_2") || n.starts_with("web_3")),
        "the new VMs are numbered on from the removed ones: {names:?}"
    );
}
