//! Users, groups and credentials through the CLI, from every source the
//! CLI reads them from.

use crate::{Env, Site, created_id, describe, fails, flotilla_with_stdin, json_of, ok, rows};

/// One account change with the CLI; returns the id it printed, if any.
fn change(env: Env, cli: &[&str]) -> Option<String> {
    ok(env, cli)
        .lines()
        .find_map(|l| l.strip_prefix("ID: "))
        .map(|id| id.trim().to_string())
}

#[test]
fn user_group_and_chown_commands_manage_accounts() {
    accounts();
}

/// Users, groups and credentials, all through the CLI.
fn accounts() {
    let site = Site::start();
    let admin = site.admin();
    let url = site.url.as_str();
    site.fast_vm_templates();

    let team = created_id(&ok(&admin, &["group", "create", "team"]));
    let alice_id = change(
        &admin,
        &["user", "create", "alice", "pw", "--group", "team"],
    )
    .expect("alice's id");
    let bob_id = change(&admin, &["user", "create", "bob", "pw"]).expect("bob's id");
    assert_ne!(alice_id, bob_id);
    let users = ok(&admin, &["user", "list"]);
    let user_row = |users: &str, name: &str| -> Vec<String> {
        users
            .lines()
            .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
            .find(|cells| cells.get(1).map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no user {name} in {users}"))
    };
    assert_eq!(user_row(&users, "oneadmin")[2], "oneadmin", "{users}");
    assert_eq!(
        user_row(&users, "alice"),
        [alice_id.as_str(), "alice", "team"],
        "{users}"
    );
    assert_eq!(
        user_row(&users, "bob"),
        [bob_id.as_str(), "bob", "users"],
        "{users}"
    );
    let groups = ok(&admin, &["group", "list"]);
    assert_eq!(
        rows(&groups, &team),
        [vec![team.as_str(), "team"]],
        "{groups}"
    );
    assert!(groups.lines().any(|l| l.ends_with("oneadmin")), "{groups}");

    // oneadmin's template and service.
    let template = site.file(
        "solo.json",
        r#"{"name": "solo", "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0}]}"#,
    );
    let tid = created_id(&ok(&admin, &["template", "create", &template]));
    let sid = created_id(&ok(
        &admin,
        &["template", "instantiate", &tid, "--name", "admins-service"],
    ));
    let list = ok(&admin, &["service", "list"]);
    assert!(rows(&list, &sid)[0].contains(&"admins-service"), "{list}");

    // alice from FLOTILLA_AUTH sees none of it.
    let alice = [("FLOTILLA_URL", url), ("FLOTILLA_AUTH", "alice:pw")];
    let list = ok(&alice, &["service", "list"]);
    assert!(!list.contains("admins-service"), "{list}");
    assert!(rows(&list, &sid).is_empty(), "{list}");
    let pool = json_of(&alice, &["service", "list"]);
    assert!(pool["DOCUMENT_POOL"].get("DOCUMENT").is_none(), "{pool:#}");
    let templates = ok(&alice, &["template", "list"]);
    assert!(!templates.contains("solo"), "{templates}");
    let me = ok(&alice, &["user", "list"]);
    assert_eq!(user_row(&me, "alice")[2], "team", "{me}");
    assert!(!me.contains("bob") && !me.contains("oneadmin"), "{me}");
    let me = ok(&alice, &["user", "show", "alice"]);
    assert!(me.lines().any(|l| l == "NAME         : alice"), "{me}");
    assert!(me.contains("team"), "{me}");

    // alice from ONEFLOW_USER / ONEFLOW_PASSWORD, with no one_auth around.
    let empty = tempfile::tempdir().unwrap();
    let oneflow = [
        ("FLOTILLA_URL", url),
        ("FLOTILLA_DATA_DIR", empty.path().to_str().unwrap()),
        ("ONEFLOW_USER", "alice"),
        ("ONEFLOW_PASSWORD", "pw"),
    ];
    let list = ok(&oneflow, &["service", "list"]);
    assert!(!list.contains("admins-service"), "{list}");
    let me = ok(&oneflow, &["user", "list"]);
    assert_eq!(user_row(&me, "alice")[2], "team", "{me}");

    // alice changes her password: the old one is refused, saying whose
    // credentials from where.
    // The new password from stdin (`-`), kept out of the shell's history.
    let args = ["user", "passwd", "alice", "-"];
    let out = flotilla_with_stdin(&alice, &args, "pw2\n");
    assert!(out.status.success(), "{}", describe(&args, &out));
    let err = fails(&alice, &["service", "list"]);
    assert!(err.contains("401"), "{err}");
    assert!(
        err.contains("`alice`") && err.contains("FLOTILLA_AUTH"),
        "{err}"
    );
    let err = fails(&oneflow, &["service", "list"]);
    assert!(
        err.contains("401") && err.contains("ONEFLOW_USER/ONEFLOW_PASSWORD"),
        "{err}"
    );
    let alice = [("FLOTILLA_URL", url), ("FLOTILLA_AUTH", "alice:pw2")];
    ok(&alice, &["service", "list"]);

    // Given to alice, the template is hers to see.
    change(&admin, &["template", "chown", &tid, "alice"]);
    let templates = ok(&alice, &["template", "list"]);
    let row = rows(&templates, &tid);
    assert_eq!(row.len(), 1, "{templates}");
    assert!(
        row[0].contains(&"solo") && row[0].contains(&"alice"),
        "{templates}"
    );
    let show = ok(&alice, &["template", "show", &tid]);
    assert!(show.lines().any(|l| l == "USER         : alice"), "{show}");

    change(&admin, &["user", "chgrp", "bob", "team"]);
    let users = ok(&admin, &["user", "list"]);
    assert_eq!(user_row(&users, "bob")[2], "team", "{users}");

    let err = fails(&admin, &["group", "delete", "team"]);
    assert!(err.contains("409"), "{err}");
    assert!(err.contains("has 2 user(s)"), "{err}");
    let groups = ok(&admin, &["group", "list"]);
    assert_eq!(rows(&groups, &team).len(), 1, "{groups}");

    change(&admin, &["user", "delete", "bob"]);
    let users = ok(&admin, &["user", "list"]);
    assert!(!users.contains("bob"), "{users}");
    let err = fails(
        &[("FLOTILLA_URL", url), ("FLOTILLA_AUTH", "bob:pw")],
        &["service", "list"],
    );
    assert!(err.contains("401"), "{err}");

    // Wrong flags, and no server.
    let err = fails(
        &[("FLOTILLA_URL", url)],
        &["--user", "x", "--password", "y", "service", "list"],
    );
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("--user/--password"), "{err}");
    let err = fails(&admin, &["--url", "http://127.0.0.1:1", "service", "list"]);
    assert!(err.contains("cannot reach the Flotilla API"), "{err}");
    assert!(err.contains("http://127.0.0.1:1"), "{err}");
    assert!(err.contains("flotilla serve"), "{err}");
}
