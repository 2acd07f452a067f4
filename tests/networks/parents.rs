//! A child finds its parent by address: `${db.template.nic.ip}` and the
//! context variables of the parent's NICs read the addresses the parent's
//! VMs were leased, at deploy and at every scale-up.

use super::*;

#[test]
fn a_child_reads_the_address_its_parent_was_leased() {
    let f = Flotilla::start("");
    let private = vnet(&f, "private", range("10.20.0.10", 10));
    let id = f.deploy(json!({
        "name": "tiers",
        "deployment": "straight",
        "networks": {"Private": "M|network|private||id:0"},
        "roles": [
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0,
             "template_contents": {
                 "NIC": [{"NETWORK_ID": "$Private"}],
                 "NIC_ALIAS": [{"NETWORK_ID": "$Private", "PARENT": "NIC0"}]
             }},
            {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0, "parents": ["db"],
             "template_contents": {
                 "NIC": [{"NETWORK_ID": "$Private"}],
                 "CONTEXT": {
                     "DB_IP": "${db.template.nic.ip}",
                     "DB_MAC": "${db.template.nic.mac}",
                     "DB_ETH0": "${db.template.context.eth0_ip}",
                     "DB_ALIAS": "${db.template.context.eth0_alias0_ip}",
                     "DB_ETH1": "${db.template.context.eth1_ip}",
                     "STRANGER": "${app.template.nic.ip}"
                 }
             }}
        ]
    }));
    let _ = f.wait_state(id, 2);
    let db = sim_vm(&f, &role_vms(&f, id, "db")[0]);
    let nic = &nics(&db, "NIC")[0];
    let alias = &nics(&db, "NIC_ALIAS")[0];
    let db_ip = nic["IP"].as_str().expect("db's NIC has an address");
    assert!(db_ip.starts_with("10.20.0."), "{nic}");
    assert_ne!(alias["IP"], nic["IP"], "{alias}");
    let private_leases = leases(&f, private);
    assert!(
        private_leases.iter().any(|l| l["IP"] == db_ip),
        "{private_leases:?}"
    );

    let context = |vm: &str| sim_vm(&f, vm)["template"]["CONTEXT"].clone();
    let web = role_vms(&f, id, "web");
    let first = context(&web[0]);
    assert_eq!(first["DB_IP"], db_ip, "{first}");
    assert_eq!(first["DB_ETH0"], db_ip, "{first}");
    assert_eq!(first["DB_MAC"], nic["MAC"], "{first}");
    assert_eq!(first["DB_ALIAS"], alias["IP"], "{first}");
    // A NIC the parent does not have, and a role that is not a parent,
    // read as empty, as in OneFlow.
    assert_eq!(first["DB_ETH1"], "", "{first}");
    assert_eq!(first["STRANGER"], "", "{first}");

    // A VM a scale-up brings reads the same address, and reading it leased
    // nothing: the network holds one address per NIC and alias.
    let (status, body) = f.call(
        "POST",
        &format!("/service/{id}/scale"),
        json!({"role_name": "web", "cardinality": 2}),
    );
    assert!(status < 300, "{status} {body}");
    let body = f.wait_body(id, "web scaled to 2 and the service running", 60, |b| {
        b["state"] == 2 && common::role_vms(b, "web").len() == 2
    });
    let web = common::role_vms(&body, "web");
    let second = context(&web[1]);
    assert_eq!(second["DB_IP"], db_ip, "{second}");
    assert_eq!(
        leases(&f, private).len(),
        4,
        "db's NIC and alias, two web VMs"
    );
}
