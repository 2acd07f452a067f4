//! OneGate: VMs of the simulated hypervisor report through real HTTP; a
//! child waits for its parents' READY=YES and reads the values they
//! pushed; a token opens its own VM and service and nothing else.

use super::*;

/// `db` (2 VMs) reports READY and a password through OneGate after
/// `ready_s` seconds; `web` is its child and reads the password.
fn gated(ready_s: u32) -> Value {
    json!({
        "name": "gated",
        "deployment": "straight",
        "ready_status_gate": true,
        "roles": [
            {"name": "db", "type": "vm", "cardinality": 2, "template_id": 0,
             "template_contents": {
                 "SIM_ONEGATE": "YES", "SIM_READY": "YES", "SIM_READY_SECONDS": ready_s.to_string(),
                 "SIM_ONEGATE_PUSH": "DB_PASSWORD=s3cret;DB_PORT=5432"
             }},
            {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0, "parents": ["db"],
             "template_contents": {
                 "SIM_ONEGATE": "YES", "SIM_READY": "YES",
                 "CONTEXT": {"DB_PASSWORD": "${db.template.context.db_password}",
                             "DB_PORT": "${db.user_template.db_port}"}
             }}
        ]
    })
}

#[test]
fn a_child_deploys_only_after_every_parent_vm_reported_ready_through_onegate() {
    let (f, port) = with_onegate("");
    let id = f.deploy(gated(2));
    // Until both db VMs reported, web has no VM.
    let watched = std::cell::Cell::new(0);
    let _ = f.wait_body(id, "db running", 60, |b| {
        watched.set(watched.get() + 1);
        let db_running = b["roles"][0]["state"] == 2;
        let web_nodes = b["roles"][1]["nodes"].as_array().map_or(0, |n| n.len());
        assert!(
            db_running || web_nodes == 0,
            "web was created before db was ready: {b}"
        );
        db_running
    });
    assert!(watched.get() > 1, "the gate was watched while closed");
    let body = f.wait_state(id, 2);
    // The db VMs said READY through OneGate, not through the hypervisor.
    for vm in role_vms(&f, id, "db") {
        let seen = sim_vm(&f, &vm);
        assert!(seen["onegate"]["sent"].as_u64().unwrap() >= 1, "{seen}");
        assert!(seen["user_attributes"].get("READY").is_none(), "{seen}");
        let token = token_of(&f, &vm);
        let (status, text) = onegate(port, "GET", "/vm", Some(&token), "");
        assert_eq!(status, 200, "{text}");
        let me: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(me["VM"]["ID"], vm.as_str());
        assert_eq!(me["VM"]["USER_TEMPLATE"]["READY"], "YES");
        assert_eq!(me["VM"]["USER_TEMPLATE"]["ROLE_NAME"], "db");
    }
    // The child's template resolved what its parent pushed.
    let web = role_vms(&f, id, "web");
    let context = &sim_vm(&f, &web[0])["template"]["CONTEXT"];
    assert_eq!(context["DB_PASSWORD"], "s3cret", "{context}");
    assert_eq!(context["DB_PORT"], "5432", "{context}");
    assert!(
        context["ONEGATE_ENDPOINT"]
            .as_str()
            .unwrap()
            .ends_with(&port.to_string())
    );
    assert_eq!(body["roles"][1]["state"], 2);
}

#[test]
fn a_parent_that_never_reports_holds_its_children_back() {
    let (f, _port) = with_onegate("");
    let mut template = gated(0);
    // The db VMs report through OneGate, but not READY.
    template["roles"][0]["template_contents"]["SIM_READY"] = json!("NO");
    let id = f.deploy(template);
    let _ = f.wait_body(id, "db's VMs running", 60, |b| {
        b["roles"][0]["nodes"].as_array().is_some_and(|n| {
            n.len() == 2 && n.iter().all(|n| n["vm_info"]["VM"]["STATE"] == "RUNNING")
        })
    });
    // Well past the pushes (both db VMs have reported, and the engine
    // has gone round a few times since): still deploying, web still
    // waiting.
    let db = role_vms(&f, id, "db");
    let reported = wait_for(Duration::from_secs(30), || {
        db.iter()
            .all(|vm| {
                sim_vm(&f, vm)["onegate"]["sent"]
                    .as_u64()
                    .is_some_and(|n| n >= 1)
            })
            .then_some(())
    });
    assert!(reported.is_some(), "the db VMs never reported: {db:?}");
    f.wait_rounds(3);
    let body = f.service(id).unwrap();
    assert_eq!(body["state"], 1, "{body}");
    assert_eq!(
        body["roles"][1]["nodes"].as_array().map_or(0, |n| n.len()),
        0
    );
}

#[test]
fn a_token_opens_only_its_own_vm_and_its_own_service() {
    let (f, port) = with_onegate("");
    let one = |name: &str| {
        json!({"name": name, "roles": [{"name": "web", "type": "vm", "cardinality": 1,
               "template_id": 0, "min_vms": 1, "max_vms": 3}]})
    };
    let a = f.deploy(one("a"));
    let b = f.deploy(one("b"));
    let _ = f.wait_state(a, 2);
    let _ = f.wait_state(b, 2);
    let (vm_a, vm_b) = (
        role_vms(&f, a, "web")[0].clone(),
        role_vms(&f, b, "web")[0].clone(),
    );
    let (token_a, token_b) = (token_of(&f, &vm_a), token_of(&f, &vm_b));
    assert_ne!(token_a, token_b);

    // Its own VM and service.
    let (status, text) = onegate(port, "GET", "/vm", Some(&token_a), "");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(&format!("\"ID\":\"{vm_a}\"")), "{text}");
    let (status, text) = onegate(port, "GET", "/service", Some(&token_a), "");
    assert_eq!(status, 200, "{text}");
    let service: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(service["SERVICE"]["id"], a.to_string());
    assert!(
        !text.contains(&format!("\"{vm_b}\"")),
        "another service's VM shows: {text}"
    );

    // Another service's VM: neither read nor changed.
    let (status, _) = onegate(port, "GET", &format!("/vms/{vm_b}"), Some(&token_a), "");
    assert_eq!(status, 403);
    let (status, _) = onegate(
        port,
        "PUT",
        &format!("/vms/{vm_b}"),
        Some(&token_a),
        "OWNED=YES",
    );
    assert_eq!(status, 403);
    let (_, text) = onegate(port, "GET", "/vm", Some(&token_b), "");
    assert!(!text.contains("OWNED"), "{text}");

    // A role of its own service scales; B's is out of reach (the route
    // has no service: the token's is the only one).
    let (status, text) = onegate(
        port,
        "PUT",
        "/service/role/web",
        Some(&token_a),
        "{\"cardinality\": 2}",
    );
    assert_eq!(status, 200, "{text}");
    let _ = f.wait_body(a, "a scaled to 2", 60, |s| {
        s["state"] == 2
            && s["roles"][0]["nodes"]
                .as_array()
                .is_some_and(|n| n.len() == 2)
    });
    assert_eq!(f.service(b).unwrap()["roles"][0]["cardinality"], 1);
    let (status, _) = onegate(
        port,
        "PUT",
        "/service/role/web",
        Some(&token_a),
        "{\"cardinality\": 99}",
    );
    assert_eq!(status, 400, "bounds hold through OneGate too");

    // Reports: its own attributes, not the restricted ones.
    let (status, _) = onegate(
        port,
        "PUT",
        "/vm",
        Some(&token_a),
        "APP_STATE=warm\nQUEUE=7",
    );
    assert_eq!(status, 200);
    let (_, text) = onegate(port, "GET", "/vm", Some(&token_a), "");
    assert!(
        text.contains("\"APP_STATE\":\"warm\"") && text.contains("\"QUEUE\":\"7\""),
        "{text}"
    );
    let (status, text) = onegate(port, "PUT", "/vm", Some(&token_a), "SERVICE_ID=2");
    assert_eq!(status, 403, "{text}");

    // No token, a changed one, a forged or expired one, a lying VMID:
    // 401 and nothing else.
    for token in [None, Some(String::new()), Some(format!("{token_a}x"))] {
        let (status, text) = onegate(port, "GET", "/vm", token.as_deref(), "");
        assert_eq!((status, text.as_str()), (401, "Not authorized"));
    }
    let mut tampered = token_a.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let (status, _) = onegate(
        port,
        "GET",
        "/vm",
        Some(std::str::from_utf8(&tampered).unwrap()),
        "",
    );
    assert_eq!(status, 401);
    let key: [u8; 32] = std::fs::read(f.data.path().join("onegate.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let signer = flotilla::onegate::token::Signer::new(key);
    let op_a = format!("service-{a}-web-0");
    let expired = signer.issue(&flotilla::onegate::token::Claims {
        service_id: a,
        operation_id: op_a.clone(),
        expires: 1,
    });
    let (status, _) = onegate(port, "GET", "/vm", Some(&expired), "");
    assert_eq!(status, 401, "an expired token is refused");
    let valid = signer.issue(&flotilla::onegate::token::Claims {
        service_id: a,
        operation_id: op_a,
        expires: 0,
    });
    assert_eq!(
        onegate(port, "GET", "/vm", Some(&valid), "").0,
        200,
        "the control: the same claims unexpired pass"
    );
    let other_key =
        flotilla::onegate::token::Signer::new([7; 32]).issue(&flotilla::onegate::token::Claims {
            service_id: b,
            operation_id: format!("service-{b}-web-0"),
            expires: 0,
        });
    assert_eq!(onegate(port, "GET", "/vm", Some(&other_key), "").0, 401);
    let lying = http(
        port,
        "GET",
        "/vm",
        &[
            ("x-onegate-token", token_a.clone()),
            ("x-onegate-vmid", vm_b.clone()),
        ],
        "",
    )
    .unwrap();
    assert_eq!(lying.0, 401, "a VMID that is not the token's");

    // A VM that left its service speaks for nothing: scale back to one
    // and try the token of the VM that went.
    let both: Vec<(String, String)> = role_vms(&f, a, "web")
        .into_iter()
        .map(|vm| {
            let t = token_of(&f, &vm);
            (vm, t)
        })
        .collect();
    assert_eq!(both.len(), 2);
    let (status, body) = f.call(
        "POST",
        &format!("/service/{a}/scale"),
        json!({"role_name": "web", "cardinality": 1}),
    );
    assert!(status < 300, "{body}");
    let _ = f.wait_body(a, "a back to 1", 60, |s| {
        s["state"] == 2
            && s["roles"][0]["nodes"]
                .as_array()
                .is_some_and(|n| n.len() == 1)
    });
    let kept = role_vms(&f, a, "web");
    for (vm, token) in &both {
        let status = onegate(port, "GET", "/vm", Some(token), "").0;
        if kept.contains(vm) {
            assert_eq!(status, 200);
        } else {
            assert_eq!(status, 401, "the token of VM {vm}, gone");
        }
    }
}

/// `examples/onegate/onegate`, the shell client a VM image carries, as a
/// VM would run it: the endpoint and token from its environment.
fn client(port: u16, token: &str, args: &[&str]) -> (bool, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/onegate/onegate"
    );
    let out = std::process::Command::new("sh")
        .arg(script)
        .args(args)
        .env("ONEGATE_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("ONEGATE_TOKEN", token)
        .env("ONEGATE_CONTEXT", "/dev/null")
        .env_remove("VMID")
        .output()
        .expect("sh runs the client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_shell_client_reports_reads_and_scales_through_onegate() {
    let (f, port) = with_onegate("");
    let id = f.deploy(
        json!({"name": "shell", "roles": [{"name": "web", "type": "vm",
        "cardinality": 1, "template_id": 0, "max_vms": 2}]}),
    );
    let _ = f.wait_state(id, 2);
    let vm = role_vms(&f, id, "web")[0].clone();
    let token = token_of(&f, &vm);

    let (ok, said) = client(
        port,
        &token,
        &["vm", "update", "--data", "APP_STATE=warm\nQUEUE=3"],
    );
    assert!(ok, "{said}");
    let (ok, said) = client(port, &token, &["vm", "show", "--json"]);
    assert!(ok, "{said}");
    let shown: Value = serde_json::from_str(said.trim()).expect("JSON");
    assert_eq!(shown["VM"]["USER_TEMPLATE"]["APP_STATE"], "warm");
    assert_eq!(shown["VM"]["USER_TEMPLATE"]["QUEUE"], "3");
    let (ok, said) = client(port, &token, &["vm", "update", "--erase", "QUEUE"]);
    assert!(ok, "{said}");
    let (_, said) = client(port, &token, &["vm", "show", "--json"]);
    assert!(!said.contains("QUEUE"), "{said}");

    let (ok, said) = client(port, &token, &["service", "show", "--json"]);
    assert!(ok, "{said}");
    let service: Value = serde_json::from_str(said.trim()).expect("JSON");
    assert_eq!(service["SERVICE"]["id"], id.to_string());
    let (ok, said) = client(
        port,
        &token,
        &["service", "scale", "--role", "web", "--cardinality", "2"],
    );
    assert!(ok, "{said}");
    let _ = f.wait_body(id, "scaled to 2 by the VM", 60, |b| {
        b["roles"][0]["cardinality"] == 2
    });

    let (ok, said) = client(port, &format!("{token}x"), &["vm", "show"]);
    assert!(!ok && said.contains("401"), "{said}");
}
