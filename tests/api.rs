//! The REST API of the real `flotilla` binary on loopback: OneFlow's routes
//! and shapes, HTTP Basic authentication, permissions between users, and
//! errors with the right status and a JSON body naming the problem.

mod common;

use common::{Server, http};
use flotilla::access::users;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// The server, spoken to as an API client.
struct Api(Server);

impl Api {
    /// One request's status.
    fn status(
        &self,
        method: &str,
        path: &str,
        auth: Option<(&str, &str)>,
        body: Option<&str>,
    ) -> u16 {
        self.call(method, path, auth, body).0
    }

    /// One request; returns the status and the JSON body (Null if none).
    fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<(&str, &str)>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let headers: Vec<(&str, String)> = auth
            .map(|(u, p)| ("authorization", common::basic(u, p)))
            .into_iter()
            .collect();
        let (status, payload) = http(self.0.api, method, path, &headers, body.unwrap_or(""))
            .expect("the server answers");
        (
            status,
            serde_json::from_str(&payload).unwrap_or(Value::Null),
        )
    }
}

/// The methods a route answers, from the `Allow` header of the 405 that
/// `TRACE`, a method no route takes, gets (`HEAD` left out: it comes with
/// `GET`).
fn allowed_methods(port: u16, path: &str) -> Vec<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "TRACE {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 405"), "{path}: {answer}");
    let allow = answer
        .lines()
        .find_map(|line| line.strip_prefix("allow: "))
        .unwrap_or_else(|| panic!("{path}: no Allow in {answer}"));
    allow
        .split(',')
        .map(|m| m.trim().to_string())
        .filter(|m| m != "HEAD")
        .collect()
}

/// Start the server and wait (bounded) until it answers.
fn start(data: &Path) -> Api {
    let server = Server::start(data);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if http(server.api, "GET", "/health", &[], "").is_some_and(|(status, _)| status == 200) {
            return Api(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server did not start");
}

fn template() -> String {
    json!({
        "name": "web-app",
        "deployment": "straight",
        "roles": [
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0},
            {"name": "web", "type": "vm", "cardinality": 2, "template_id": 0, "parents": ["db"], "min_vms": 1, "max_vms": 3}
        ]
    })
    .to_string()
}

#[test]
fn oneflow_routes_with_users_permissions_and_errors() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("flotilla.toml"),
        "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n",
    )
    .unwrap();
    let admin_password = {
        let store = flotilla::store::SqliteStore::open(&data.path().join("flotilla.db"))
            .unwrap()
            .boxed();
        users::bootstrap(&*store, data.path()).unwrap();
        store
            .create_vm_template(
                "small",
                Default::default(),
                json!({"CPU": "1"}).as_object().unwrap().clone(),
            )
            .unwrap();
        users::create_user(&*store, "alice", "alice-pw", users::USERS_GROUP).unwrap();
        let team = users::create_group(&*store, "team").unwrap();
        users::create_user(&*store, "bob", "bob-pw", team).unwrap();
        let auth = std::fs::read_to_string(data.path().join("one_auth")).unwrap();
        auth.trim().split_once(':').unwrap().1.to_string()
    };
    let server = start(data.path());
    let admin = Some(("oneadmin", admin_password.as_str()));
    let alice = Some(("alice", "alice-pw"));
    let bob = Some(("bob", "bob-pw"));

    // Authentication.
    let (status, body) = server.call("GET", "/service", None, None);
    assert_eq!(status, 401);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("username and password")
    );
    assert_eq!(
        server.status("GET", "/service", Some(("alice", "nope")), None),
        401
    );

    // Templates: create, with OneFlow's document shape.
    let (status, created) = server.call("POST", "/service_template", admin, Some(&template()));
    assert_eq!(status, 201, "{created}");
    let doc = &created["DOCUMENT"];
    assert_eq!(
        (
            doc["ID"].as_str(),
            doc["TYPE"].as_str(),
            doc["UNAME"].as_str()
        ),
        (Some("0"), Some("101"), Some("oneadmin"))
    );
    assert_eq!(doc["PERMISSIONS"]["OWNER_U"], "1");
    assert_eq!(
        doc["TEMPLATE"]["BODY"]["roles"][1]["max_vms"], 3,
        "typed values inside BODY"
    );

    // Malformed JSON and schema errors: 400 naming the problem, nothing created.
    let (status, err) = server.call("POST", "/service_template", admin, Some("{not json"));
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().starts_with("request body"),
        "{err}"
    );
    let (status, err) = server.call("POST", "/service_template", admin, Some(r#"{"name": "x", "roles": [{"name": "a", "type": "vm", "template_id": 0, "parents": ["ghost"]}]}"#));
    assert_eq!(status, 400);
    assert_eq!(err["fields"][0]["field"], "roles[0].parents[0]", "{err}");
    let (_, pool) = server.call("GET", "/service_template", admin, None);
    assert_eq!(
        pool["DOCUMENT_POOL"]["DOCUMENT"].as_array().unwrap().len(),
        1
    );

    // Alice sees nothing of oneadmin's until the group/other bits allow it.
    let (_, pool) = server.call("GET", "/service_template", alice, None);
    assert_eq!(pool, json!({"DOCUMENT_POOL": {}}));
    assert_eq!(
        server.status("GET", "/service_template/0", alice, None),
        403
    );
    let chmod = r#"{"action": {"perform": "chmod", "params": {"octet": "604"}}}"#;
    assert_eq!(
        server.status("POST", "/service_template/0/action", admin, Some(chmod)),
        204
    );
    let (_, pool) = server.call("GET", "/service_template", alice, None);
    assert_eq!(
        pool["DOCUMENT_POOL"]["DOCUMENT"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        server.status("DELETE", "/service_template/0", alice, None),
        403,
        "use, not manage"
    );

    // Instantiating needs `use` on the VM templates too.
    assert_eq!(
        server.status("POST", "/vm_template/0/action", admin, Some(chmod)),
        204
    );

    // Alice instantiates; the service is hers.
    let instantiate = r#"{"action": {"perform": "instantiate", "params": {"merge_template": {"name": "alice-app"}}}}"#;
    let (status, service) = server.call(
        "POST",
        "/service_template/0/action",
        alice,
        Some(instantiate),
    );
    assert_eq!(status, 201, "{service}");
    let sid = service["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    assert_eq!(service["DOCUMENT"]["TYPE"], "100");
    assert_eq!(service["DOCUMENT"]["UNAME"], "alice");
    assert_eq!(service["DOCUMENT"]["NAME"], "alice-app");

    // Bob, in another group, cannot see or touch it.
    assert_eq!(
        server.status("GET", &format!("/service/{sid}"), bob, None),
        403
    );
    assert_eq!(
        server.call("GET", "/service", bob, None).1,
        json!({"DOCUMENT_POOL": {}})
    );
    assert_eq!(
        server.status("DELETE", &format!("/service/{sid}"), bob, None),
        403
    );

    // It reaches RUNNING (bounded wait).
    let started = Instant::now();
    let body = loop {
        let (_, doc) = server.call("GET", &format!("/service/{sid}"), alice, None);
        let body = doc["DOCUMENT"]["TEMPLATE"]["BODY"].clone();
        if body["state"] == 2 || started.elapsed() > Duration::from_secs(30) {
            break body;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(body["state"], 2, "{body}");
    assert_eq!(body["roles"][1]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["roles"][1]["nodes"][0]["vm_info"]["VM"]["NAME"],
        format!("web_0_(service_{sid})")
    );
    assert!(
        body["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"] == "New state: RUNNING")
    );

    // Errors: unknown role 404, outside bounds 400, wrong state 409.
    let scale = |role: &str, n: u32| {
        format!(r#"{{"role_name": "{role}", "cardinality": {n}, "force": false}}"#)
    };
    assert_eq!(
        server.status(
            "POST",
            &format!("/service/{sid}/scale"),
            alice,
            Some(&scale("nope", 2))
        ),
        404
    );
    let (status, err) = server.call(
        "POST",
        &format!("/service/{sid}/scale"),
        alice,
        Some(&scale("web", 9)),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().contains("above max_vms (3)"),
        "{err}"
    );
    let release = r#"{"action": {"perform": "release"}}"#;
    assert_eq!(
        server.status(
            "POST",
            &format!("/service/{sid}/action"),
            alice,
            Some(release)
        ),
        409
    );
    assert_eq!(server.status("GET", "/service/999", alice, None), 404);

    // VM templates: alice's is hers; bob may not build a service on it.
    let (status, vmt) = server.call(
        "POST",
        "/vm_template",
        alice,
        Some(r#"{"name": "alice-small", "template": {"CPU": "2", "MEMORY": "1024"}}"#),
    );
    assert_eq!(status, 201, "{vmt}");
    let vmt_id = vmt["VMTEMPLATE"]["ID"].as_str().unwrap().to_string();
    assert_eq!(vmt["VMTEMPLATE"]["TEMPLATE"]["MEMORY"], "1024");
    let (status, err) = server.call(
        "POST",
        "/vm_template",
        alice,
        Some(r#"{"name": "x", "template": {"NIC": {"NETWORK_ID": "0"}}}"#),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().starts_with("template.NIC"),
        "{err}"
    );
    assert_eq!(
        server.status("GET", &format!("/vm_template/{vmt_id}"), bob, None),
        403
    );
    let bobs = json!({"name": "bobs", "roles": [{"name": "r", "type": "vm", "cardinality": 1, "template_id": vmt_id.parse::<u64>().unwrap()}]});
    let (status, bob_tpl) = server.call("POST", "/service_template", bob, Some(&bobs.to_string()));
    assert_eq!(status, 201);
    let bob_tpl = bob_tpl["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let (status, err) = server.call(
        "POST",
        &format!("/service_template/{bob_tpl}/action"),
        bob,
        Some(r#"{"action": {"perform": "instantiate"}}"#),
    );
    assert_eq!(status, 403, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("roles[0].template_id"),
        "{err}"
    );

    // Users and groups: oneadmin creates them, others may not.
    let (status, group) = server.call("POST", "/group", admin, Some(r#"{"name": "ops"}"#));
    assert_eq!(status, 201, "{group}");
    let gid = group["GROUP"]["ID"].as_str().unwrap().to_string();
    let new_user = format!(r#"{{"name": "carol", "password": "carol-pw", "group_id": {gid}}}"#);
    assert_eq!(server.status("POST", "/user", admin, Some(&new_user)), 201);
    assert_eq!(
        server.status("POST", "/user", admin, Some(&new_user)),
        409,
        "the name is taken"
    );
    assert_eq!(
        server.status(
            "POST",
            "/user",
            alice,
            Some(r#"{"name": "eve", "password": "x"}"#)
        ),
        403
    );
    assert_eq!(
        server.status("GET", "/service", Some(("carol", "carol-pw")), None),
        200
    );
    let (_, me) = server.call("GET", "/user", alice, None);
    assert_eq!(
        me["USER_POOL"]["USER"].as_array().unwrap().len(),
        1,
        "alice sees only herself"
    );

    // Delete: 204, then the service goes away.
    assert_eq!(
        server.status("DELETE", &format!("/service/{sid}"), alice, None),
        204
    );
    let started = Instant::now();
    let status = loop {
        let status = server.status("GET", &format!("/service/{sid}"), alice, None);
        if status == 404 || started.elapsed() > Duration::from_secs(30) {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 404);
}

/// Poll a service (bounded) until its state is `state`; returns its body.
fn wait_state(server: &Api, id: &str, auth: Option<(&str, &str)>, state: u64) -> Value {
    let started = Instant::now();
    loop {
        let (_, doc) = server.call("GET", &format!("/service/{id}"), auth, None);
        let body = doc["DOCUMENT"]["TEMPLATE"]["BODY"].clone();
        if body["state"] == state || started.elapsed() > Duration::from_secs(30) {
            assert_eq!(body["state"], state, "{body}");
            return body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn action(perform: &str, params: Value) -> String {
    json!({"action": {"perform": perform, "params": params}}).to_string()
}

#[test]
fn images_template_actions_service_updates_sched_actions_accounts_and_metrics() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("flotilla.toml"),
        "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n",
    )
    .unwrap();
    let (admin_password, alice_id, carol_id, bob_id) = {
        let store = flotilla::store::SqliteStore::open(&data.path().join("flotilla.db"))
            .unwrap()
            .boxed();
        users::bootstrap(&*store, data.path()).unwrap();
        let alice = users::create_user(&*store, "alice", "alice-pw", users::USERS_GROUP).unwrap();
        let carol = users::create_user(&*store, "carol", "carol-pw", users::USERS_GROUP).unwrap();
        let team = users::create_group(&*store, "team").unwrap();
        let bob = users::create_user(&*store, "bob", "bob-pw", team).unwrap();
        let auth = std::fs::read_to_string(data.path().join("one_auth")).unwrap();
        (
            auth.trim().split_once(':').unwrap().1.to_string(),
            alice,
            carol,
            bob,
        )
    };
    let server = start(data.path());
    let admin = Some(("oneadmin", admin_password.as_str()));
    let alice = Some(("alice", "alice-pw"));
    let carol = Some(("carol", "carol-pw"));
    let bob = Some(("bob", "bob-pw"));

    // Open routes: health, metrics, the OpenAPI document; the rest need a user.
    assert_eq!(server.status("GET", "/plugins", None, None), 401);
    let (status, openapi) = server.call("GET", "/openapi.json", None, None);
    assert_eq!(status, 200);
    // The document describes exactly the routes served: the paths of the
    // router's route table, each with the methods it answers.
    let documented: BTreeSet<(String, String)> = openapi["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .filter(|key| ["get", "put", "post", "delete", "patch"].contains(&key.as_str()))
                .map(|method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = flotilla::api::routes()
        .into_iter()
        .flat_map(|(path, _)| {
            let concrete = path
                .replace("{id}", "0")
                .replace("{role}", "web")
                .replace("{sched_id}", "0");
            allowed_methods(server.0.api, &concrete)
                .into_iter()
                .map(move |method| (method, path.to_string()))
        })
        .collect();
    assert_eq!(served, documented);

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
    let body = wait_state(&server, &sid, carol, 2);

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

    // Metrics: services and roles per state, requests per route.
    let (status, metrics) = http(server.0.api, "GET", "/metrics", &[], "").unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("flotilla_services{state=\"RUNNING\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("flotilla_roles{state=\"RUNNING\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("flotilla_plugin_calls_total{plugin=\"sim\",kind=\"driver\"}"));
    assert!(metrics.contains(
        "flotilla_http_requests_total{method=\"DELETE\",route=\"/user/{id}\",status=\"204\"} 1"
    ));
    assert!(metrics.contains("flotilla_http_request_duration_seconds_bucket{method=\"GET\",route=\"/service/{id}\",le=\"+Inf\"}"));

    // purge_done is oneadmin's.
    assert_eq!(
        server.status("POST", "/service_pool/purge_done", alice, Some("{}")),
        403
    );
    assert_eq!(
        server.status("POST", "/service_pool/purge_done", admin, None),
        204
    );
}

#[test]
fn rights_reach_through_to_vm_templates_and_images_and_errors_are_always_json() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("flotilla.toml"),
        "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n",
    )
    .unwrap();
    let admin_password = {
        let store = flotilla::store::SqliteStore::open(&data.path().join("flotilla.db"))
            .unwrap()
            .boxed();
        users::bootstrap(&*store, data.path()).unwrap();
        users::create_user(&*store, "alice", "alice-pw", users::USERS_GROUP).unwrap();
        let auth = std::fs::read_to_string(data.path().join("one_auth")).unwrap();
        auth.trim().split_once(':').unwrap().1.to_string()
    };
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
    wait_state(&server, &sid, alice, 2);

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

#[test]
fn without_its_driver_the_server_still_signs_users_in_and_says_why() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("flotilla.toml"),
        "[engine]\ndriver = \"missing\"\n",
    )
    .unwrap();
    let admin_password = {
        let store = flotilla::store::SqliteStore::open(&data.path().join("flotilla.db"))
            .unwrap()
            .boxed();
        users::bootstrap(&*store, data.path()).unwrap();
        let auth = std::fs::read_to_string(data.path().join("one_auth")).unwrap();
        auth.trim().split_once(':').unwrap().1.to_string()
    };
    let server = start(data.path());
    let admin = Some(("oneadmin", admin_password.as_str()));
    let (status, plugins) = server.call("GET", "/plugins", admin, None);
    assert_eq!(status, 200, "{plugins}");
    assert!(
        plugins["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "sim")
    );
    assert_eq!(
        server.status("GET", "/plugins", Some(("oneadmin", "x")), None),
        401
    );
    let (status, err) = server.call("GET", "/service", admin, None);
    assert_eq!(status, 503);
    assert!(err["error"].as_str().unwrap().contains("driver"), "{err}");
}

#[test]
fn a_shown_service_follows_every_change_to_it() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("flotilla.toml"),
        "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n",
    )
    .unwrap();
    let admin_password = {
        let store = flotilla::store::SqliteStore::open(&data.path().join("flotilla.db"))
            .unwrap()
            .boxed();
        users::bootstrap(&*store, data.path()).unwrap();
        store
            .create_vm_template(
                "small",
                Default::default(),
                json!({"CPU": "1"}).as_object().unwrap().clone(),
            )
            .unwrap();
        let auth = std::fs::read_to_string(data.path().join("one_auth")).unwrap();
        auth.trim().split_once(':').unwrap().1.to_string()
    };
    let server = start(data.path());
    let admin = Some(("oneadmin", admin_password.as_str()));
    assert_eq!(
        server.status("POST", "/service_template", admin, Some(&template())),
        201
    );
    let (status, doc) = server.call(
        "POST",
        "/service_template/0/action",
        admin,
        Some(&action("instantiate", json!({}))),
    );
    assert_eq!(status, 201, "{doc}");
    let id = doc["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let path = format!("/service/{id}");

    // Shown while it deploys, then again as it runs: the same document is
    // not served across a change of state.
    let (_, shown) = server.call("GET", &path, admin, None);
    assert_eq!(shown["DOCUMENT"]["NAME"], "web-app");
    let body = wait_state(&server, &id, admin, 2);
    assert_eq!(body["roles"][1]["nodes"].as_array().unwrap().len(), 2);

    let (_, before) = server.call("GET", &path, admin, None);
    let rename = action("rename", json!({"name": "web-app-2"}));
    assert_eq!(
        server.status("POST", &format!("{path}/action"), admin, Some(&rename)),
        204
    );
    let (_, after) = server.call("GET", &path, admin, None);
    assert_eq!(after["DOCUMENT"]["NAME"], "web-app-2");
    assert_eq!(before["DOCUMENT"]["NAME"], "web-app");

    let chmod = action("chmod", json!({"octet": "644"}));
    assert_eq!(
        server.status("POST", &format!("{path}/action"), admin, Some(&chmod)),
        204
    );
    let (_, after) = server.call("GET", &path, admin, None);
    assert_eq!(after["DOCUMENT"]["PERMISSIONS"]["OTHER_U"], "1", "{after}");

    assert_eq!(server.status("DELETE", &path, admin, None), 204);
    let started = Instant::now();
    while server.status("GET", &path, admin, None) != 404 {
        assert!(started.elapsed() < Duration::from_secs(30), "never deleted");
        std::thread::sleep(Duration::from_millis(50));
    }
}
