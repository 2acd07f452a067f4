//! Rights reach through a service template to its VM templates and their
//! images; errors, routing's included, are always JSON.

use crate::{action, prepare, start};
use flotilla::access::users;
use serde_json::json;

#[test]
fn rights_reach_through_to_vm_templates_and_images_and_errors_are_always_json() {
    let data = tempfile::tempdir().unwrap();
    let admin_password = prepare(
        data.path(),
        "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n",
        &[],
        |store| {
            users::create_user(store, "alice", "alice-pw", users::USERS_GROUP).unwrap();
        },
    );
    let server = start(data.path());
    let admin = Some(("oneadmin", admin_password.as_str()));
    let alice = Some(("alice", "alice-pw"));

    // oneadmin's private VM template 0 (with a private image) and a shared one, 1.
    let post = |path: &str, auth, body: &str| server.call("POST", path, auth, Some(body));
    assert_eq!(
        post(
            "/image",
            admin,
            r#"{"name": "secret", "template": {"TYPE": "OS"}}"#
        )
        .0,
        201
    );
    let private = r#"{"name": "private", "template": {"CPU": "1", "DISK": {"IMAGE_ID": 0}}}"#;
    assert_eq!(post("/vm_template", admin, private).0, 201);
    let shared = r#"{"name": "shared", "template": {"CPU": "1", "DISK": [{"IMAGE_ID": "0"}]}}"#;
    assert_eq!(post("/vm_template", admin, shared).0, 201);
    let other_use = action("chmod", json!({"octet": "604"}));
    assert_eq!(post("/vm_template/1/action", admin, &other_use).0, 204);

    // Alice's template on the shared VM template: instantiating still needs
    // `use` on its image.
    let tpl = json!({"name": "a", "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 1}]});
    assert_eq!(post("/service_template", alice, &tpl.to_string()).0, 201);
    let (status, err) = post(
        "/service_template/0/action",
        alice,
        &action("instantiate", json!({})),
    );
    assert_eq!(status, 403, "{err}");
    assert!(err["error"].as_str().unwrap().contains("image 0"), "{err}");
    assert_eq!(post("/image/0/action", admin, &other_use).0, 204);
    // A template id given as a string in merge_template is checked as well.
    let merge = json!({"merge_template": {"roles": [{"name": "web", "template_id": "0"}]}});
    let (status, err) = post(
        "/service_template/0/action",
        alice,
        &action("instantiate", merge),
    );
    assert_eq!(status, 403, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("roles[0].template_id"),
        "{err}"
    );
    let (status, service) = post(
        "/service_template/0/action",
        alice,
        &action("instantiate", json!({})),
    );
    assert_eq!(status, 201, "{service}");
    let sid = service["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let _ = server.0.wait_state_as(&sid, alice, 2);

    // add_role needs `use` on the role's VM template too.
    let add = action(
        "add_role",
        json!({"role": {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0}}),
    );
    let (status, err) = post(&format!("/service/{sid}/role_action"), alice, &add);
    assert_eq!(status, 403, "{err}");
    let (_, doc) = server.call("GET", &format!("/service/{sid}"), alice, None);
    assert_eq!(
        doc["DOCUMENT"]["TEMPLATE"]["BODY"]["roles"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Manage allows chmod, but not giving anyone admin bits.
    let (status, err) = post(
        "/service_template/0/action",
        alice,
        &action("chmod", json!({"octet": "777"})),
    );
    assert_eq!(status, 403, "{err}");
    assert!(
        err["error"].as_str().unwrap().starts_with("params.octet"),
        "{err}"
    );
    assert_eq!(
        post(
            "/service_template/0/action",
            alice,
            &action("chmod", json!({"octet": "660"}))
        )
        .0,
        204
    );
    // Renames follow the same rules as names at creation.
    let (status, err) = post(
        "/service_template/0/action",
        alice,
        &action("rename", json!({"name": "bad\u{7}name"})),
    );
    assert_eq!(status, 400, "{err}");
    // A recover's `delete` must be a boolean.
    let (status, err) = post(
        &format!("/service/{sid}/action"),
        alice,
        &action("recover", json!({"delete": "true"})),
    );
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"].as_str().unwrap().starts_with("params.delete"),
        "{err}"
    );

    // Errors from routing are JSON too.
    let (status, err) = server.call("GET", "/service/abc", alice, None);
    assert_eq!(status, 400);
    assert!(err["error"].is_string(), "{err}");
    let (status, err) = server.call("PUT", "/service_pool/purge_done", admin, Some("{}"));
    assert_eq!(status, 405);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("PUT is not allowed"),
        "{err}"
    );
    // Unknown users and wrong passwords get the same answer.
    assert_eq!(
        server.status("GET", "/service", Some(("nobody", "x")), None),
        401
    );
    assert_eq!(
        server.status("GET", "/service", Some(("alice", "x")), None),
        401
    );
}
