//! The dashboard's sign-in sessions against the real binary: the cookie's
//! flags, the API taking the cookie in place of Basic credentials, CSRF
//! tokens on every change, throttled sign-ins, sign-out, and sessions
//! that end when their user changes.

use super::{Answer, action, call, prepare, request, start};
use serde_json::{Value, json};

/// The session cookie's `name=value` from a sign-in's head (as sent: the
/// token is case-sensitive).
fn cookie(answer: &Answer) -> String {
    answer
        .raw_head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: ")
                .then(|| l[12..].to_string())
        })
        .and_then(|c| c.split(';').next().map(str::to_string))
        .expect("a session cookie")
}

/// Sign in as `user`: the cookie and the CSRF token.
fn sign_in(port: u16, user: &str, password: &str) -> (String, String) {
    let a = post_sign_in(
        port,
        &[],
        &json!({"username": user, "password": password}).to_string(),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    (cookie(&a), a.body["csrf"].as_str().unwrap().to_string())
}

/// A sign-in request with `headers` (nothing checked).
fn post_sign_in(port: u16, headers: &[(&str, &str)], body: &str) -> Answer {
    request(port, "POST", "/ui/session", None, headers, body).expect("the server answers")
}

fn with_cookie(
    port: u16,
    method: &str,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Value,
) -> Answer {
    let mut headers = vec![("cookie", cookie)];
    if let Some(csrf) = csrf {
        headers.push(("x-csrf-token", csrf));
    }
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    request(port, method, path, None, &headers, &body).expect("the server answers")
}

fn template(name: &str) -> Value {
    json!({"name": name, "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0}]})
}

#[test]
fn the_dashboard_signs_in_with_a_strict_http_only_cookie_that_the_api_takes() {
    let data = tempfile::tempdir().unwrap();
    prepare(data.path(), "");
    let f = start(data.path());
    let port = f.server.api;

    // The pages are served, with a policy that runs no inline script.
    let page = request(port, "GET", "/ui", None, &[], "").unwrap();
    assert_eq!(page.status, 200);
    assert!(page.head.contains("content-type: text/html"));
    assert!(
        page.head
            .contains("content-security-policy: default-src 'self'")
    );
    let script = request(port, "GET", "/ui/app.js", None, &[], "").unwrap();
    assert_eq!(script.status, 200);
    assert!(script.head.contains("content-type: text/javascript"));

    // A wrong password: 401, no cookie.
    let wrong = post_sign_in(port, &[], r#"{"username": "alice", "password": "nope"}"#);
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(!wrong.head.contains("set-cookie"));
    // A missing field is named.
    let missing = post_sign_in(port, &[], r#"{"username": "alice"}"#);
    assert_eq!(missing.status, 400);
    assert!(missing.body.to_string().contains("password: required"));

    let a = post_sign_in(
        port,
        &[],
        r#"{"username": "alice", "password": "alice-pw"}"#,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let set = a
        .head
        .lines()
        .find(|l| l.starts_with("set-cookie: "))
        .expect("a cookie")
        .to_string();
    for flag in ["httponly", "samesite=strict", "path=/"] {
        assert!(set.contains(flag), "{set} lacks {flag}");
    }
    assert!(!set.contains("secure"), "plain HTTP on loopback: {set}");
    assert_eq!(a.body["user"]["name"], "alice");
    assert_eq!(a.body["user"]["admin"], false);
    assert_eq!(a.body["user"]["group"], "users");
    let (cookie, csrf) = (cookie(&a), a.body["csrf"].as_str().unwrap().to_string());

    // The page reads its user back; the API takes the cookie.
    let me = with_cookie(port, "GET", "/ui/session", &cookie, None, Value::Null);
    assert_eq!(me.status, 200);
    assert_eq!(me.body["csrf"], csrf.as_str());
    let list = with_cookie(port, "GET", "/service_template", &cookie, None, Value::Null);
    assert_eq!(list.status, 200, "{}", list.body);

    // A change without the CSRF token is refused and changes nothing; with
    // it, it is made as alice.
    let forged = with_cookie(
        port,
        "POST",
        "/service_template",
        &cookie,
        None,
        template("t"),
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.to_string().contains("X-CSRF-Token"));
    let wrong_token = with_cookie(
        port,
        "POST",
        "/service_template",
        &cookie,
        Some("not-the-token"),
        template("t"),
    );
    assert_eq!(wrong_token.status, 403);
    let (_, templates) = call(&f, "GET", "/service_template", ("alice", "alice-pw"), None);
    assert_eq!(
        templates["DOCUMENT_POOL"]
            .get("DOCUMENT")
            .map_or(0, |d| d.as_array().map_or(1, Vec::len)),
        0,
        "a refused change made nothing: {templates}"
    );
    let made = with_cookie(
        port,
        "POST",
        "/service_template",
        &cookie,
        Some(&csrf),
        template("t"),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.body["DOCUMENT"]["UNAME"], "alice");
    // Permissions are the API's: alice may not create users.
    let user = with_cookie(
        port,
        "POST",
        "/user",
        &cookie,
        Some(&csrf),
        json!({"user": {"name": "mallory", "password": "x"}}),
    );
    assert_eq!(user.status, 403, "{}", user.body);

    // Another site cannot even sign in (the cross-site check covers the
    // sign-in too).
    let cross = post_sign_in(
        port,
        &[("origin", "http://evil.example")],
        r#"{"username": "alice", "password": "alice-pw"}"#,
    );
    assert_eq!(cross.status, 403);

    // Sign-out needs the token too, then the cookie no longer works.
    let out = with_cookie(port, "DELETE", "/ui/session", &cookie, None, Value::Null);
    assert_eq!(out.status, 403);
    let out = with_cookie(
        port,
        "DELETE",
        "/ui/session",
        &cookie,
        Some(&csrf),
        Value::Null,
    );
    assert_eq!(out.status, 204);
    assert!(out.head.contains("max-age=0"));
    let after = with_cookie(port, "GET", "/service_template", &cookie, None, Value::Null);
    assert_eq!(after.status, 401, "{}", after.body);
    // No Basic challenge to the page (a browser would prompt for a
    // password over it); Basic clients still get theirs.
    assert!(!after.head.contains("www-authenticate"), "{}", after.head);
    assert!(!wrong.head.contains("www-authenticate"), "{}", wrong.head);
    let basic = request(port, "GET", "/service", Some(("alice", "nope")), &[], "").unwrap();
    assert_eq!(basic.status, 401);
    assert!(
        basic.head.contains("www-authenticate: basic"),
        "{}",
        basic.head
    );

    // Behind a TLS proxy the cookie is Secure.
    let tls = post_sign_in(
        port,
        &[("x-forwarded-proto", "https")],
        r#"{"username": "alice", "password": "alice-pw"}"#,
    );
    assert!(
        tls.head
            .lines()
            .any(|l| l.starts_with("set-cookie: ") && l.contains("; secure")),
        "{}",
        tls.head
    );
}

#[test]
fn a_session_ends_when_its_password_changes_or_its_user_is_deleted_and_follows_a_new_group() {
    let data = tempfile::tempdir().unwrap();
    let admin = prepare(data.path(), "");
    let f = start(data.path());
    let port = f.server.api;
    let oneadmin = ("oneadmin", admin.as_str());

    let (alice, _) = sign_in(port, "alice", "alice-pw");
    let (bob, _) = sign_in(port, "bob", "bob-pw");
    let id = |name: &str| -> u64 {
        let (_, users) = call(&f, "GET", "/user", oneadmin, None);
        users["USER_POOL"]["USER"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["NAME"] == name)
            .unwrap()["ID"]
            .as_str()
            .map_or_else(|| 0, |s| s.parse().unwrap())
    };
    let (alice_id, bob_id) = (id("alice"), id("bob"));

    // alice moves to the oneadmin group: her session sees it at once.
    let (status, body) = call(
        &f,
        "POST",
        &format!("/user/{alice_id}/action"),
        oneadmin,
        Some(action("chgrp", json!({"group_id": 0}))),
    );
    assert_eq!(status, 204, "{body}");
    let me = with_cookie(port, "GET", "/ui/session", &alice, None, Value::Null);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["user"]["admin"], true);

    // bob's password changes: his session ends.
    let (status, body) = call(
        &f,
        "POST",
        &format!("/user/{bob_id}/action"),
        oneadmin,
        Some(action("passwd", json!({"password": "bob-new"}))),
    );
    assert_eq!(status, 204, "{body}");
    let gone = with_cookie(port, "GET", "/service", &bob, None, Value::Null);
    assert_eq!(gone.status, 401, "{}", gone.body);
    let (bob, _) = sign_in(port, "bob", "bob-new");
    assert_eq!(
        with_cookie(port, "GET", "/service", &bob, None, Value::Null).status,
        200
    );

    // bob is deleted: his new session ends too.
    let (status, body) = call(&f, "DELETE", &format!("/user/{bob_id}"), oneadmin, None);
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        with_cookie(port, "GET", "/service", &bob, None, Value::Null).status,
        401
    );
}

#[test]
fn dashboard_sign_ins_are_throttled_like_basic_credentials() {
    let data = tempfile::tempdir().unwrap();
    prepare(data.path(), "[server]\nfailed_logins_per_minute = 3\n");
    let f = start(data.path());
    let port = f.server.api;
    let try_sign_in = |password: &str| {
        post_sign_in(
            port,
            &[],
            &json!({"username": "alice", "password": password}).to_string(),
        )
    };
    for _ in 0..3 {
        assert_eq!(try_sign_in("wrong").status, 401);
    }
    // Past the limit even the right password waits out the minute, and
    // Basic credentials for the name are throttled alike.
    let refused = try_sign_in("alice-pw");
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.head.contains("retry-after"));
    let basic = request(port, "GET", "/service", Some(("alice", "wrong")), &[], "").unwrap();
    assert_eq!(basic.status, 429);
    // Other users are not held up.
    sign_in(port, "bob", "bob-pw");
}
