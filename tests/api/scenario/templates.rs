//! Service template actions: clone, update and delete_type (and an
//! image's rename and delete).

use super::Scenario;
use crate::action;
use serde_json::{Value, json};

pub(super) fn clone_update_and_delete(cx: &Scenario) {
    let server = &cx.server;
    let admin = cx.admin();
    let alice = cx.alice();

    // Clone: plain, then recursive (VM templates and images copied and re-pointed).
    let (status, plain) = server.call(
        "POST",
        "/service_template/0/action",
        admin,
        Some(&action("clone", json!({"name": "plain"}))),
    );
    assert_eq!(status, 201);
    assert_eq!(
        plain["DOCUMENT"]["TEMPLATE"]["BODY"]["roles"][0]["template_id"],
        0
    );
    let (status, err) = server.call(
        "POST",
        "/service_template/0/action",
        admin,
        Some(&action("clone", json!({"name": "x", "recursive": "deep"}))),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("params.recursive")
    );
    let (status, deep) = server.call(
        "POST",
        "/service_template/0/action",
        admin,
        Some(&action(
            "clone",
            json!({"name": "deep", "recursive": "all"}),
        )),
    );
    assert_eq!(status, 201, "{deep}");
    let deep_id = deep["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let new_vmt = deep["DOCUMENT"]["TEMPLATE"]["BODY"]["roles"][0]["template_id"]
        .as_u64()
        .unwrap();
    assert_ne!(new_vmt, 0);
    let (_, vmt) = server.call("GET", &format!("/vm_template/{new_vmt}"), admin, None);
    assert_eq!(vmt["VMTEMPLATE"]["NAME"], "small-deep");
    let new_image = vmt["VMTEMPLATE"]["TEMPLATE"]["DISK"][0]["IMAGE_ID"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_image, "0");
    let (_, img) = server.call("GET", &format!("/image/{new_image}"), admin, None);
    assert_eq!(img["IMAGE"]["NAME"], "debian-deep");

    // Template update action: append, registration_time is the server's,
    // schema errors change nothing.
    let update = |params: Value| action("update", params);
    assert_eq!(
        server.status(
            "POST",
            "/service_template/0/action",
            admin,
            Some(&update(
                json!({"template_json": "{\"description\": \"shop\"}", "append": true})
            ))
        ),
        204
    );
    let (_, doc) = server.call("GET", "/service_template/0", admin, None);
    let body = doc["DOCUMENT"]["TEMPLATE"]["BODY"].clone();
    assert_eq!(body["description"], "shop");
    assert_eq!(
        body["roles"].as_array().unwrap().len(),
        2,
        "append keeps the rest"
    );
    let mut changed = body.clone();
    changed["registration_time"] = json!(1);
    let (status, err) = server.call(
        "PUT",
        "/service_template/0",
        admin,
        Some(&changed.to_string()),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("registration_time")
    );
    let (status, _) = server.call("PUT", "/service_template/0", admin, Some(&body.to_string()));
    assert_eq!(status, 200, "what GET shows may be sent back");
    let (status, err) = server.call(
        "POST",
        "/service_template/0/action",
        admin,
        Some(&update(json!({"template_json": {"name": "x", "roles": [{"name": "a b", "type": "vm", "template_id": 0}]}}))),
    );
    assert_eq!(status, 400);
    assert_eq!(err["fields"][0]["field"], "roles[0].name");
    let (_, doc) = server.call("GET", "/service_template/0", admin, None);
    assert_eq!(doc["DOCUMENT"]["TEMPLATE"]["BODY"]["description"], "shop");

    // delete_type: refused while another template uses the VM template, then
    // `all` takes the VM templates and their images along.
    let (status, err) = server.call(
        "DELETE",
        "/service_template/0",
        admin,
        Some(r#"{"delete_type": "templates"}"#),
    );
    assert_eq!(status, 409, "{err}");
    assert_eq!(server.status("GET", "/vm_template/0", admin, None), 200);
    assert_eq!(
        server.status("GET", "/service_template/0", admin, None),
        200
    );
    assert_eq!(
        server.status(
            "DELETE",
            &format!("/service_template/{deep_id}"),
            admin,
            Some(r#"{"delete_type": "all"}"#)
        ),
        204
    );
    assert_eq!(
        server.status("GET", &format!("/vm_template/{new_vmt}"), admin, None),
        404
    );
    assert_eq!(
        server.status("GET", &format!("/image/{new_image}"), admin, None),
        404
    );
    assert_eq!(
        server.status("GET", "/image/0", admin, None),
        200,
        "the original stays"
    );
    let (status, img) = server.call(
        "POST",
        "/image",
        admin,
        Some(r#"{"name": "scratch", "template": {"TYPE": "DATABLOCK", "SIZE": 10}}"#),
    );
    assert_eq!(status, 201);
    let scratch = img["IMAGE"]["ID"].as_str().unwrap().to_string();
    let rename = action("rename", json!({"name": "scratch-2"}));
    assert_eq!(
        server.status(
            "POST",
            &format!("/image/{scratch}/action"),
            admin,
            Some(&rename)
        ),
        204
    );
    let (_, img) = server.call("GET", &format!("/image/{scratch}"), admin, None);
    assert_eq!(img["IMAGE"]["NAME"], "scratch-2");
    assert_eq!(
        server.status("DELETE", &format!("/image/{scratch}"), alice, None),
        403
    );
    assert_eq!(
        server.status("DELETE", &format!("/image/{scratch}"), admin, None),
        204
    );
    assert_eq!(
        server.status("GET", &format!("/image/{scratch}"), admin, None),
        404
    );
}
