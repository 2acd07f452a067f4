//! A network stays while anything names it: a role at cardinality 0 holds
//! no lease, but its next VM needs the network; a NIC on a network that
//! does not exist fails its VM with the reason.

use super::*;

#[test]
fn a_network_named_by_a_service_or_a_template_cannot_be_deleted() {
    let f = Flotilla::start("");
    let lan = vnet(&f, "lan", range("10.9.0.1", 4));
    let id = f.deploy(json!({
        "name": "idle",
        "roles": [{
            "name": "web", "type": "vm", "cardinality": 0, "template_id": 0, "min_vms": 0,
            "template_contents": {"NIC": [{"NETWORK_ID": lan.to_string()}]}
        }]
    }));
    let _ = f.wait_state(id, 2);
    assert!(leases(&f, lan).is_empty(), "cardinality 0: no lease");

    // Before, this answered 204 and the next scale-out got a NIC with no
    // address.
    let (status, err) = f.call("DELETE", &format!("/vnet/{lan}"), Value::Null);
    assert_eq!(status, 409, "{err}");
    let said = err["error"].as_str().unwrap();
    assert!(
        said.contains(&format!("service {id}")) && said.contains("service template 0"),
        "names who uses it: {said}"
    );
    let (status, _) = f.call("GET", &format!("/vnet/{lan}"), Value::Null);
    assert_eq!(status, 200, "the network is still there");

    // The scale-out gets an address from it.
    let (status, err) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "web", "cardinality": 1}),
    );
    assert_eq!(status, 204, "{err}");
    let _ = f.wait_body(id, "the scale-out", 30, |b| {
        b["state"] == 2 && common::role_vms(b, "web").len() == 1
    });
    assert_eq!(leases(&f, lan).len(), 1);

    // Once nothing names it, it goes.
    let (status, err) = f.call("DELETE", &format!("/service/{id}"), Value::Null);
    assert_eq!(status, 204, "{err}");
    f.wait_gone(id);
    let (status, err) = f.call("DELETE", "/service_template/0", Value::Null);
    assert_eq!(status, 204, "{err}");
    let (status, err) = f.call("DELETE", &format!("/vnet/{lan}"), Value::Null);
    assert_eq!(status, 204, "{err}");
}

#[test]
fn a_nic_on_a_network_that_does_not_exist_fails_its_vm_with_the_reason() {
    let f = Flotilla::start("");
    let id = f.deploy(json!({
        "name": "lost",
        "roles": [{
            "name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
            "template_contents": {"NIC": [{"NETWORK_ID": "41"}]}
        }]
    }));
    let body = f.wait_body(id, "a failed deploy", 60, |b| b["state"] == 7);
    let said = log(&body).join("\n");
    assert!(said.contains("virtual network 41 does not exist"), "{said}");
    assert!(f.live_vms().is_empty(), "no VM booted without its address");
}
