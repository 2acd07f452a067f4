use super::*;
use serde_json::json;

/// The four-role example of the product seed.
fn seed_example() -> Value {
    json!({
        "name": "my-service",
        "deployment": "straight",
        "roles": [
            {"name": "frontend", "type": "vm", "cardinality": 1, "template_id": 0, "parents": ["backend"]},
            {"name": "backend", "type": "vm", "cardinality": 2, "template_id": 1, "parents": ["db"],
             "min_vms": 1, "max_vms": 5,
             "elasticity_policies": [{"type": "CHANGE", "adjust": 1, "expression": "CPU > 80", "period_number": 3, "period": 60}]},
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 2},
            {"name": "monitor", "type": "vm", "cardinality": 1, "template_id": 3}
        ]
    })
}

fn errors(v: Value) -> Vec<String> {
    parse_template(&v)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn accepts_the_seed_example() {
    let t = parse_template(&seed_example()).unwrap();
    assert_eq!(t.roles.len(), 4);
    assert_eq!(t.deployment, super::super::Deployment::Straight);
    assert_eq!(t.roles[1].max_vms, Some(5));
}

#[test]
fn normalizes_numeric_strings_and_keeps_unknown_keys() {
    let mut v = seed_example();
    v["roles"][0]["cardinality"] = json!("3");
    v["custom"] = json!({"team": "a"});
    let t = parse_template(&v).unwrap();
    assert_eq!(t.roles[0].cardinality, 3);
    assert_eq!(t.extra["custom"]["team"], "a");
}

#[test]
fn reports_every_problem_with_its_field() {
    let v = json!({
        "deployment": "sideways",
        "roles": [
            {"name": "web", "type": "vm", "cardinality": -1, "template_id": "x", "parents": ["ghost"]},
            {"name": "web", "type": "container", "template_id": 1},
            {"name": "bad name", "type": "vm", "template_id": 1}
        ]
    });
    let e = errors(v);
    for expected in [
        "name: is required",
        "deployment: `sideways` is not one of none, straight",
        "roles[0].cardinality: must be a whole number",
        "roles[0].template_id: must be a whole number",
        "roles[0].parents[0]: `ghost` is not a role of this service",
        "roles[1].name: role name `web` is repeated",
        "roles[1].type: `container` is not one of vm, vr",
        "roles[2].name: `bad name` must be letters, digits and _ only",
    ] {
        assert!(
            e.iter().any(|m| m.starts_with(expected)),
            "missing `{expected}` in {e:#?}"
        );
    }
}

#[test]
fn refuses_cycles_in_parents() {
    let mut v = seed_example();
    v["roles"][2]["parents"] = json!(["frontend"]);
    let e = errors(v);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("parents form a cycle: frontend → backend → db → frontend"),
        "{e:?}"
    );
    let mut v = seed_example();
    v["roles"][3]["parents"] = json!(["monitor"]);
    assert!(errors(v)[0].contains("cannot be its own parent"));
}

#[test]
fn checks_bounds_and_policies() {
    let mut v = seed_example();
    v["roles"][1]["cardinality"] = json!(9);
    v["roles"][0]["elasticity_policies"] = json!([{"type": "MORE", "expression": ""}]);
    let e = errors(v);
    assert!(
        e.iter()
            .any(|m| m == "roles[1].cardinality: 9 is above max_vms (5)"),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("roles[0].elasticity_policies[0].type")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m == "roles[0].elasticity_policies[0].adjust: is required"),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m == "roles[0].elasticity_policies[0].expression: must not be empty"),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("roles[0].max_vms: roles with policies")),
        "{e:#?}"
    );
    let mut v = seed_example();
    v["roles"][1]["scheduled_policies"] = json!([{"type": "CARDINALITY", "adjust": 2}]);
    assert!(
        errors(v)
            .iter()
            .any(|m| m.contains("exactly one of start_time and recurrence"))
    );
}

#[test]
fn checks_user_input_values_against_their_types() {
    let mut v = seed_example();
    v["user_inputs"] = json!({"WORKERS": "M|range|workers|1..4|2", "SIZE": "O|list|size|s,m,l|"});
    v["user_inputs_values"] = json!({"WORKERS": 9, "SIZE": "m"});
    v["roles"][0]["user_inputs_values"] = json!({"SIZE": "xl"});
    let e = errors(v);
    assert_eq!(
        e,
        [
            "user_inputs_values.WORKERS: 9 is outside 1..4",
            "roles[0].user_inputs_values.SIZE: `xl` is not one of s, m, l"
        ]
    );
    let mut v = seed_example();
    v["user_inputs"] = json!({"X": "M|colour|x"});
    assert!(errors(v)[0].starts_with("user_inputs.X: type `colour`"));
}

#[test]
fn checks_vr_roles_and_networks() {
    let mut v = seed_example();
    v["roles"][3] = json!({"name": "router", "type": "vr", "cardinality": 2, "template_id": 4,
                           "template_contents": {"NIC": [{"NETWORK_ID": "$Public"}]}});
    v["networks"] = json!({"Public": "M|network|public||id:0", "Bad": "whatever"});
    v["networks_values"] = json!([{"Public": {"reserve_from": "0", "template_id": "1"}}]);
    v["roles"][0]["template_contents"] =
        json!({"NIC": [{"NETWORK_ID": "$Public"}, {"NETWORK_ID": "$Nope"}]});
    let e = errors(v);
    assert!(
        e.contains(&"roles[0].template_contents.NIC[1].NETWORK_ID: `$Nope` is not a network of this template (declared: Bad, Public)".to_string()),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("roles[3].cardinality: a vr role with more than one VM")),
        "{e:#?}"
    );
    assert!(e.iter().any(|m| m.starts_with("networks.Bad:")), "{e:#?}");
    assert!(
        e.iter()
            .any(|m| m.starts_with("networks_values[0].Public: must have exactly one")),
        "{e:#?}"
    );
}

#[test]
fn refuses_non_objects_and_missing_roles() {
    assert_eq!(
        errors(json!([1])),
        ["template: must be a JSON object, not an array"]
    );
    assert_eq!(errors(json!({"name": "x"})), ["roles: is required"]);
    assert_eq!(
        errors(json!({"name": "x", "roles": []})),
        ["roles: a service needs at least one role"]
    );
}

#[test]
fn an_expression_that_does_not_parse_is_refused_naming_the_policy_and_the_column() {
    let mut v = seed_example();
    v["roles"][1]["elasticity_policies"] = json!([
        {"type": "CHANGE", "adjust": 1, "expression": "CPU > 80"},
        {"type": "CHANGE", "adjust": -1, "expression": "CPU < 20 &&"}
    ]);
    let e = errors(v);
    assert!(
        e.iter().any(|m| m
            == "roles[1].elasticity_policies[1].expression: `CPU < 20 &&`: at column 12: \
                expected a name or a number, found the end"),
        "{e:#?}"
    );
    assert!(
        !e.iter()
            .any(|m| m.starts_with("roles[1].elasticity_policies[0]")),
        "{e:#?}"
    );
}

#[test]
fn scheduled_policies_are_checked_as_cron_times_and_zones() {
    let mut v = seed_example();
    v["roles"][1]["scheduled_policies"] = json!([
        {"type": "CARDINALITY", "adjust": 3, "recurrence": "0 9 * * MON-FRI", "time_zone": "Europe/Madrid"},
        {"type": "CARDINALITY", "adjust": 2, "recurrence": "0 0 31 2 *"},
        {"type": "CARDINALITY", "adjust": 2, "recurrence": "0 9 * * *", "time_zone": "Moon/Base"},
        {"type": "CARDINALITY", "adjust": 2, "start_time": "next friday"},
        {"type": "CARDINALITY", "adjust": 2, "start_time": "2026-12-24 18:00", "catch_up": "always"}
    ]);
    let e = errors(v);
    let at = |i: usize, rest: &str| format!("roles[1].scheduled_policies[{i}]{rest}");
    assert!(!e.iter().any(|m| m.starts_with(&at(0, ""))), "{e:#?}");
    assert!(
        e.contains(&format!(
            "{}: `0 0 31 2 *` never matches a date",
            at(1, ".recurrence")
        )),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with(&at(2, ".time_zone: `Moon/Base`"))),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with(&at(3, ".start_time: `next friday`"))),
        "{e:#?}"
    );
    assert!(
        e.contains(&format!(
            "{}: `always` is not one of latest, skip",
            at(4, ".catch_up")
        )),
        "{e:#?}"
    );
    assert!(
        !e.iter().any(|m| m.starts_with(&at(4, ".start_time"))),
        "{e:#?}"
    );
}
