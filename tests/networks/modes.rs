//! The three network modes: an existing network, a reservation and a
//! template instance, each deployed by the `static` plugin before the
//! roles, their addresses leased to the VMs and given back.

use super::*;

fn ip_in(ip: &str, prefix: &str, first: u32, last: u32) -> bool {
    ip.strip_prefix(prefix)
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| (first..=last).contains(&n))
}

#[test]
fn a_service_with_all_three_modes_deploys_leases_distinct_addresses_and_gives_everything_back() {
    let f = Flotilla::start("");
    let public = vnet(
        &f,
        "public",
        json!({"AR": [{"TYPE": "IP4", "IP": "10.0.0.1", "SIZE": "10"}], "GATEWAY": "10.0.0.254", "DNS": "10.0.0.53"}),
    );
    let parent = vnet(&f, "lan", range("10.1.0.1", 8));
    let (status, body) = f.call(
        "POST",
        "/vntemplate",
        json!({"name": "lab", "template": {"NETWORK_MASK": "255.255.255.0"}}),
    );
    assert_eq!(status, 201, "{body}");
    let template = body["VNTEMPLATE"]["ID"].as_str().unwrap().to_string();
    let id = f.deploy(json!({
        "name": "three-modes",
        "networks": {
            "Public": "M|network|public||id:0",
            "Private": "M|network|private||",
            "Lab": "M|network|lab||"
        },
        "networks_values": [
            {"Private": {"reserve_from": parent.to_string(), "extra": "SIZE=4"}},
            {"Lab": {"template_id": template, "extra": "AR=[IP=10.2.0.1, SIZE=5, TYPE=IP4]"}}
        ],
        "roles": [{
            "name": "web", "type": "vm", "cardinality": 2, "template_id": 0, "min_vms": 1,
            "template_contents": {
                "NIC": [{"NETWORK_ID": "$Public"}, {"NETWORK_ID": "$Private"}, {"NETWORK_ID": "$Lab"}],
                "NIC_ALIAS": [{"NETWORK_ID": "$Public", "PARENT": "NIC0"}],
                "CONTEXT": {"NETWORK": "YES"}
            }
        }]
    }));
    let body = f.wait_state(id, 2);
    assert!(
        log(&body).iter().any(|m| m == "New state: DEPLOYING_NETS"),
        "{:?}",
        log(&body)
    );
    // The networks the service made are in networks_values, as OneFlow
    // writes them.
    let values = body["networks_values"].as_array().unwrap();
    let made: Vec<u64> = values
        .iter()
        .filter_map(|v| v.as_object()?.values().next()?["id"].as_str()?.parse().ok())
        .collect();
    assert_eq!(made.len(), 3, "{values:?}");
    let (reservation, lab) = (made[0], made[1]);
    assert!(!vnet_ids(&f).is_empty());

    let mut seen = std::collections::BTreeSet::new();
    for vm in role_vms(&f, id, "web") {
        let vm = sim_vm(&f, &vm);
        let nic = nics(&vm, "NIC");
        assert_eq!(nic[0]["NETWORK_ID"], public.to_string(), "{nic:?}");
        assert_eq!(nic[1]["NETWORK_ID"], reservation.to_string(), "{nic:?}");
        assert_eq!(nic[2]["NETWORK_ID"], lab.to_string(), "{nic:?}");
        let ips: Vec<&str> = nic.iter().map(|n| n["IP"].as_str().unwrap()).collect();
        assert!(ip_in(ips[0], "10.0.0.", 1, 10), "{ips:?}");
        assert!(ip_in(ips[1], "10.1.0.", 1, 8), "{ips:?}");
        assert!(ip_in(ips[2], "10.2.0.", 1, 5), "{ips:?}");
        assert_eq!(nic[0]["GATEWAY"], "10.0.0.254");
        let alias = nics(&vm, "NIC_ALIAS");
        let alias_ip = alias[0]["IP"].as_str().unwrap();
        assert!(
            ip_in(alias_ip, "10.0.0.", 1, 10) && alias_ip != ips[0],
            "{alias:?}"
        );
        assert_eq!(alias[0]["PARENT"], "NIC0");
        // The guest's context carries its addresses.
        let context = &vm["template"]["CONTEXT"];
        assert_eq!(context["ETH0_IP"], ips[0]);
        assert_eq!(context["ETH1_IP"], ips[1]);
        assert_eq!(context["ETH0_DNS"], "10.0.0.53");
        for ip in ips.iter().chain([&alias_ip]) {
            assert!(seen.insert(ip.to_string()), "{ip} leased twice");
        }
    }
    // Two VMs hold a NIC and an alias each on the public network; the
    // reservation holds four of the parent's addresses.
    assert_eq!(leases(&f, public).len(), 4);
    let parent_leases = leases(&f, parent);
    assert_eq!(parent_leases.len(), 4, "{parent_leases:?}");
    assert!(
        parent_leases
            .iter()
            .all(|l| l["HOLDER"] == format!("vnet-{reservation}"))
    );
    assert_eq!(leases(&f, reservation).len(), 2);

    // A VM that leaves gives its addresses back.
    let (status, body) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "web", "cardinality": 1}),
    );
    assert!(status < 300, "{body}");
    wait_for(Duration::from_secs(30), || {
        (leases(&f, public).len() == 2).then_some(())
    })
    .expect("the leaving VM's addresses are given back");

    // Undeploy: the networks the service made go, the existing one stays,
    // and no address is held any more.
    let (status, body) = f.call("DELETE", &format!("/service/{id}"), Value::Null);
    assert!(status < 300, "{body}");
    f.wait_gone(id);
    assert_eq!(vnet_ids(&f), vec![public, parent]);
    assert!(leases(&f, public).is_empty());
    assert!(leases(&f, parent).is_empty());
    // The service template still reserves from it: it stays until the
    // template goes, then it can go.
    let (status, err) = f.call("DELETE", &format!("/vnet/{parent}"), Value::Null);
    assert_eq!(status, 409, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("service template 0"),
        "{err}"
    );
    let (status, err) = f.call("DELETE", "/service_template/0", Value::Null);
    assert_eq!(status, 204, "{err}");
    let (status, _) = f.call("DELETE", &format!("/vnet/{parent}"), Value::Null);
    assert_eq!(status, 204);
}

#[test]
fn a_reservation_larger_than_the_free_range_fails_the_service_and_leases_nothing() {
    let f = Flotilla::start("");
    let parent = vnet(&f, "small", range("10.9.0.1", 3));
    let id = f.deploy(json!({
        "name": "too-big",
        "networks": {"Private": "M|network|private||"},
        "networks_values": [{"Private": {"reserve_from": parent.to_string(), "extra": "SIZE=5"}}],
        "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
                   "template_contents": {"NIC": [{"NETWORK_ID": "$Private"}]}}]
    }));
    let body = f.wait_state(id, 13);
    let said = log(&body).join("\n");
    assert!(
        said.contains("cannot reserve 5 addresses: its largest free block is 3"),
        "{said}"
    );
    assert!(f.live_vms().is_empty(), "no VM is created");
    assert!(leases(&f, parent).is_empty(), "no partial reservation");
    assert_eq!(vnet_ids(&f), vec![parent]);
    // A recover with delete takes the failed service away.
    let (status, body) = f.call(
        "POST",
        &format!("/service/{id}/action"),
        json!({"action": {"perform": "recover", "params": {"delete": true}}}),
    );
    assert!(status < 300, "{body}");
    f.wait_gone(id);
    assert!(leases(&f, parent).is_empty());
}

#[test]
fn templates_naming_undeclared_networks_and_bad_ranges_are_refused() {
    let f = Flotilla::start("");
    let (status, body) = f.call(
        "POST",
        "/service_template",
        json!({"name": "t", "networks": {"Public": "M|network|p||id:0"},
               "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
                          "template_contents": {"NIC": [{"NETWORK_ID": "$Pubic"}]}}]}),
    );
    assert_eq!(status, 400);
    assert!(
        body.to_string()
            .contains("roles[0].template_contents.NIC[0].NETWORK_ID"),
        "{body}"
    );
    assert!(
        body.to_string()
            .contains("`$Pubic` is not a network of this template (declared: Public)"),
        "{body}"
    );

    for (template, field) in [
        (
            json!({"AR": [{"IP": "10.0.0.300", "SIZE": "4"}]}),
            "template.AR[0].IP",
        ),
        (
            json!({"AR": [{"IP": "10.0.0.1", "SIZE": "0"}]}),
            "template.AR[0].SIZE",
        ),
        (
            json!({"AR": [{"IP": "10.0.0.1", "SIZE": "4"}], "SERVICE_ID": "3"}),
            "template.SERVICE_ID",
        ),
    ] {
        let (status, body) = f.call("POST", "/vnet", json!({"name": "x", "template": template}));
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].as_str().unwrap().starts_with(field), "{body}");
    }
    assert!(vnet_ids(&f).is_empty(), "a refused network is not created");
    // Reservations through the API: all or nothing, 409 when it cannot fit.
    let parent = vnet(&f, "p", range("192.168.0.1", 4));
    let (status, body) = f.call(
        "POST",
        &format!("/vnet/{parent}/reserve"),
        json!({"name": "r", "size": 5}),
    );
    assert_eq!(status, 409, "{body}");
    let (status, body) = f.call(
        "POST",
        &format!("/vnet/{parent}/reserve"),
        json!({"name": "r", "size": 3}),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["VNET"]["TEMPLATE"]["AR"][0]["IP"], "192.168.0.1");
    let (status, body) = f.call("DELETE", &format!("/vnet/{parent}"), Value::Null);
    assert_eq!(status, 409, "a parent with a reservation stays: {body}");
}

#[test]
fn a_users_service_cannot_reserve_from_or_attach_to_a_network_she_may_not_use() {
    let f = Flotilla::start("");
    let private = vnet(&f, "operators-only", range("10.20.0.1", 16));
    let (status, body) = f.call(
        "POST",
        "/user",
        json!({"name": "alice", "password": "alice-password-1"}),
    );
    assert_eq!(status, 201, "{body}");
    let alice = common::basic("alice", "alice-password-1");
    // VM template 0 is oneadmin's: share it so only the network is in the way.
    let (status, _) = f.call(
        "POST",
        "/vm_template/0/action",
        json!({"action": {"perform": "chmod", "params": {"octet": "604"}}}),
    );
    assert!(status < 300);
    let as_alice = |method: &str, path: &str, body: Value| {
        let (status, text) = http(
            f.server.api,
            method,
            path,
            &[("authorization", alice.clone())],
            &body.to_string(),
        )
        .expect("the server answers");
        (
            status,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
        )
    };
    for values in [
        json!([{"Lan": {"reserve_from": private.to_string(), "extra": "SIZE=2"}}]),
        json!([{"Lan": {"id": private.to_string()}}]),
    ] {
        let (status, t) = as_alice(
            "POST",
            "/service_template",
            json!({
                "name": "sneaky",
                "networks": {"Lan": "M|network|lan||"},
                "networks_values": values,
                "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
                           "template_contents": {"NIC": [{"NETWORK_ID": "$Lan"}]}}]
            }),
        );
        assert_eq!(status, 201, "{t}");
        let tid = t["DOCUMENT"]["ID"].as_str().unwrap();
        let (status, s) = as_alice(
            "POST",
            &format!("/service_template/{tid}/action"),
            json!({"action": {"perform": "instantiate"}}),
        );
        assert_eq!(status, 201, "{s}");
        let id: u64 = s["DOCUMENT"]["ID"].as_str().unwrap().parse().unwrap();
        let body = f.wait_body(id, "a refusal", 60, |b| b["state"] == 13 || b["state"] == 7);
        let said = log(&body).join("\n");
        assert!(said.contains("may not use"), "{said}");
    }
    assert!(
        leases(&f, private).is_empty(),
        "alice's services took nothing"
    );
}
