//! Carol's service from alice's template: group use, updates, actions,
//! scheduled actions, chown and chgrp.

use super::{BOB, CAROL, Scenario};
use crate::action;
use flotilla::access::users;
use serde_json::json;

/// Carol instantiates alice's template through group use; the service and
/// its body once RUNNING are kept for the later phases.
pub(super) fn group_use(cx: &mut Scenario) {
    let server = &cx.server;
    let alice = cx.alice();
    let (carol, bob) = (CAROL, BOB);

    // Group use: alice's template with 640 lets carol (same group) list and
    // instantiate but not delete; bob (another group) sees nothing.
    let (status, vmt) = server.call(
        "POST",
        "/vm_template",
        alice,
        Some(r#"{"name": "alice-small", "template": {"CPU": "1"}}"#),
    );
    assert_eq!(status, 201);
    let alice_vmt: u64 = vmt["VMTEMPLATE"]["ID"].as_str().unwrap().parse().unwrap();
    let alice_tpl = json!({"name": "alice-app", "deployment": "straight", "roles": [
        {"name": "db", "type": "vm", "cardinality": 1, "template_id": alice_vmt},
        {"name": "web", "type": "vm", "cardinality": 2, "template_id": alice_vmt, "parents": ["db"]}
    ]});
    let (status, tpl) = server.call(
        "POST",
        "/service_template",
        alice,
        Some(&alice_tpl.to_string()),
    );
    assert_eq!(status, 201);
    let tpl = tpl["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    for path in [
        format!("/service_template/{tpl}"),
        format!("/vm_template/{alice_vmt}"),
    ] {
        let chmod = action("chmod", json!({"octet": "640"}));
        assert_eq!(
            server.status("POST", &format!("{path}/action"), alice, Some(&chmod)),
            204
        );
    }
    let (_, pool) = server.call("GET", "/service_template", carol, None);
    assert_eq!(
        pool["DOCUMENT_POOL"]["DOCUMENT"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        server.call("GET", "/service_template", bob, None).1,
        json!({"DOCUMENT_POOL": {}})
    );
    assert_eq!(
        server.status("DELETE", &format!("/service_template/{tpl}"), carol, None),
        403
    );
    let (status, service) = server.call(
        "POST",
        &format!("/service_template/{tpl}/action"),
        carol,
        Some(&action("instantiate", json!({}))),
    );
    assert_eq!(status, 201, "{service}");
    assert_eq!(service["DOCUMENT"]["UNAME"], "carol");
    let sid = service["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let body = server.0.wait_state_as(&sid, carol, 2);
    cx.sid = sid;
    cx.shown = body;
}

pub(super) fn updates_and_actions(cx: &Scenario) {
    let server = &cx.server;
    let carol = CAROL;
    let sid = &cx.sid;
    let body = &cx.shown;

    // PUT /service: the body GET shows goes back unchanged; append changes
    // one attribute; immutable ones are refused by name.
    assert_eq!(
        server.status(
            "PUT",
            &format!("/service/{sid}"),
            carol,
            Some(&body.to_string())
        ),
        204
    );
    let append = json!({"append": true, "template": "{\"description\": \"carol's\"}"});
    assert_eq!(
        server.status(
            "PUT",
            &format!("/service/{sid}"),
            carol,
            Some(&append.to_string())
        ),
        204
    );
    let (_, doc) = server.call("GET", &format!("/service/{sid}"), carol, None);
    assert_eq!(
        doc["DOCUMENT"]["TEMPLATE"]["BODY"]["description"],
        "carol's"
    );
    let append = json!({"append": true, "template": "{\"deployment\": \"none\"}"});
    let (status, err) = server.call(
        "PUT",
        &format!("/service/{sid}"),
        carol,
        Some(&append.to_string()),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().starts_with("deployment"),
        "{err}"
    );

    // An action that is not a VM action is refused, naming the field.
    let (status, err) = server.call(
        "POST",
        &format!("/service/{sid}/role/web/action"),
        carol,
        Some(&action("explode", json!({}))),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("action: `explode` is not a VM action"),
        "{err}"
    );
}

pub(super) fn sched_actions(cx: &Scenario) {
    let server = &cx.server;
    let carol = CAROL;
    let sid = &cx.sid;

    // A batched role action shows its pending VM actions; deleting its
    // scheduled action cancels them.
    let reboot = action("reboot", json!({"period": 60, "number": 1}));
    assert_eq!(
        server.status(
            "POST",
            &format!("/service/{sid}/role/web/action"),
            carol,
            Some(&reboot)
        ),
        204
    );
    let (_, doc) = server.call("GET", &format!("/service/{sid}"), carol, None);
    let pending = doc["DOCUMENT"]["TEMPLATE"]["BODY"]["roles"][1]["scheduled_actions"].clone();
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending[0]["id"], 0);
    assert_eq!(pending[0]["action"], "reboot");
    assert_eq!(
        server.status(
            "DELETE",
            &format!("/service/{sid}/sched_action/x"),
            carol,
            None
        ),
        400
    );
    assert_eq!(
        server.status(
            "DELETE",
            &format!("/service/{sid}/role/nope/sched_action/0"),
            carol,
            None
        ),
        404
    );
    assert_eq!(
        server.status(
            "DELETE",
            &format!("/service/{sid}/role/web/sched_action/0"),
            carol,
            None
        ),
        204
    );
    let (_, doc) = server.call("GET", &format!("/service/{sid}"), carol, None);
    assert_eq!(
        doc["DOCUMENT"]["TEMPLATE"]["BODY"]["roles"][1]["scheduled_actions"],
        json!([])
    );
    assert_eq!(
        server.status(
            "DELETE",
            &format!("/service/{sid}/sched_action/0"),
            carol,
            None
        ),
        204
    );
}

pub(super) fn chown_and_chgrp(cx: &Scenario) {
    let server = &cx.server;
    let admin = cx.admin();
    let alice = cx.alice();
    let carol = CAROL;
    let sid = &cx.sid;
    let alice_id = cx.alice_id;

    // chown of a service: its VMs follow; unknown users are refused.
    let chown = action("chown", json!({"owner_id": alice_id}));
    assert_eq!(
        server.status(
            "POST",
            &format!("/service/{sid}/action"),
            carol,
            Some(&chown)
        ),
        403
    );
    assert_eq!(
        server.status(
            "POST",
            &format!("/service/{sid}/action"),
            admin,
            Some(&chown)
        ),
        204
    );
    let (_, doc) = server.call("GET", &format!("/service/{sid}"), alice, None);
    let vm = &doc["DOCUMENT"]["TEMPLATE"]["BODY"]["roles"][0]["nodes"][0]["vm_info"]["VM"];
    assert_eq!(
        (vm["UID"].as_str(), vm["UNAME"].as_str()),
        (Some(alice_id.to_string().as_str()), Some("alice"))
    );
    let chgrp = action("chgrp", json!({"group_id": users::ADMIN_GROUP}));
    let (status, err) = server.call(
        "POST",
        &format!("/service/{sid}/action"),
        alice,
        Some(&chgrp),
    );
    assert_eq!(status, 403, "alice is not in the oneadmin group: {err}");
    assert_eq!(
        server.status(
            "POST",
            &format!("/service/{sid}/action"),
            admin,
            Some(&chgrp)
        ),
        204
    );
    let (_, doc) = server.call("GET", &format!("/service/{sid}"), alice, None);
    assert_eq!(doc["DOCUMENT"]["GNAME"], "oneadmin");
    let vm = &doc["DOCUMENT"]["TEMPLATE"]["BODY"]["roles"][1]["nodes"][0]["vm_info"]["VM"];
    assert_eq!(
        vm["GNAME"], "oneadmin",
        "the VMs follow the service's group"
    );
    let chown = action("chown", json!({"owner_id": 99}));
    let (status, err) = server.call(
        "POST",
        &format!("/service/{sid}/action"),
        admin,
        Some(&chown),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("params.owner_id")
    );
}
