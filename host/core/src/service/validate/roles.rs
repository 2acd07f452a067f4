//! Checks of one role: its fields, its elasticity and scheduled policies,
//! and the parents it names.

use super::*;
use crate::service::policy::{ElasticityPolicy, ScheduledPolicy};

/// A role's policies, read while they were checked: used once the whole
/// template is valid.
#[derive(Default)]
pub(super) struct Policies {
    pub elasticity: Vec<ElasticityPolicy>,
    pub scheduled: Vec<ScheduledPolicy>,
}

/// Check one role; returns its name when it is valid, and its policies.
pub(super) fn check_role(
    c: &mut Checker,
    role: &mut Map<String, Value>,
    path: &str,
    service_inputs: &BTreeMap<String, inputs::UserInput>,
) -> (Option<String>, Policies) {
    let name = c.string(role, "name", path, true);
    let name = match name {
        Some(n) if !n.is_empty() && n.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') => {
            Some(n)
        }
        Some(n) => {
            c.fail(
                field(path, "name"),
                format!("`{n}` must be letters, digits and _ only"),
            );
            None
        }
        None => None,
    };
    c.one_of(role, "type", path, true, &["vm", "vr"]);
    let is_vr = role.get("type").and_then(Value::as_str) == Some("vr");
    let cardinality = c.uint(role, "cardinality", path, false).unwrap_or(0);
    c.uint(role, "template_id", path, true);
    if let Some(contents) = c.object(role, "template_contents", path)
        && let Some(nic) = contents.get("NIC")
        && !nic
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_object))
    {
        c.fail(
            field(path, "template_contents.NIC"),
            "must be an array of objects",
        );
    }
    check_placement(c, role, path);
    let role_inputs = check_inputs(c, role, path);
    // A role's values may also answer the service's inputs.
    if let Some(values) = role.get("user_inputs_values").and_then(Value::as_object) {
        for (key, value) in values {
            if !role_inputs.contains_key(key)
                && let Some(input) = service_inputs.get(key)
                && let Err(e) = inputs::check_value(input, value)
            {
                c.fail(
                    field(&field(path, "user_inputs_values"), key),
                    e.to_string(),
                );
            }
        }
    }
    match role.get("parents") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ps)) if ps.iter().all(Value::is_string) => {}
        Some(_) => c.fail(field(path, "parents"), "must be an array of role names"),
    }
    c.one_of(role, "shutdown_action", path, false, SHUTDOWN_ACTIONS);
    c.boolean(role, "on_hold", path);
    let min = c.uint(role, "min_vms", path, false);
    let max = c.uint(role, "max_vms", path, false);
    for key in ROLE_GUARDS {
        c.uint(role, key, path, false);
    }
    let mut policies = Policies::default();
    let elasticity = check_policies(c, role, "elasticity_policies", path, &mut policies, false);
    let scheduled = check_policies(c, role, "scheduled_policies", path, &mut policies, true);

    if is_vr {
        for key in ["min_vms", "max_vms"].iter().chain(ROLE_GUARDS) {
            if role.contains_key(*key) {
                c.fail(field(path, key), "a vr role does not scale");
            }
        }
        if elasticity + scheduled > 0 {
            c.fail(
                field(path, "elasticity_policies"),
                "a vr role does not scale",
            );
        }
        if cardinality > 1 {
            let floating = role
                .get("template_contents")
                .and_then(|t| t.get("NIC"))
                .and_then(Value::as_array)
                .is_some_and(|nics| {
                    nics.iter()
                        .filter_map(Value::as_object)
                        .any(|nic| nic.keys().any(|k| k.starts_with("FLOATING")))
                });
            if !floating {
                c.fail(
                    field(path, "cardinality"),
                    "a vr role with more than one VM needs a NIC with a FLOATING_IP",
                );
            }
        }
    }
    if let Some(min) = min
        && cardinality < min
    {
        c.fail(
            field(path, "cardinality"),
            format!("{cardinality} is below min_vms ({min})"),
        );
    }
    if let Some(max) = max
        && cardinality > max
    {
        c.fail(
            field(path, "cardinality"),
            format!("{cardinality} is above max_vms ({max})"),
        );
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        c.fail(
            field(path, "min_vms"),
            format!("{min} is above max_vms ({max})"),
        );
    }
    if elasticity + scheduled > 0 && (min.is_none() || max.is_none()) {
        c.fail(
            field(path, "max_vms"),
            "roles with policies must set both min_vms and max_vms",
        );
    }
    (name, policies)
}

/// A role's automatic-scaling guards, in seconds: OneFlow's `cooldown`,
/// the cooldowns by direction, the scale-in stabilization window and the
/// warm-up of new VMs.
const ROLE_GUARDS: &[&str] = &[
    "cooldown",
    "cooldown_out",
    "cooldown_in",
    "scale_in_stabilization",
    "warmup",
];

/// Check a role's policies and read them into `typed`; returns how many
/// there are. An expression or a schedule is parsed here, once: the typed
/// policy keeps what was parsed.
fn check_policies(
    c: &mut Checker,
    role: &mut Map<String, Value>,
    key: &str,
    path: &str,
    typed: &mut Policies,
    scheduled: bool,
) -> usize {
    let items = match role.get_mut(key) {
        None | Some(Value::Null) => return 0,
        Some(Value::Array(items)) => items,
        Some(other) => {
            let k = kind(other);
            c.fail(field(path, key), format!("must be an array, not {k}"));
            return 0;
        }
    };
    for (i, policy) in items.iter_mut().enumerate() {
        let at = format!("{}[{i}]", field(path, key));
        let Value::Object(p) = policy else {
            c.fail(at, "must be an object");
            continue;
        };
        // A policy that names a plugin takes its parameters in `params`;
        // OneFlow's type, adjust and expression are the built-in one's.
        if !scheduled && p.contains_key("plugin") {
            check_plugin_policy(c, p, &at);
            typed.elasticity.push(ElasticityPolicy::read(p.clone()));
            continue;
        }
        c.one_of(p, "type", &at, true, POLICY_TYPES);
        match p.get("adjust") {
            Some(Value::Number(n)) if n.is_i64() => {}
            Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
                let n = s.trim().parse::<i64>().unwrap_or_default();
                p.insert("adjust".into(), Value::from(n));
            }
            None | Some(Value::Null) => c.fail(field(&at, "adjust"), "is required"),
            Some(other) => c.fail(
                field(&at, "adjust"),
                format!("must be a whole number, not {other}"),
            ),
        }
        if let Some(step) = c.uint(p, "min_adjust_step", &at, false)
            && step == 0
        {
            c.fail(field(&at, "min_adjust_step"), "must be at least 1");
        }
        if scheduled {
            let start = c.string(p, "start_time", &at, false);
            let recurrence = c.string(p, "recurrence", &at, false);
            let zone = c.string(p, "time_zone", &at, false);
            let schedule = match flotilla_policy::Schedule::parse(
                recurrence.as_deref(),
                start.as_deref(),
                zone.as_deref(),
            ) {
                Ok(schedule) => Some(schedule),
                Err(e) => {
                    let target = if e.message.starts_with("set exactly one") {
                        at.clone()
                    } else {
                        field(&at, e.attribute)
                    };
                    c.fail(target, e.message);
                    None
                }
            };
            if let Some(rule) = c.string(p, "catch_up", &at, false)
                && flotilla_policy::CatchUp::parse(&rule).is_none()
            {
                c.fail(
                    field(&at, "catch_up"),
                    format!("`{rule}` is not one of latest, skip"),
                );
            }
            c.uint(p, "cooldown", &at, false);
            typed
                .scheduled
                .push(ScheduledPolicy::read_parsed(p.clone(), schedule));
        } else {
            let expression = match c.string(p, "expression", &at, true) {
                Some(e) if e.trim().is_empty() => {
                    c.fail(field(&at, "expression"), "must not be empty");
                    None
                }
                // Parsed now, so a policy that could never be evaluated is
                // refused when the template is created rather than failing
                // quietly at every evaluation, as in OneFlow; the typed
                // policy keeps the tree, so evaluations do not parse it.
                Some(e) => match flotilla_policy::ParsedExpression::parse(&e) {
                    Ok(parsed) => Some(parsed),
                    Err(error) => {
                        c.fail(field(&at, "expression"), format!("`{e}`: {error}"));
                        None
                    }
                },
                None => None,
            };
            for k in ["period_number", "period", "cooldown"] {
                c.uint(p, k, &at, false);
            }
            check_on_missing(c, p, &at);
            typed
                .elasticity
                .push(ElasticityPolicy::read_parsed(p.clone(), expression));
        }
    }
    items.len()
}

/// `{"plugin": "<id>", "params": {...}, "period", "period_number",
/// "cooldown"}`: the plugin need not be installed yet (its evaluations
/// say so until it is), but its id and parameters must be well formed.
fn check_plugin_policy(c: &mut Checker, p: &mut Map<String, Value>, at: &str) {
    if let Some(id) = c.string(p, "plugin", at, true) {
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_');
        if !valid {
            c.fail(
                field(at, "plugin"),
                format!("`{id}` is not a plugin id (lowercase letters, digits, - and _)"),
            );
        }
    }
    match p.get("params") {
        None | Some(Value::Null) => {}
        Some(Value::Object(params)) => {
            for (key, value) in params {
                if !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                    c.fail(
                        field(&field(at, "params"), key),
                        format!("must be a string, number or boolean, not {}", kind(value)),
                    );
                }
            }
        }
        Some(other) => c.fail(
            field(at, "params"),
            format!("must be an object, not {}", kind(other)),
        ),
    }
    for k in ["period_number", "period", "cooldown"] {
        c.uint(p, k, at, false);
    }
}

fn check_on_missing(c: &mut Checker, p: &Map<String, Value>, at: &str) {
    if let Some(rule) = c.string(p, "on_missing", at, false)
        && flotilla_policy::builtin::OnMissing::parse(&rule).is_none()
    {
        c.fail(
            field(at, "on_missing"),
            format!("`{rule}` is not one of hold, true, false"),
        );
    }
}

/// Every parent must be a role of the service, and parents must not form a
/// cycle (OneFlow accepts both and then never finishes deploying).
pub(super) fn check_parents(
    c: &mut Checker,
    names: &[Option<String>],
    role_parents: &[Vec<String>],
) {
    let known: BTreeSet<&str> = names.iter().flatten().map(String::as_str).collect();
    // By name, first occurrence (a repeated name is reported already).
    let mut parents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, ps) in names.iter().zip(role_parents) {
        if let Some(name) = name {
            parents.entry(name.clone()).or_insert_with(|| ps.clone());
        }
    }
    for (i, name) in names.iter().enumerate() {
        let Some(name) = name else { continue };
        for (j, parent) in role_parents[i].iter().enumerate() {
            if parent == name {
                c.fail(
                    format!("roles[{i}].parents[{j}]"),
                    format!("role `{name}` cannot be its own parent"),
                );
            } else if !known.contains(parent.as_str()) {
                c.fail(
                    format!("roles[{i}].parents[{j}]"),
                    format!("`{parent}` is not a role of this service"),
                );
            }
        }
    }
    // Depth-first search for a cycle among known roles.
    fn visit<'a>(
        node: &'a str,
        parents: &'a BTreeMap<String, Vec<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(pos) = stack.iter().position(|n| *n == node) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(node);
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node);
        for p in parents.get(node).into_iter().flatten() {
            if p != node
                && parents.contains_key(p)
                && let Some(cycle) = visit(p, parents, stack, done)
            {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    for name in names.iter().flatten() {
        if let Some(cycle) = visit(name, &parents, &mut Vec::new(), &mut done) {
            let i = names
                .iter()
                .position(|n| n.as_deref() == Some(cycle[0]))
                .unwrap_or(0);
            c.fail(
                format!("roles[{i}].parents"),
                format!("parents form a cycle: {}", cycle.join(" → ")),
            );
            return;
        }
    }
}

/// How the role's VMs are placed: `affinity` (OpenNebula's VM-group role
/// policies), and the `SCHED_REQUIREMENTS` and `SCHED_RANK` of its
/// `template_contents`, read now so a mistake is a 400 rather than VMs
/// that wait for a host for ever.
fn check_placement(c: &mut Checker, role: &Map<String, Value>, path: &str) {
    c.one_of(role, "affinity", path, false, &["AFFINED", "ANTI_AFFINED"]);
    let Some(contents) = role.get("template_contents").and_then(Value::as_object) else {
        return;
    };
    for (key, value) in contents {
        let upper = key.to_ascii_uppercase();
        let parsed = match upper.as_str() {
            "SCHED_REQUIREMENTS" | "SCHED_RANK" => {
                let Some(text) = value.as_str() else {
                    c.fail(
                        field(path, &format!("template_contents.{key}")),
                        "must be a string",
                    );
                    continue;
                };
                if upper == "SCHED_REQUIREMENTS" {
                    crate::fleet::Requirements::parse(text).map(|_| ())
                } else {
                    crate::fleet::Rank::parse(text).map(|_| ())
                }
            }
            _ => continue,
        };
        if let Err(e) = parsed {
            c.fail(
                field(path, &format!("template_contents.{key}")),
                e.to_string(),
            );
        }
    }
}
