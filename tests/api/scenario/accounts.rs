//! Users: passwords, groups, deletion.

use super::{BOB, CAROL, Scenario};
use crate::action;
use serde_json::json;

/// Changes alice's password: later phases sign her in with the new one.
pub(super) fn users(cx: &mut Scenario) {
    let server = &cx.server;
    let admin = Some(("oneadmin", cx.admin_password.as_str()));
    let alice = Some(("alice", cx.alice_password.as_str()));
    let (carol, bob) = (CAROL, BOB);
    let (alice_id, carol_id, bob_id) = (cx.alice_id, cx.carol_id, cx.bob_id);

    // Users: passwords, groups, deletion; ids are never reused.
    let passwd = |p: &str| action("passwd", json!({"password": p}));
    assert_eq!(
        server.status(
            "POST",
            &format!("/user/{bob_id}/action"),
            alice,
            Some(&passwd("x"))
        ),
        403
    );
    assert_eq!(
        server.status(
            "POST",
            &format!("/user/{alice_id}/action"),
            alice,
            Some(&passwd("new-pw"))
        ),
        204
    );
    assert_eq!(
        server.status("GET", "/service", alice, None),
        401,
        "the old password is gone"
    );
    let alice = Some(("alice", "new-pw"));
    // The later phases sign alice in with her new password.
    cx.alice_password = "new-pw".to_string();
    assert_eq!(server.status("GET", "/service", alice, None), 200);
    let (_, team) = server.call("GET", "/group", admin, None);
    let team_id = team["GROUP_POOL"]["GROUP"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["NAME"] == "team")
        .unwrap()["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let chgrp = action("chgrp", json!({"group_id": team_id}));
    assert_eq!(
        server.status(
            "POST",
            &format!("/user/{carol_id}/action"),
            admin,
            Some(&chgrp)
        ),
        204
    );
    let (_, me) = server.call("GET", &format!("/user/{carol_id}"), carol, None);
    assert_eq!(me["USER"]["GNAME"], "team");
    assert_eq!(
        server.status("GET", &format!("/user/{bob_id}"), carol, None),
        403
    );
    assert_eq!(
        server.status("DELETE", &format!("/group/{team_id}"), admin, None),
        409
    );
    assert_eq!(server.status("DELETE", "/user/0", admin, None), 409);
    assert_eq!(
        server.status("DELETE", &format!("/user/{bob_id}"), alice, None),
        403
    );
    assert_eq!(
        server.status("DELETE", &format!("/user/{bob_id}"), admin, None),
        204
    );
    assert_eq!(server.status("GET", "/service", bob, None), 401);
    let (status, dave) = server.call(
        "POST",
        "/user",
        admin,
        Some(r#"{"name": "dave", "password": "d"}"#),
    );
    assert_eq!(status, 201);
    assert_ne!(
        dave["USER"]["ID"],
        bob_id.to_string(),
        "a new user does not inherit bob's id"
    );
}
