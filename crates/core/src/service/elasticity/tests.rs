use super::*;
use crate::service::lifecycle::{Node, VmValues};
use crate::service::state::RoleState;
use flotilla_model::{KeyValue, Metric};
use serde_json::json;

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
        },
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
    }
}

fn policy(json: Value) -> MetricPolicy {
    MetricPolicy::read(json.as_object().unwrap()).unwrap()
}

#[test]
fn the_average_counts_running_vms_that_report_and_prefers_what_a_vm_reports() {
    let r = role(vec![
        node(0, VmState::Running, Some(80.0), None),
        node(1, VmState::Running, Some(91.0), None),
        // What the VM reported wins over monitoring.
        node(2, VmState::Running, Some(10.0), Some("70.333")),
        // Not running: left out.
        node(3, VmState::Poweroff, Some(0.0), None),
        // Running but reports nothing: left out of the average.
        node(4, VmState::Running, None, None),
    ]);
    assert_eq!(role_average(&r, "CPU"), Some(80.44));
    assert_eq!(role_average(&r, "MEMORY"), None);
    assert_eq!(role_average(&role(vec![]), "CPU"), None);
}

#[test]
fn a_policy_fires_after_its_streak_and_scales_within_the_bounds() {
    let p = policy(
        json!({"type": "CHANGE", "adjust": 2, "expression": "CPU > 80",
                          "period": 60, "period_number": 3}),
    );
    let b = Bounds { min: 1, max: 4 };
    let mut s = Streak::default();
    let cpu = |v: f64| move |name: &str| (name == "CPU").then_some(v);
    // (seconds, cpu, streak, scale_to); evaluations before `period` passed
    // are not made at all.
    let rows = [
        (0, 85.3, Some("1/3 consecutive"), None),
        (30, 99.0, None, None),
        (60, 90.0, Some("2/3 consecutive"), None),
        (120, 95.0, Some("3/3 consecutive"), Some(4)),
    ];
    for (t, v, streak, scale_to) in rows {
        let d = evaluate(&p, &mut s, cpu(v), 3, b, None, t * 1000);
        match streak {
            None => assert!(d.is_none(), "at {t}s"),
            Some(text) => {
                let d = d.unwrap();
                assert_eq!(d.streak, text, "at {t}s");
                assert_eq!(d.scale_to, scale_to, "at {t}s");
            }
        }
    }
    // 3 + 2 = 5 is clamped to max_vms, and the decision says so.
    let p1 = policy(json!({"type": "CHANGE", "adjust": 2, "expression": "CPU > 80"}));
    let d = evaluate(&p1, &mut Streak::default(), cpu(95.0), 3, b, None, 0).unwrap();
    assert_eq!(d.scale_to, Some(4));
    assert_eq!(d.guards, vec!["wanted 5, clamped to max_vms 4".to_string()]);
    assert_eq!(d.trace, "CPU[95] > 80 → true");
}

#[test]
fn a_missing_metric_changes_nothing_and_says_so() {
    let p = policy(json!({"type": "CHANGE", "adjust": -1, "expression": "CPU < 20"}));
    let d = evaluate(
        &p,
        &mut Streak::default(),
        |_| None,
        3,
        Bounds { min: 1, max: 5 },
        None,
        0,
    )
    .unwrap();
    assert_eq!(d.scale_to, None);
    assert_eq!(d.truth, Truth::Missing);
    assert_eq!(d.trace, "CPU[--] < 20 → missing");
    assert_eq!(d.streak, "metric missing (CPU): starts over");
}

#[test]
fn a_cooldown_holds_a_firing_policy_and_says_how_long() {
    let p = policy(json!({"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"}));
    let b = Bounds { min: 1, max: 5 };
    let mut s = Streak::default();
    let d = evaluate(&p, &mut s, |_| Some(90.0), 2, b, Some(45_500), 10_000).unwrap();
    assert_eq!(d.scale_to, None);
    assert_eq!(d.guards, vec!["cooldown: 36 s left".to_string()]);
    // Still true once the cooldown ended: fires.
    let d = evaluate(&p, &mut s, |_| Some(90.0), 2, b, Some(45_500), 46_000).unwrap();
    assert_eq!(d.scale_to, Some(3));
}

#[test]
fn a_role_at_its_bound_is_left_as_it_is() {
    let p = policy(json!({"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"}));
    let d = evaluate(
        &p,
        &mut Streak::default(),
        |_| Some(90.0),
        5,
        Bounds { min: 1, max: 5 },
        None,
        0,
    )
    .unwrap();
    assert_eq!(d.scale_to, None);
    assert_eq!(d.guards, vec!["wanted 6, clamped to max_vms 5".to_string()]);
}

#[test]
fn policies_are_read_from_the_template_or_refused_with_the_reason() {
    let p = policy(
        json!({"type": "percentage_change", "adjust": "-10", "min_adjust_step": 2,
                          "expression": "cpu < 20", "period": "30", "period_number": 2, "cooldown": 120}),
    );
    assert_eq!(p.adjustment.kind, AdjustmentKind::PercentageChange);
    assert_eq!(
        (p.adjustment.adjust, p.adjustment.min_adjust_step),
        (-10, 2)
    );
    assert_eq!(
        (p.period_s, p.period_number, p.cooldown_s),
        (30, 2, Some(120))
    );
    assert_eq!(p.expression.to_string(), "CPU < 20");
    for (bad, reason) in [
        (
            json!({"type": "MORE", "adjust": 1, "expression": "A > 1"}),
            "type",
        ),
        (json!({"type": "CHANGE", "expression": "A > 1"}), "adjust"),
        (
            json!({"type": "CHANGE", "adjust": 1}),
            "expression: missing",
        ),
        (
            json!({"type": "CHANGE", "adjust": 1, "expression": "A >"}),
            "expression: at column 4",
        ),
    ] {
        let e = MetricPolicy::read(bad.as_object().unwrap()).unwrap_err();
        assert!(e.starts_with(reason), "{e}");
    }
}
