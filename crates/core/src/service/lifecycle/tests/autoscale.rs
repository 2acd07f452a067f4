//! Automatic scaling by metric policies, on a service driven as the engine
//! drives it, with the VMs' reported values set by hand.

use super::testkit::{Kit, template};
use crate::service::lifecycle::{DECISIONS_KEPT, VmValues};
use crate::service::state::ServiceState;
use flotilla_model::Metric;
use serde_json::json;

const CADENCE: u64 = 15_000;

fn with_policies(policies: serde_json::Value) -> Kit {
    let mut t = template("straight", json!({}));
    t["roles"][1]["elasticity_policies"] = policies;
    Kit::new(t).start().settled()
}

fn cpu(k: &mut Kit, value: f64) {
    k.values = VmValues {
        monitoring: vec![Metric {
            name: "CPU".into(),
            value,
        }],
        attributes: Vec::new(),
    };
    let effects = k.poll();
    k.drive(effects);
}

/// One evaluation round `CADENCE` after the last.
fn round(k: &mut Kit) -> usize {
    k.later(CADENCE);
    let effects = k.s.autoscale(k.now, CADENCE);
    let n = effects.len();
    k.drive(effects).settle();
    n
}

#[test]
fn a_role_scales_out_after_period_number_true_evaluations_and_says_why() {
    let mut k = with_policies(json!([
        {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80", "period_number": 2}
    ]));
    assert_eq!(k.s.state, ServiceState::Running);
    cpu(&mut k, 95.0);
    assert_eq!(round(&mut k), 0, "one true evaluation of two");
    assert_eq!(round(&mut k), 1, "the second fires: one create");
    let web = k.s.role("web").unwrap();
    assert_eq!(web.cardinality, 2);
    let last = web.autoscale.decisions.back().unwrap();
    assert_eq!(last.trace, "CPU[95] > 80 → true");
    assert_eq!(last.streak, "2/2 consecutive");
    assert_eq!(last.action, "scale to 2");
    assert!(
        k.s.log.iter().any(|l| l.message
            == "Role web: elasticity_policies[0] fired (CPU[95] > 80 → true): scaling to 2"),
        "{:#?}",
        k.s.log
    );
    // The scale put the service in COOLDOWN: nothing is evaluated there.
    assert_eq!(k.s.state, ServiceState::Cooldown);
    let kept = k.s.role("web").unwrap().autoscale.decisions.len();
    assert_eq!(round(&mut k), 0);
    assert_eq!(k.s.role("web").unwrap().autoscale.decisions.len(), kept);
}

#[test]
fn a_role_is_not_scaled_past_its_bounds_and_each_evaluation_is_kept() {
    // max_vms 3: from 1 VM, +5 is clamped to 3.
    let mut k = with_policies(json!([
        {"type": "CHANGE", "adjust": 5, "expression": "CPU > 80"}
    ]));
    cpu(&mut k, 99.0);
    assert_eq!(round(&mut k), 2);
    let web = k.s.role("web").unwrap();
    assert_eq!(web.cardinality, 3);
    assert_eq!(
        web.autoscale.decisions.back().unwrap().guards,
        vec!["wanted 6, clamped to max_vms 3".to_string()]
    );
}

#[test]
fn a_missing_metric_or_a_false_expression_changes_nothing() {
    let mut k = with_policies(json!([
        {"type": "CHANGE", "adjust": 1, "expression": "MEM_USED > 80"},
        {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"}
    ]));
    cpu(&mut k, 10.0);
    for _ in 0..3 {
        assert_eq!(round(&mut k), 0);
    }
    let web = k.s.role("web").unwrap();
    assert_eq!(web.cardinality, 1);
    let traces: Vec<&str> = web
        .autoscale
        .decisions
        .iter()
        .map(|d| d.trace.as_str())
        .collect();
    assert_eq!(
        traces[..2],
        ["MEM_USED[--] > 80 → missing", "CPU[10] > 80 → false"]
    );
    assert_eq!(web.autoscale.decisions.len(), 6);
}

#[test]
fn evaluations_wait_for_the_cadence_and_the_kept_ones_are_bounded() {
    let mut k = with_policies(json!([
        {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"}
    ]));
    cpu(&mut k, 10.0);
    assert!(k.s.autoscale(k.now, CADENCE).is_empty());
    // Within the cadence: not evaluated again.
    k.later(CADENCE - 1);
    k.s.autoscale(k.now, CADENCE);
    assert_eq!(k.s.role("web").unwrap().autoscale.decisions.len(), 1);
    for _ in 0..DECISIONS_KEPT + 10 {
        round(&mut k);
    }
    assert_eq!(
        k.s.role("web").unwrap().autoscale.decisions.len(),
        DECISIONS_KEPT
    );
    // Roles without policies keep nothing.
    assert!(k.s.role("db").unwrap().autoscale.is_empty());
}
