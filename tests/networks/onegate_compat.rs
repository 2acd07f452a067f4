//! OneGate as OpenNebula's own `onegate` client speaks to it: form
//! bodies with a literal `\n` between attributes, a cardinality sent as a
//! string, VM actions on siblings, networks read by virtual routers, and
//! `extended`; and OneGate's guards: a token checked before any body is
//! read, its connection cap a setting, on by default, a reload that says
//! when a OneGate change takes a restart, and a warning at instantiate
//! when a ready-gated service's VMs cannot reach it.

use super::*;
use std::io::{Read, Write};
use std::net::TcpStream;

/// One raw request on a new connection: the status and the body.
fn raw(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no answer to {request:?}: {out:?}"));
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A request as Ruby's Net::HTTP sends it for the `onegate` client: the
/// token and VMID headers, a form body.
fn ruby(port: u16, method: &str, path: &str, token: &str, vm: &str, form: &str) -> (u16, String) {
    raw(
        port,
        &format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\
             user-agent: OpenNebula 6.10 (Ruby)\r\nx-onegate-token: {token}\r\nx-onegate-vmid: {vm}\r\n\
             content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{form}",
            form.len()
        ),
    )
}

/// A one-role service of `n` VMs, RUNNING; its id, VM ids and their tokens.
fn running(f: &Flotilla, name: &str, n: u32) -> (u64, Vec<(String, String)>) {
    let id = f.deploy(json!({"name": name, "roles": [{"name": "web", "type": "vm",
        "cardinality": n, "template_id": 0, "min_vms": 1, "max_vms": 4}]}));
    let _ = f.wait_state(id, 2);
    let vms = role_vms(f, id, "web")
        .into_iter()
        .map(|vm| {
            let token = token_of(f, &vm);
            (vm, token)
        })
        .collect();
    (id, vms)
}

#[test]
fn a_literal_backslash_n_separates_attributes_as_onegate_reads_it() {
    let (f, port) = with_onegate("");
    let (_, vms) = running(&f, "escaped", 1);
    let (vm, token) = &vms[0];
    // `onegate vm update --data "A=1\nB=2"`: the shell leaves `\n` as two
    // characters; the client sends them form-encoded.
    let (status, text) = ruby(port, "PUT", "/vm", token, vm, "data=A%3D1%5CnB%3D2&type=1");
    assert_eq!(status, 200, "{text}");
    // The same in a plain body.
    let (status, text) = onegate(port, "PUT", "/vm", Some(token), "C=3\\nD=4");
    assert_eq!(status, 200, "{text}");
    let (_, text) = onegate(port, "GET", "/vm", Some(token), "");
    let me: Value = serde_json::from_str(&text).unwrap();
    let user = &me["VM"]["USER_TEMPLATE"];
    assert_eq!(
        (&user["A"], &user["B"], &user["C"], &user["D"]),
        (&json!("1"), &json!("2"), &json!("3"), &json!("4")),
        "{user}"
    );
}

#[test]
fn a_cardinality_sent_as_a_string_scales_and_a_word_is_refused() {
    let (f, port) = with_onegate("");
    let (id, vms) = running(&f, "stringly", 1);
    let (_, token) = &vms[0];
    // `onegate service scale --role web --cardinality 2` sends a string.
    let (status, text) = onegate(
        port,
        "PUT",
        "/service/role/web",
        Some(token),
        "{\"cardinality\": \"2\"}",
    );
    assert_eq!(status, 200, "{text}");
    let _ = f.wait_body(id, "scaled to 2", 60, |b| {
        b["state"] == 2
            && b["roles"][0]["nodes"]
                .as_array()
                .is_some_and(|n| n.len() == 2)
    });
    let (status, text) = onegate(
        port,
        "PUT",
        "/service/role/web",
        Some(token),
        "{\"cardinality\": \"two\"}",
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("cardinality"), "{text}");
    assert_eq!(f.service(id).unwrap()["roles"][0]["cardinality"], 2);
}

#[test]
fn a_vm_acts_on_a_sibling_through_the_engine_as_onegate_allows() {
    let (f, port) = with_onegate("");
    let (id, vms) = running(&f, "acting", 2);
    let (other, _) = running(&f, "elsewhere", 1);
    let stranger = role_vms(&f, other, "web")[0].clone();
    let ((me, token), (sibling, _)) = (&vms[0], &vms[1]);
    let act = |vm: &str, body: &str| {
        let (status, text) = raw(
            port,
            &format!(
                "POST /vms/{vm}/action HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\
                 x-onegate-token: {token}\r\nx-onegate-vmid: {me}\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
        (status, text)
    };
    // `onegate vm poweroff ID --hard`, as the client sends it.
    let (status, text) = act(
        sibling,
        r#"{"action": {"perform": "poweroff", "params": true}}"#,
    );
    assert_eq!(status, 204, "{text}");
    let off = wait_for(Duration::from_secs(30), || {
        (sim_vm(&f, sibling)["state"] == "POWEROFF").then_some(())
    });
    assert!(off.is_some(), "{}", sim_vm(&f, sibling));
    assert!(
        log(&f.service(id).unwrap())
            .iter()
            .any(|l| l.contains("poweroff-hard") && l.contains(sibling.as_str())),
        "the action is in the service's log: {:?}",
        log(&f.service(id).unwrap())
    );
    let (status, text) = act(sibling, r#"{"action": {"perform": "resume"}}"#);
    assert_eq!(status, 204, "{text}");
    let on = wait_for(Duration::from_secs(30), || {
        (sim_vm(&f, sibling)["state"] == "RUNNING").then_some(())
    });
    assert!(on.is_some(), "{}", sim_vm(&f, sibling));

    // What OneGate refuses: reboot (restricted by default), an action it
    // does not know, a body without `action`, a VM of another service.
    let (status, text) = act(sibling, r#"{"action": {"perform": "reboot"}}"#);
    assert_eq!(
        (status, text.as_str()),
        (403, "Action (reboot) is not allowed on this resource")
    );
    let (status, text) = act(sibling, r#"{"action": {"perform": "fly"}}"#);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("fly"), "{text}");
    let (status, text) = act(sibling, r#"{"perform": "stop"}"#);
    assert_eq!(status, 400, "{text}");
    let (status, _) = act(&stranger, r#"{"action": {"perform": "stop"}}"#);
    assert_eq!(status, 403);
    assert_eq!(sim_vm(&f, &stranger)["state"], "RUNNING");
    assert_eq!(sim_vm(&f, sibling)["state"], "RUNNING");
}

#[test]
fn a_virtual_router_reads_its_networks_and_other_vms_read_none() {
    let (f, port) = with_onegate("");
    let public = vnet(&f, "public", range("172.16.0.1", 20));
    let private = vnet(&f, "private", range("10.9.0.1", 20));
    let id = f.deploy(json!({
        "name": "routed",
        "deployment": "straight",
        "networks": {"Public": "M|network|public||id:0"},
        "roles": [
            {"name": "router", "type": "vr", "cardinality": 1, "template_id": 0,
             "template_contents": {"NIC": [{"NETWORK_ID": "$Public", "FLOATING_IP": "YES"}]}},
            {"name": "app", "type": "vm", "cardinality": 1, "template_id": 0, "parents": ["router"],
             "template_contents": {"NIC": [{"NETWORK_ID": "$Public"}]}}
        ]
    }));
    let _ = f.wait_state(id, 2);
    let router = token_of(&f, &role_vms(&f, id, "router")[0]);
    let app = token_of(&f, &role_vms(&f, id, "app")[0]);

    let (status, text) = onegate(port, "GET", &format!("/vnet/{public}"), Some(&router), "");
    assert_eq!(status, 200, "{text}");
    let shown: Value = serde_json::from_str(&text).unwrap();
    let v = &shown["VNET"];
    assert_eq!(v["ID"], public.to_string(), "{shown}");
    assert_eq!(v["NAME"], "public");
    let ars = v["AR_POOL"]["AR"].as_array().expect("AR_POOL.AR");
    let leases: Vec<&Value> = ars
        .iter()
        .flat_map(|ar| ar["LEASES"]["LEASE"].as_array().unwrap().iter())
        .collect();
    // The router's floating IP, the router VM's and the app VM's.
    assert_eq!(leases.len(), 3, "{shown}");
    assert_eq!(v["USED_LEASES"], "3");

    let (status, text) = onegate(port, "GET", &format!("/vnet/{private}"), Some(&router), "");
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("cannot be retrieved"), "{text}");
    let (status, text) = onegate(port, "GET", &format!("/vnet/{public}"), Some(&app), "");
    assert_eq!(
        (status, text.as_str()),
        (
            400,
            "Virtual networks information can only be retrieved from Virtual Routers."
        )
    );
    assert_eq!(
        onegate(port, "GET", "/vnet/public", Some(&router), "").0,
        400
    );
    assert_eq!(onegate(port, "GET", "/vnet/999", Some(&router), "").0, 404);
    assert_eq!(
        onegate(port, "GET", &format!("/vnet/{public}"), None, "").0,
        401
    );
}

#[test]
fn extended_adds_each_vms_full_information_to_the_nodes() {
    let (f, port) = with_onegate("");
    let (_, vms) = running(&f, "wide", 2);
    let (vm, token) = &vms[0];
    let nodes = |text: &str| -> Vec<Value> {
        let service: Value = serde_json::from_str(text).unwrap();
        service["SERVICE"]["roles"][0]["nodes"]
            .as_array()
            .cloned()
            .unwrap()
    };
    let (status, plain) = onegate(port, "GET", "/service", Some(token), "");
    assert_eq!(status, 200, "{plain}");
    assert!(
        nodes(&plain)
            .iter()
            .all(|n| n["vm_info"]["VM"]["UNAME"].is_null())
    );
    // In the query, and as the Ruby client sends it: a form body on GET.
    let (status, query) = onegate(port, "GET", "/service?extended=true", Some(token), "");
    assert_eq!(status, 200, "{query}");
    let (status, form) = ruby(port, "GET", "/service", token, vm, "extended=true");
    assert_eq!(status, 200, "{form}");
    for text in [&query, &form] {
        let nodes = nodes(text);
        assert_eq!(nodes.len(), 2, "{text}");
        for n in nodes {
            let vm = &n["vm_info"]["VM"];
            assert_eq!(vm["UNAME"], "oneadmin", "{n}");
            assert_eq!(vm["GNAME"], "oneadmin", "{n}");
            assert_eq!(vm["UID"], "0", "{n}");
            assert_eq!(vm["STATE"], "3", "{n}");
            assert!(vm["USER_TEMPLATE"]["ROLE_NAME"] == "web", "{n}");
        }
    }
}

#[test]
fn an_unauthenticated_slow_body_is_answered_401_at_once() {
    let (f, port) = with_onegate("");
    let (_, vms) = running(&f, "slow", 1);
    for (method, path) in [
        ("PUT", "/vm"),
        ("PUT", "/vms/0"),
        ("PUT", "/service/role/web"),
        ("POST", "/vms/0/action"),
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // A body announced, a few bytes of it sent, the rest never.
        s.write_all(
            format!(
                "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-onegate-token: forged\r\n\
                 content-length: 60000\r\n\r\nREADY=YES"
            )
            .as_bytes(),
        )
        .unwrap();
        let mut answer = [0u8; 64];
        let n = s.read(&mut answer).unwrap_or(0);
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "{path}: {answer:?} (a token is checked before the body is read)"
        );
    }
    // With a valid token the body is read and the report taken.
    let (status, text) = onegate(port, "PUT", "/vm", Some(&vms[0].1), "READY=YES");
    assert_eq!(status, 200, "{text}");
}

#[test]
fn onegate_serves_at_most_its_configured_connections() {
    let (f, port) = with_onegate("max_connections = 3\n");
    let (_, vms) = running(&f, "capped", 1);
    assert_eq!(
        onegate(port, "GET", "/vm", Some(&vms[0].1), "").0,
        200,
        "the control: OneGate answers"
    );
    let pid = f.server.pid();
    let held: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // Three are taken in; the others wait in the backlog.
    let taken = wait_for(Duration::from_secs(5), || {
        (common::connections_on(pid, port) >= 3).then_some(())
    });
    assert!(taken.is_some(), "OneGate took no connections");
    // The server counts its three and waits for one of them to close.
    let series = "flotilla_connections_open{listener=\"onegate\"}";
    let at_cap = wait_for(Duration::from_secs(5), || {
        (f.metric(series) == Some(3.0)).then_some(())
    });
    assert!(at_cap.is_some(), "{:?}", f.metric(series));
    let open = common::connections_on(pid, port);
    assert!(
        open <= 3,
        "{open} connections open with 10 idle clients (cap 3)"
    );
    // Once they go, OneGate answers again; it never served more than
    // three at once.
    drop(held);
    assert_eq!(onegate(port, "GET", "/vm", Some(&vms[0].1), "").0, 200);
    let most = f
        .metric("flotilla_connections_open_max{listener=\"onegate\"}")
        .expect("OneGate's connections are counted");
    assert!(most <= 3.0, "{most} connections served at once (cap 3)");
}

#[test]
fn onegate_is_on_by_default_and_a_ready_gated_service_runs() {
    let f = Flotilla::start("[sim]\nboot_seconds = 0\n");
    let id = f.deploy(json!({
        "name": "gated-by-default", "ready_status_gate": true,
        "roles": [{"name": "db", "type": "vm", "cardinality": 1, "template_id": 0,
                   "template_contents": {"SIM_ONEGATE": "YES", "SIM_READY": "YES"}}]
    }));
    let vm = wait_for(Duration::from_secs(30), || {
        role_vms(&f, id, "db").first().cloned()
    })
    .expect("a VM");
    let context = &sim_vm(&f, &vm)["template"]["CONTEXT"];
    assert!(
        context["ONEGATE_ENDPOINT"]
            .as_str()
            .is_some_and(|e| e.starts_with("http://127.0.0.1:")),
        "{context}"
    );
    // It reported READY through OneGate and the gate opened.
    let _ = f.wait_state(id, 2);
}

#[test]
fn a_reload_that_changes_onegate_says_it_takes_a_restart() {
    let (f, port) = with_onegate("");
    let config = f.data.path().join("flotilla.toml");
    let before = std::fs::read_to_string(&config).unwrap();
    let (status, body) = f.call("POST", "/config/reload", Value::Null);
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.to_string().contains("[onegate]"),
        "the control: nothing changed: {body}"
    );
    std::fs::write(&config, format!("{before}reports_per_second = 20\n")).unwrap();
    let (status, body) = f.call("POST", "/config/reload", Value::Null);
    assert_eq!(status, 200, "{body}");
    let at_restart: Vec<String> = body["at_restart"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert!(at_restart.iter().any(|s| s.contains("[onegate]")), "{body}");
    // OneGate still runs as it was.
    assert_eq!(onegate(port, "GET", "/vm", None, "").0, 401);
}

#[test]
fn instantiating_a_ready_gated_service_without_onegate_warns() {
    let f = Flotilla::start("[onegate]\nenabled = false\n");
    let template = |gate: bool| {
        json!({"name": format!("gate-{gate}"), "ready_status_gate": gate,
               "roles": [{"name": "db", "type": "vm", "cardinality": 1, "template_id": 0}]})
    };
    for gate in [true, false] {
        let (status, created) = f.call("POST", "/service_template", template(gate));
        assert_eq!(status, 201, "{created}");
        let id = created["DOCUMENT"]["ID"].as_str().unwrap().to_string();
        let (status, text) = http(
            f.server.api,
            "POST",
            &format!("/service_template/{id}/action"),
            &[("authorization", f.auth.clone())],
            r#"{"action": {"perform": "instantiate"}}"#,
        )
        .unwrap();
        assert_eq!(status, 201, "instantiated, not refused: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        let warned = body["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w.as_str().unwrap().contains("OneGate")));
        assert_eq!(warned, gate, "{body}");
    }
}
