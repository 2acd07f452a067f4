use super::*;
use crate::service::lifecycle::{Node, VmValues};
use crate::service::model::Role;
use crate::service::policy::ElasticityPolicy;
use crate::service::state::RoleState;
use flotilla_model::{KeyValue, Metric};
use serde_json::{Value, json};

fn node(n: u64, state: VmState, cpu: Option<f64>, reported: Option<&str>) -> Node {
    Node {
        vm_number: n,
        operation_id: format!("op-{n}"),
        name: format!("web_{n}"),
        vm_id: Some(n.to_string()),
        vm_state: Some(state),
        ready: true,
        terminating: false,
        reason: None,
        placement: None,
        unplaced: false,
        values: VmValues {
            monitoring: cpu
                .map(|v| Metric {
                    name: "CPU".into(),
                    value: v,
                })
                .into_iter()
                .collect(),
            attributes: reported
                .map(|v| KeyValue {
                    key: "CPU".into(),
                    value: v.into(),
                })
                .into_iter()
                .collect(),
            at_ms: 1_000_000,
        },
        running_since_ms: Some(0),
    }
}

fn role(nodes: Vec<Node>) -> RoleRuntime {
    RoleRuntime {
        name: "web".into(),
        state: RoleState::Running,
        cardinality: nodes.len() as u32,
        last_vmname: nodes.len() as u64,
        nodes,
        on_hold: false,
        scale_way: None,
        autoscale: Default::default(),
        vrouter: None,
    }
}

/// A policy as a template holds it, read; it must read.
fn spec(json: Value) -> ElasticityPolicy {
    let p = read(json);
    assert!(p.rule.is_ok(), "{:?}", p.rule);
    p
}

fn read(json: Value) -> ElasticityPolicy {
    ElasticityPolicy::read(json.as_object().unwrap().clone())
}

const FRESH: Freshness = Freshness {
    max_age_ms: 60_000,
    warmup_ms: 0,
};

fn cpu_of(samples: &[VmSample]) -> Vec<(String, Option<f64>)> {
    samples
        .iter()
        .map(|s| (s.vm_id.clone(), s.value("CPU")))
        .collect()
}

#[test]
fn policies_read_running_vms_with_what_a_vm_reports_before_monitoring() {
    let r = role(vec![
        node(0, VmState::Running, Some(80.0), None),
        // What the VM reported wins over monitoring.
        node(2, VmState::Running, Some(10.0), Some("70.333")),
        // Not running: not looked at.
        node(3, VmState::Poweroff, Some(0.0), None),
        // Running but reports nothing: counted, with no CPU.
        node(4, VmState::Running, None, None),
    ]);
    let (samples, inputs) = samples(&r, &["CPU".into()], FRESH, 1_000_000);
    assert_eq!(
        cpu_of(&samples),
        [
            ("0".to_string(), Some(80.0)),
            ("2".to_string(), Some(70.333)),
            ("4".to_string(), None)
        ]
    );
    assert_eq!(inputs.len(), 3);
    assert_eq!(inputs[1].values, vec![Metric::new("CPU", 70.333)]);
    // The built-in policy averages them as OneFlow does.
    let input = Evaluation {
        role: RoleView {
            service_id: 1,
            role_name: "web".into(),
            cardinality: 3,
            min_vms: 1,
            max_vms: 3,
            cooldown: 0,
        },
        params: vec![],
        vms: samples,
        now: 0,
        state: None,
    };
    assert_eq!(input.average("CPU"), Some(75.17));
}

#[test]
fn warming_up_and_stale_vms_are_recorded_but_not_read() {
    let mut young = node(1, VmState::Running, Some(99.0), None);
    young.running_since_ms = Some(990_000);
    let mut stale = node(2, VmState::Running, Some(1.0), None);
    stale.values.at_ms = 1_000_000 - 95_000;
    let r = role(vec![
        node(0, VmState::Running, Some(50.0), None),
        young,
        stale,
    ]);
    let freshness = Freshness {
        max_age_ms: 60_000,
        warmup_ms: 30_000,
    };
    let (samples, inputs) = samples(&r, &[], freshness, 1_000_000);
    assert_eq!(cpu_of(&samples), [("0".to_string(), Some(50.0))]);
    let left: Vec<Option<&str>> = inputs.iter().map(|i| i.left_out.as_deref()).collect();
    assert_eq!(
        left,
        [None, Some("warming up: 20 s left"), Some("stale: 95 s old")]
    );
    assert_eq!(inputs[2].age_s, 95);
}

#[test]
fn a_cooldown_comes_from_the_policy_then_the_role_by_direction_then_the_server() {
    let role: Role = serde_json::from_value(json!({
        "name": "web", "type": "vm", "template_id": 0,
        "cooldown": 100, "cooldown_in": 300
    }))
    .unwrap();
    assert_eq!(
        cooldown_s(Some(5), &role, Direction::In, Some(1), 60),
        (5, "the policy's cooldown")
    );
    assert_eq!(
        cooldown_s(None, &role, Direction::In, Some(1), 60),
        (300, "the role's cooldown_in")
    );
    assert_eq!(
        cooldown_s(None, &role, Direction::Out, None, 60),
        (100, "the role's cooldown")
    );
    let bare: Role =
        serde_json::from_value(json!({"name": "web", "type": "vm", "template_id": 0})).unwrap();
    assert_eq!(
        cooldown_s(None, &bare, Direction::Out, None, 60),
        (60, "the server's default cooldown")
    );
    assert_eq!(
        cooldown_s(None, &bare, Direction::Out, Some(7), 60),
        (7, "the plugin's suggestion")
    );
}

#[test]
fn the_stabilization_window_remembers_the_highest_recent_recommendation() {
    let recent = [(1_000, 5), (50_000, 3), (100_000, 2)];
    assert_eq!(highest_recent(&recent, 100_000, 100_000), Some(5));
    assert_eq!(highest_recent(&recent, 60_000, 100_000), Some(3));
    assert_eq!(highest_recent(&[], 60_000, 100_000), None);
}

#[test]
fn policies_are_read_from_the_template_or_refused_with_the_reason() {
    let p = spec(
        json!({"type": "percentage_change", "adjust": "-10", "min_adjust_step": 2,
        "expression": "cpu < 20 && MEM > 1", "period": "30", "period_number": 2,
        "cooldown": 120, "last_eval": 7, "true_evals": 1}),
    );
    assert_eq!(p.plugin(), Some("expression"));
    assert_eq!((p.period_s(), p.cooldown_s()), (30, Some(120)));
    assert_eq!(p.metrics(), ["CPU", "MEM"]);
    // The server's runtime keys are not the plugin's business.
    assert!(flotilla_model::lookup(&p.params(), "last_eval").is_none());
    assert_eq!(flotilla_model::lookup(&p.params(), "adjust"), Some("-10"));

    let p = spec(
        json!({"plugin": "target-tracking", "period": 5, "period_number": 2,
        "params": {"metric": "CPU", "target": 60, "tolerance": "0.1"}}),
    );
    assert_eq!(p.plugin(), Some("target-tracking"));
    assert_eq!(p.period_s(), 5);
    assert_eq!(p.metrics(), ["CPU"]);
    assert_eq!(flotilla_model::lookup(&p.params(), "target"), Some("60"));
    assert_eq!(
        flotilla_model::lookup(&p.params(), "period_number"),
        Some("2")
    );

    for (bad, reason) in [
        (
            json!({"type": "CHANGE", "adjust": 1}),
            "expression: missing",
        ),
        (
            json!({"type": "CHANGE", "adjust": 1, "expression": "A >"}),
            "expression: at column 4",
        ),
        (json!({"plugin": 7}), "plugin: not a string"),
    ] {
        let e = read(bad).rule.unwrap_err().to_string();
        assert!(e.starts_with(reason), "{e}");
    }
}
