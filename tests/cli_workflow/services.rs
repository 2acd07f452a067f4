//! Service commands on a running service: role actions, scheduled
//! actions, roles added and removed, updates, hold and release.

use crate::{
    Site, created_id, example, fails, json_of, ok, role, role_names, rows, service_body,
    wait_service,
};

#[test]
fn service_commands_act_on_a_running_service() {
    let site = Site::start();
    let env = site.admin();
    site.fast_vm_templates();
    let tid = created_id(&ok(
        &env,
        &["template", "create", &example("templates/three-tier.json")],
    ));
    let out = ok(
        &env,
        &[
            "template",
            "instantiate",
            &tid,
            &example("templates/three-tier-inputs.json"),
            "--wait",
            "--timeout",
            "60",
        ],
    );
    let id = created_id(&out);

    // A batched role action: one web VM now, the other in 60 s.
    ok(
        &env,
        &[
            "service", "action", &id, "web", "reboot", "--period", "60", "--number", "1",
        ],
    );
    let show = ok(&env, &["service", "show", &id]);
    let (_, scheduled) = show
        .split_once("SCHEDULED ACTIONS")
        .unwrap_or_else(|| panic!("no scheduled actions in {show}"));
    // ID ROLE ACTION VM TIME
    let pending = rows(scheduled, "0");
    assert_eq!(pending.len(), 1, "{show}");
    assert_eq!(pending[0][1..3], ["web", "reboot"], "{show}");
    assert_eq!(
        role(&service_body(&env, &id), "web")["scheduled_actions"][0]["action"],
        "reboot"
    );

    ok(&env, &["service", "sched-delete", &id, "web", "0"]);
    let show = ok(&env, &["service", "show", &id]);
    assert!(!show.contains("SCHEDULED ACTIONS"), "{show}");
    assert!(
        show.contains("Scheduled action 0: 1 pending VM actions cancelled"),
        "{show}"
    );

    // Every role's VMs at once: nothing left pending.
    ok(&env, &["service", "action", &id, "reboot", "--period", "0"]);
    let show = ok(&env, &["service", "show", &id]);
    assert!(!show.contains("SCHEDULED ACTIONS"), "{show}");
    for r in ["db", "app", "web"] {
        assert!(show.contains(&format!("Role {r}: reboot on")), "{show}");
    }

    // add-role, then remove-role once the new role runs.
    ok(
        &env,
        &[
            "service",
            "add-role",
            &id,
            &example("templates/cache-role.json"),
        ],
    );
    let body = wait_service(&env, &id, "the cache role RUNNING", |b| {
        b["state"] == 2
            && role_names(b).contains(&"cache".to_string())
            && role(b, "cache")["nodes"][0]["vm_info"]["VM"]["STATE"] == "RUNNING"
    });
    assert_eq!(role_names(&body), ["db", "app", "web", "cache"]);
    let show = ok(&env, &["service", "show", &id]);
    assert_eq!(
        rows(&show, "cache")[0][..4],
        ["cache", "RUNNING", "1", "1/1"],
        "{show}"
    );
    ok(&env, &["service", "remove-role", &id, "cache"]);
    let body = wait_service(&env, &id, "RUNNING without the cache role", |b| {
        b["state"] == 2 && !role_names(b).contains(&"cache".to_string())
    });
    assert_eq!(role_names(&body), ["db", "app", "web"]);

    // update in $EDITOR.
    let editor = site.editor(
        "edit-description.sh",
        r#"s/"description": "[^"]*"/"description": "edited"/"#,
    );
    ok(
        &[("EDITOR", editor.as_str()), env[0], env[1]],
        &["service", "update", &id],
    );
    let body = service_body(&env, &id);
    assert_eq!(body["description"], "edited", "{body:#}");
    assert_eq!(role_names(&body), ["db", "app", "web"]);

    // update --append with a file.
    let append = site.file("append.json", r#"{"description": "appended"}"#);
    ok(&env, &["service", "update", &id, &append, "--append"]);
    let body = service_body(&env, &id);
    assert_eq!(body["description"], "appended", "{body:#}");
    assert_eq!(body["user_inputs_values"]["DB_PASSWORD"], "change-me");
    assert_eq!(role(&body, "web")["cardinality"], 2);

    ok(&env, &["service", "rename", &id, "newname"]);
    ok(&env, &["service", "chmod", &id, "640"]);
    let show = ok(&env, &["service", "show", &id]);
    assert!(
        show.lines().any(|l| l == "NAME         : newname"),
        "{show}"
    );
    assert!(
        show.lines().any(|l| l == "PERMISSIONS  : um-u-----"),
        "{show}"
    );
    let list = ok(&env, &["service", "list"]);
    assert!(rows(&list, &id)[0].contains(&"newname"), "{list}");
    let doc = json_of(&env, &["service", "show", &id]);
    assert_eq!(doc["DOCUMENT"]["PERMISSIONS"]["GROUP_U"], "1");
    assert_eq!(doc["DOCUMENT"]["PERMISSIONS"]["OTHER_U"], "0");

    // A held role waits for release.
    let held = created_id(&ok(
        &env,
        &["template", "create", &example("templates/on-hold.json")],
    ));
    let out = ok(
        &env,
        &[
            "template",
            "instantiate",
            &held,
            "--wait",
            "--timeout",
            "60",
        ],
    );
    let hid = created_id(&out);
    assert!(
        out.contains(&format!("service {hid} is HOLD")) && out.contains("release"),
        "{out}"
    );
    let show = ok(&env, &["service", "show", &hid]);
    assert!(show.lines().any(|l| l == "STATE        : HOLD"), "{show}");
    assert_eq!(rows(&show, "web")[0][1], "HOLD", "{show}");
    ok(&env, &["service", "release", &hid]);
    let body = wait_service(&env, &hid, "RUNNING after release", |b| b["state"] == 2);
    assert_eq!(role(&body, "web")["nodes"].as_array().unwrap().len(), 2);
    assert!(
        role(&body, "web")["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["vm_info"]["VM"]["STATE"] == "RUNNING")
    );
    // Nothing is held any more.
    let err = fails(&env, &["service", "release", &hid]);
    assert!(err.contains("409"), "{err}");

    ok(&env, &["service", "purge-done"]);
    let list = ok(&env, &["service", "list"]);
    assert_eq!(rows(&list, &id).len(), 1, "{list}");
    assert_eq!(rows(&list, &hid).len(), 1, "{list}");
}
