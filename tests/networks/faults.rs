//! A network mode that traps, loops or dies with the server: the service
//! says which fault in FAILED_DEPLOYING_NETS, `recover` tries again, and a
//! kill -9 mid-way leaks no reservation.

use super::*;

/// A server with the `network-fault` fixture installed as a network mode.
fn with_fault_fixture() -> Flotilla {
    let mut f = Flotilla::start("");
    let dir = f.data.path().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = flotilla::plugin::builtin::dist_path("network-fault");
    std::fs::copy(&wasm, dir.join("network-fault.wasm")).unwrap();
    std::fs::copy(wasm.with_extension("toml"), dir.join("network-fault.toml")).unwrap();
    f.restart();
    f
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// One role on a reservation of `parent` made by the fixture with `extra`.
fn faulty(parent: u64, extra: &str) -> Value {
    json!({
        "name": "faulty",
        "networks": {"Private": "M|network|private||"},
        "networks_values": [{"Private": {"reserve_from": parent.to_string(), "mode": "network-fault",
                                         "extra": format!("SIZE=2\n{extra}")}}],
        "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
                   "template_contents": {"NIC": [{"NETWORK_ID": "$Private"}]}}]
    })
}

fn recover(f: &Flotilla, id: u64) {
    let (status, body) = f.call(
        "POST",
        &format!("/service/{id}/action"),
        json!({"action": {"perform": "recover"}}),
    );
    assert!(status < 300, "{body}");
}

#[test]
fn a_trapping_or_looping_network_mode_fails_the_service_with_the_fault_and_recover_retries() {
    let f = with_fault_fixture();
    let parent = vnet(&f, "lan", range("10.5.0.1", 10));
    // Traps for the next 6 s, then works.
    let until = unix_ms() + 6_000;
    let id = f.deploy(faulty(parent, &format!("FAULT=trap\nFAULT_UNTIL={until}")));
    let body = f.wait_state(id, 13);
    let said = log(&body).join("\n");
    assert!(
        said.contains("network mode `network-fault`") && said.contains("trap"),
        "{said}"
    );
    assert!(leases(&f, parent).is_empty());
    // The server kept serving, and recover tries again once the fault is over.
    wait_for(Duration::from_secs(10), || {
        (unix_ms() > until).then_some(())
    })
    .expect("the fault is over");
    recover(&f, id);
    let _ = f.wait_state(id, 2);
    assert_eq!(leases(&f, parent).len(), 2, "the reservation, once");

    let looping = f.deploy(faulty(parent, "FAULT=loop"));
    let body = f.wait_state(looping, 13);
    let said = log(&body).join("\n");
    assert!(said.contains("timeout"), "{said}");
    assert_eq!(leases(&f, parent).len(), 2, "the loop reserved nothing");
    // The first service is untouched and the API answers.
    assert_eq!(f.service(id).unwrap()["state"], 2);
}

#[test]
fn a_kill_during_deploying_or_undeploying_nets_leaks_no_reservation() {
    let mut f = with_fault_fixture();
    let parent = vnet(&f, "lan", range("10.6.0.1", 10));
    // Each deploy and undeploy of the network takes 2 s: time to kill.
    // The instantiation deploys the networks before it answers, so it is
    // sent from a thread and the server killed while it waits.
    let (status, created) = f.call("POST", "/service_template", faulty(parent, "DELAY_MS=2000"));
    assert_eq!(status, 201, "{created}");
    let template = created["DOCUMENT"]["ID"].as_str().unwrap().to_string();
    let (api, auth) = (f.server.api, f.auth.clone());
    let instantiating = std::thread::spawn(move || {
        http(
            api,
            "POST",
            &format!("/service_template/{template}/action"),
            &[("authorization", auth)],
            &json!({"action": {"perform": "instantiate"}}).to_string(),
        )
    });
    let id = 0;
    let _ = f.wait_body(id, "DEPLOYING_NETS", 60, |b| b["state"] == 11);
    f.restart();
    let _ = instantiating.join();
    let _ = f.wait_state(id, 2);
    let children: Vec<u64> = vnet_ids(&f).into_iter().filter(|v| *v != parent).collect();
    assert_eq!(children.len(), 1, "one reservation, not two: {children:?}");
    assert_eq!(leases(&f, parent).len(), 2);

    let (status, body) = f.call("DELETE", &format!("/service/{id}"), Value::Null);
    assert!(status < 300, "{body}");
    let _ = f.wait_body(id, "UNDEPLOYING_NETS", 60, |b| b["state"] == 12);
    f.restart();
    f.wait_gone(id);
    assert_eq!(vnet_ids(&f), vec![parent], "the reservation is gone");
    assert!(leases(&f, parent).is_empty(), "and its addresses are back");
}
