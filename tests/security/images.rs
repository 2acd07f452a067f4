//! Every image a service uses is checked: in its roles' template contents,
//! given as numbers or strings, and in roles added later.

use crate::{action, call, prepare, start};
use serde_json::{Value, json};

#[test]
fn every_image_a_service_uses_is_checked() {
    let data = tempfile::tempdir().unwrap();
    let admin_pw = prepare(
        data.path(),
        "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n",
    );
    let f = start(data.path());
    let alice = ("alice", "alice-pw");
    let bob = ("bob", "bob-pw");
    let _ = admin_pw;

    // Alice's private image, bob's own VM template without disks.
    let (status, image) = call(
        &f,
        "POST",
        "/image",
        alice,
        Some(json!({"name": "secret", "template": {"TYPE": "OS"}})),
    );
    assert_eq!(status, 201, "{image}");
    let image_id: u64 = image["IMAGE"]["ID"].as_str().unwrap().parse().unwrap();
    let (status, vm) = call(
        &f,
        "POST",
        "/vm_template",
        bob,
        Some(json!({"name": "small", "template": {"CPU": "1"}})),
    );
    assert_eq!(status, 201, "{vm}");
    let vm_id: u64 = vm["VMTEMPLATE"]["ID"].as_str().unwrap().parse().unwrap();

    // A float IMAGE_ID is not an id, in a VM template as in a role.
    let (status, err) = call(
        &f,
        "POST",
        "/vm_template",
        bob,
        Some(json!({"name": "float", "template": {"DISK": {"IMAGE_ID": 19.0}}})),
    );
    assert_eq!(status, 400, "{err}");
    assert!(err["error"].as_str().unwrap().contains("IMAGE_ID"), "{err}");

    let template = |disk: Value| {
        json!({
            "name": "sneaky", "deployment": "straight",
            "roles": [{"name": "a", "type": "vm", "cardinality": 1, "template_id": vm_id,
                       "template_contents": {"DISK": disk}}]
        })
    };
    let instantiate = action("instantiate", json!({}));
    for (i, disk) in [
        json!([{"IMAGE_ID": image_id}]),
        json!({"IMAGE_ID": image_id.to_string()}),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, doc) = call(&f, "POST", "/service_template", bob, Some(template(disk)));
        assert_eq!(status, 201, "{doc}");
        let id = doc["DOCUMENT"]["ID"].as_str().unwrap();
        let (status, err) = call(
            &f,
            "POST",
            &format!("/service_template/{id}/action"),
            bob,
            Some(instantiate.clone()),
        );
        assert_eq!(status, 403, "case {i}: {err}");
        assert!(
            err["error"]
                .as_str()
                .unwrap()
                .contains(&format!("image {image_id}")),
            "{err}"
        );
    }
    let (status, doc) = call(
        &f,
        "POST",
        "/service_template",
        bob,
        Some(template(json!([{"IMAGE_ID": 19.0}]))),
    );
    assert_eq!(status, 201, "{doc}");
    let id = doc["DOCUMENT"]["ID"].as_str().unwrap();
    let (status, err) = call(
        &f,
        "POST",
        &format!("/service_template/{id}/action"),
        bob,
        Some(instantiate.clone()),
    );
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("roles[0].template_contents.DISK[0].IMAGE_ID"),
        "{err}"
    );
    let (_, pool) = call(&f, "GET", "/service", bob, None);
    assert_eq!(pool, json!({"DOCUMENT_POOL": {}}), "no service was created");

    // add_role: the new role's template_contents too.
    let (status, doc) = call(
        &f,
        "POST",
        "/service_template",
        bob,
        Some(template(json!([]))),
    );
    assert_eq!(status, 201, "{doc}");
    let id = doc["DOCUMENT"]["ID"].as_str().unwrap();
    let (status, service) = call(
        &f,
        "POST",
        &format!("/service_template/{id}/action"),
        bob,
        Some(instantiate),
    );
    assert_eq!(status, 201, "{service}");
    let sid = service["DOCUMENT"]["ID"].as_str().unwrap();
    let add = action(
        "add_role",
        json!({"role": {"name": "b", "type": "vm", "cardinality": 1, "template_id": vm_id,
                        "template_contents": {"DISK": {"IMAGE_ID": image_id}}}}),
    );
    let (status, err) = call(
        &f,
        "POST",
        &format!("/service/{sid}/role_action"),
        bob,
        Some(add),
    );
    assert_eq!(status, 403, "{err}");
}
