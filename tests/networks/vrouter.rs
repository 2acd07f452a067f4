//! Virtual router roles: one router for the role's VMs, a floating IP
//! leased from the network of each NIC marked `FLOATING_IP`, shown in the
//! service body and readable by the role's children.

use super::*;

#[test]
fn a_vr_role_with_two_vms_shares_one_floating_ip_that_its_child_reads() {
    let f = Flotilla::start("");
    let public = vnet(&f, "public", range("172.16.0.1", 20));
    let id = f.deploy(json!({
        "name": "routed",
        "deployment": "straight",
        "networks": {"Public": "M|network|public||id:0"},
        "roles": [
            {"name": "router", "type": "vr", "cardinality": 2, "template_id": 0,
             "template_contents": {
                 "NIC": [{"NETWORK_ID": "$Public", "FLOATING_IP": "YES"}],
                 "CONTEXT": {"NETWORK": "YES"}
             }},
            {"name": "app", "type": "vm", "cardinality": 1, "template_id": 0, "parents": ["router"],
             "template_contents": {
                 "NIC": [{"NETWORK_ID": "$Public"}],
                 "CONTEXT": {"GATEWAY_IP": "${router.template.context.eth0_vrouter_ip}"}
             }}
        ]
    }));
    let body = f.wait_state(id, 2);
    let router = &body["roles"][0];
    let vrouter_id = router["vrouter_id"]
        .as_u64()
        .expect("vrouter_id in the body");
    let ips = router["vrouter_ips"]
        .as_array()
        .expect("vrouter_ips in the body");
    assert_eq!(ips.len(), 1, "{ips:?}");
    assert_eq!(ips[0]["NETWORK_ID"], public);
    let floating = ips[0]["VROUTER_IP"].as_str().unwrap().to_string();
    assert!(floating.starts_with("172.16.0."), "{floating}");

    // Both router VMs carry the router and its floating IP on their NIC,
    // each with an address of its own.
    let vms = role_vms(&f, id, "router");
    assert_eq!(vms.len(), 2);
    let mut own = Vec::new();
    for vm in &vms {
        let nic = nics(&sim_vm(&f, vm), "NIC");
        assert_eq!(nic[0]["VROUTER_IP"], floating.as_str(), "{nic:?}");
        assert_eq!(nic[0]["VROUTER_ID"], vrouter_id.to_string());
        own.push(nic[0]["IP"].as_str().unwrap().to_string());
    }
    assert!(
        own[0] != own[1] && !own.contains(&floating),
        "{own:?} {floating}"
    );
    // The floating IP is leased to the router.
    let held: Vec<Value> = leases(&f, public);
    assert!(
        held.iter().any(|l| l["IP"] == floating.as_str()
            && l["HOLDER"]
                .as_str()
                .unwrap()
                .starts_with(&format!("vrouter-{vrouter_id}/"))),
        "{held:?}"
    );
    // The child read it.
    let app = role_vms(&f, id, "app");
    let child = sim_vm(&f, &app[0]);
    assert_eq!(
        child["template"]["CONTEXT"]["GATEWAY_IP"],
        floating.as_str()
    );

    // A vr role does not scale.
    let (status, _) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "router", "cardinality": 3}),
    );
    assert!(status >= 400);

    // Undeployed: the router and every address are given back.
    let (status, body) = f.call("DELETE", &format!("/service/{id}"), Value::Null);
    assert!(status < 300, "{body}");
    f.wait_gone(id);
    assert!(leases(&f, public).is_empty());
}
