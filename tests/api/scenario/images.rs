//! Images, and the images a VM template's disks name.

use super::Scenario;
use crate::template;

pub(super) fn images_and_disks(cx: &Scenario) {
    let server = &cx.server;
    let admin = cx.admin();
    let alice = cx.alice();

    // Images: OpenNebula's IMAGE shape; bad attributes are 400 naming the field.
    let (status, image) = server.call(
        "POST",
        "/image",
        admin,
        Some(r#"{"name": "debian", "template": {"PATH": "/img/debian.qcow2", "TYPE": "OS", "SIZE": "2048"}}"#),
    );
    assert_eq!(status, 201, "{image}");
    assert_eq!(image["IMAGE"]["ID"], "0");
    assert_eq!(image["IMAGE"]["TEMPLATE"]["SIZE"], "2048");
    let (status, err) = server.call(
        "POST",
        "/image",
        admin,
        Some(r#"{"name": "x", "template": {"TYPE": "FLOPPY"}}"#),
    );
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().starts_with("template.TYPE"));
    let (status, image) = server.call(
        "PUT",
        "/image/0",
        admin,
        Some(r#"{"template": {"DESCRIPTION": "base"}, "append": true}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(image["IMAGE"]["TEMPLATE"]["PATH"], "/img/debian.qcow2");
    assert_eq!(image["IMAGE"]["TEMPLATE"]["DESCRIPTION"], "base");
    assert_eq!(server.status("GET", "/image/0", alice, None), 403);
    let (_, pool) = server.call("GET", "/image", admin, None);
    assert_eq!(pool["IMAGE_POOL"]["IMAGE"].as_array().unwrap().len(), 1);

    // A VM template's disks must name images that exist.
    let (status, err) = server.call(
        "POST",
        "/vm_template",
        admin,
        Some(r#"{"name": "x", "template": {"DISK": [{"IMAGE_ID": "9"}]}}"#),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("template.DISK.IMAGE_ID")
    );
    let (status, _) = server.call(
        "POST",
        "/vm_template",
        admin,
        Some(r#"{"name": "small", "template": {"CPU": "1", "DISK": [{"IMAGE_ID": "0"}]}}"#),
    );
    assert_eq!(status, 201);
    let (status, _) = server.call("POST", "/service_template", admin, Some(&template()));
    assert_eq!(status, 201);
}
