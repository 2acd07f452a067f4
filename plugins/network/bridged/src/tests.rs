use super::testing::Host;
use super::*;
use flotilla_model::KeyValue;

fn port(key: &str, network: &str) -> Port {
    Port {
        key: key.into(),
        network_id: network.into(),
        mac: "02:00:0a:00:00:02".into(),
    }
}

fn bridge_mode(host: Host) -> Plumber<Host> {
    Plumber::new(host, "fb", Uplink::None).unwrap()
}

fn vxlan_mode(host: Host, underlay: Option<&str>) -> Plumber<Host> {
    let settings = VxlanSettings {
        underlay: underlay.map(str::to_string),
        ..VxlanSettings::default()
    };
    Plumber::new(host, "fv", Uplink::Vxlan(settings)).unwrap()
}

#[test]
fn pre_makes_the_bridge_and_a_tap_on_it_once() {
    let p = bridge_mode(Host::granting(&["fb"]));
    let net = segment("7", &[]);
    let tap = p.pre(&net, &port("00aa11bb22", "7")).unwrap();
    assert_eq!(tap, "fb00aa11bb22");
    let dev = p.links.device(&tap).unwrap();
    assert_eq!(dev.kind, Kind::Tap);
    assert_eq!(dev.master.as_deref(), Some("fbbr7"));
    assert!(dev.up);
    assert!(p.links.device("fbbr7").unwrap().up);
    // A retried create finds what the first made.
    assert_eq!(p.pre(&net, &port("00aa11bb22", "7")).unwrap(), tap);
    assert_eq!(p.links.names(), ["fb00aa11bb22", "fbbr7"]);
}

#[test]
fn a_networks_bridge_attribute_names_its_bridge() {
    let p = bridge_mode(Host::granting(&["fb"]));
    let net = segment("7", &[("BRIDGE", "fbpublic")]);
    let tap = p.pre(&net, &port("01", "7")).unwrap();
    assert_eq!(
        p.links.device(&tap).unwrap().master.as_deref(),
        Some("fbpublic")
    );
    // Outside the grant, the host refuses, and the error says so.
    let net = segment("8", &[("BRIDGE", "eth0")]);
    let err = p.pre(&net, &port("02", "8")).unwrap_err();
    assert!(matches!(err, Error::Denied(m) if m.contains("eth0")));
}

#[test]
fn vxlan_puts_a_tunnel_on_the_bridge_with_the_networks_vni_and_group() {
    let p = vxlan_mode(Host::granting(&["fv"]), Some("under0"));
    let net = segment("12", &[("VLAN_ID", "4100")]);
    p.pre(&net, &port("0a", "12")).unwrap();
    let vx = p.links.device("fvvx12").unwrap();
    assert_eq!(vx.master.as_deref(), Some("fvbr12"));
    assert_eq!(
        vx.kind,
        Kind::Vxlan(Vxlan {
            vni: 4100,
            underlay: "under0".into(),
            // 239.0.0.0 + 4100 = 239.0.16.4, as OpenNebula's VXLAN_MC.
            group: Some("239.0.16.4".into()),
            port: 4789,
            mtu: None,
        })
    );
    // The network's own PHYDEV and VXLAN_MC win over the settings.
    let net = segment(
        "13",
        &[
            ("PHYDEV", "under1"),
            ("VXLAN_MC", "239.1.0.0"),
            ("MTU", "1400"),
        ],
    );
    p.pre(&net, &port("0b", "13")).unwrap();
    let Kind::Vxlan(vx) = p.links.device("fvvx13").unwrap().kind else {
        panic!("not a vxlan device");
    };
    assert_eq!(vx.vni, 13);
    assert_eq!(vx.underlay, "under1");
    assert_eq!(vx.group.as_deref(), Some("239.1.0.13"));
    assert_eq!(vx.mtu, Some(1400));
}

#[test]
fn bad_vxlan_settings_are_refused_naming_the_attribute() {
    let p = vxlan_mode(Host::granting(&["fv"]), None);
    let cases = [
        (segment("3", &[]), "PHYDEV"),
        (
            segment("3", &[("PHYDEV", "u"), ("VLAN_ID", "0")]),
            "VLAN_ID",
        ),
        (
            segment("3", &[("PHYDEV", "u"), ("VLAN_ID", "16777216")]),
            "VLAN_ID",
        ),
        (
            segment("3", &[("PHYDEV", "u"), ("VXLAN_MC", "x")]),
            "VXLAN_MC",
        ),
        (segment("3", &[("PHYDEV", "u"), ("MTU", "9")]), "MTU"),
    ];
    for (net, field) in cases {
        let err = p.pre(&net, &port("01", "3")).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput(m) if m.starts_with(field)),
            "{field}: {err:?}"
        );
    }
    assert!(p.links.names().is_empty(), "a refused pre makes nothing");
}

#[test]
fn sweep_removes_what_nothing_needs_and_the_bridge_with_its_last_vm() {
    let p = vxlan_mode(Host::granting(&["fv"]), Some("under0"));
    let (a, b) = (segment("1", &[]), segment("2", &[]));
    let (a1, a2, b1) = (port("a1", "1"), port("a2", "1"), port("b1", "2"));
    for (net, port) in [(&a, &a1), (&a, &a2), (&b, &b1)] {
        p.pre(net, port).unwrap();
    }
    // Everything still used: nothing goes.
    assert_eq!(
        p.sweep(
            &[a.clone(), b.clone()],
            &[a1.clone(), a2.clone(), b1.clone()]
        )
        .unwrap(),
        0
    );
    // One VM of network 1 left.
    assert_eq!(
        p.sweep(&[a.clone(), b.clone()], &[a1.clone(), b1.clone()])
            .unwrap(),
        1
    );
    assert!(p.links.device("fva2").is_none());
    // Network 2's last VM left: its tap, tunnel and bridge go.
    assert_eq!(
        p.sweep(std::slice::from_ref(&a), std::slice::from_ref(&a1))
            .unwrap(),
        3
    );
    assert_eq!(p.links.names(), ["fva1", "fvbr1", "fvvx1"]);
    // Nothing needed: nothing left.
    assert_eq!(p.sweep(&[], &[]).unwrap(), 3);
    assert!(p.links.names().is_empty());
}

#[test]
fn sweep_leaves_devices_outside_the_prefix_and_of_other_kinds() {
    let host = Host::default();
    host.add("eth0", &Kind::Other("veth".into())).unwrap();
    host.add("fbdummy", &Kind::Other("dummy".into())).unwrap();
    host.add("docker0", &Kind::Bridge).unwrap();
    let p = bridge_mode(host);
    assert_eq!(p.sweep(&[], &[]).unwrap(), 0);
    assert_eq!(p.links.names(), ["docker0", "eth0", "fbdummy"]);
}

#[test]
fn names_fit_the_kernels_limit() {
    assert!(Plumber::new(Host::default(), "", Uplink::None).is_err());
    assert!(Plumber::new(Host::default(), "toolong", Uplink::None).is_err());
    let p = Plumber::new(Host::default(), "flnet", Uplink::None).unwrap();
    assert_eq!(p.tap(&port("0123456789", "1")).unwrap(), "flnet0123456789");
    assert!(p.tap(&port("not-hex", "1")).is_err());
    let err = p.bridge(&segment("1234567890", &[])).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(m) if m.contains("15")));
}

/// A segment from its id and attributes.
fn segment(id: &str, attributes: &[(&str, &str)]) -> Segment {
    Segment {
        network_id: id.to_string(),
        attributes: attributes
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
    }
}
