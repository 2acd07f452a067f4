//! Attribute names: the OneFlow 6.x → 7 conversion of templates, and the
//! warnings for attributes OneFlow's schema does not have. OneFlow keeps
//! unknown attributes (clients store annotations in them), so Flotilla
//! keeps them too; but a typo (`cardinalty`) would otherwise pass silently
//! and deploy something else than meant, so each one is named, with the
//! known attribute it most resembles.

use super::validate::FieldError;
use serde_json::{Map, Value};

/// Service template attributes of OneFlow's schema, those the server
/// writes into a service (`state`, `start_time`, `log`), OneFlow 6's
/// names (`custom_attrs`, converted when present), and what Sunstone adds
/// to render a template (`user_inputs_metadata`, `logo`).
const SERVICE_KEYS: &[&str] = &[
    "name",
    "deployment",
    "description",
    "user_inputs_metadata",
    "logo",
    "shutdown_action",
    "roles",
    "user_inputs",
    "user_inputs_values",
    "ready_status_gate",
    "automatic_deletion",
    "networks",
    "networks_values",
    "on_hold",
    "registration_time",
    "custom_attrs",
    "custom_attrs_values",
    "state",
    "start_time",
    "log",
];

/// Role attributes of OneFlow's VM and VR role schemas, the ones the server
/// writes (`state`, `nodes`, `last_vmname`, `vrouter_id`, `vrouter_ips`,
/// Flotilla's `scheduled_actions`) and OneFlow 6's names.
const ROLE_KEYS: &[&str] = &[
    "name",
    "type",
    "cardinality",
    "template_id",
    "template_contents",
    "user_inputs",
    "user_inputs_values",
    "parents",
    "shutdown_action",
    "min_vms",
    "max_vms",
    "cooldown",
    "cooldown_out",
    "cooldown_in",
    "scale_in_stabilization",
    "warmup",
    "on_hold",
    "affinity",
    "elasticity_policies",
    "scheduled_policies",
    "state",
    "nodes",
    "last_vmname",
    "vrouter_id",
    "vrouter_ips",
    "scheduled_actions",
    "vm_template",
    "vm_template_contents",
    "custom_attrs",
    "custom_attrs_values",
];

/// Elasticity policy attributes, with those the server writes.
const ELASTICITY_KEYS: &[&str] = &[
    "type",
    "adjust",
    "min_adjust_step",
    "period_number",
    "period",
    "expression",
    "cooldown",
    "on_missing",
    "plugin",
    "params",
    "last_eval",
    "true_evals",
    "expression_evaluated",
];

/// Scheduled policy attributes (`cooldown` is read by OneFlow though its
/// schema does not list it), with the one the server writes.
const SCHEDULED_KEYS: &[&str] = &[
    "type",
    "adjust",
    "min_adjust_step",
    "start_time",
    "recurrence",
    "time_zone",
    "catch_up",
    "cooldown",
    "last_eval",
];

/// Whether a template is in OneFlow 6's shape: every role names its VM
/// template with `vm_template` (or `vm_template_contents`), as OneFlow 7
/// decides (`old_format?`).
pub fn is_6x(doc: &Map<String, Value>) -> bool {
    match doc.get("roles") {
        Some(Value::Array(roles)) if !roles.is_empty() => roles.iter().all(|r| {
            r.as_object().is_some_and(|r| {
                r.contains_key("vm_template") || r.contains_key("vm_template_contents")
            })
        }),
        _ => false,
    }
}

/// Convert a OneFlow 6 template as OneFlow 7 does: per role
/// `vm_template` → `template_id`, `type` = `vm`, `custom_attrs` →
/// `user_inputs`, `custom_attrs_values` → `user_inputs_values`,
/// `vm_template_contents` (OpenNebula template text) → `template_contents`
/// (an object); at the service level `custom_attrs(_values)` →
/// `user_inputs(_values)`. Attributes already in the new shape win.
/// Returns whether it converted anything.
pub fn upgrade_6x(doc: &mut Map<String, Value>) -> bool {
    if !is_6x(doc) {
        return false;
    }
    if let Some(Value::Array(roles)) = doc.get_mut("roles") {
        for role in roles.iter_mut().filter_map(Value::as_object_mut) {
            rename(role, "vm_template", "template_id");
            role.entry("type").or_insert_with(|| Value::from("vm"));
            rename(role, "custom_attrs", "user_inputs");
            rename(role, "custom_attrs_values", "user_inputs_values");
            if let Some(contents) = role.remove("vm_template_contents") {
                let contents = match contents {
                    Value::String(text) => Value::Object(template_contents(&text)),
                    other => other,
                };
                role.entry("template_contents").or_insert(contents);
            }
        }
    }
    rename(doc, "custom_attrs", "user_inputs");
    rename(doc, "custom_attrs_values", "user_inputs_values");
    true
}

/// Move `from` to `to` unless `to` is already there (then `from` is
/// dropped: the new name wins).
fn rename(obj: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = obj.remove(from) {
        obj.entry(to).or_insert(v);
    }
}

/// OpenNebula template text (`CPU = "1"`, `NIC = [ NETWORK_ID = "0" ]`, one
/// attribute a line) as the JSON object OneFlow 7's upgrade makes of it:
/// quotes dropped, a vector becomes an array of one object, a repeated
/// attribute an array of its values.
pub fn template_contents(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for line in logical_lines(text) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() {
            continue;
        }
        let value = value.trim().replace('"', "");
        let value = match value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            Some(inner) => {
                let mut vector = Map::new();
                for element in inner.split(',') {
                    if let Some((k, v)) = element.split_once('=')
                        && !k.trim().is_empty()
                    {
                        vector.insert(k.trim().to_string(), Value::from(v.trim()));
                    }
                }
                Value::Object(vector)
            }
            None => Value::from(value),
        };
        match out.get_mut(key) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                out.insert(key.to_string(), value);
            }
        }
    }
    // A vector is always a list of them (NIC = [..] is one NIC).
    for value in out.values_mut() {
        if value.is_object() {
            *value = Value::Array(vec![value.take()]);
        }
    }
    out
}

/// Lines, but a vector (`[ ... ]`) spanning lines is one.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for ch in text.chars() {
        match ch {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '\n' if depth == 0 => {
                lines.push(std::mem::take(&mut current));
                continue;
            }
            '\n' => {
                current.push(' ');
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    lines.push(current);
    lines
}

/// One warning per attribute OneFlow's schema does not have, and per user
/// input value no user input declares; each names the known one it most
/// resembles when one is close. `document` is the template as sent (a
/// OneFlow 6 template is read as converted).
pub fn unknown(document: &Value) -> Vec<FieldError> {
    let Value::Object(doc) = document else {
        return Vec::new();
    };
    let mut doc = doc.clone();
    upgrade_6x(&mut doc);
    let mut out = Vec::new();
    check_keys(&doc, SERVICE_KEYS, "", &mut out);
    let service_inputs = declared(&doc);
    let roles: Vec<&Map<String, Value>> = doc
        .get("roles")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    // Service-level values may answer any role's inputs.
    let mut all_inputs = service_inputs.clone();
    for role in &roles {
        all_inputs.extend(declared(role));
    }
    check_values(&doc, &all_inputs, "", &mut out);
    for (i, role) in doc
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(role) = role.as_object() else {
            continue;
        };
        let path = format!("roles[{i}]");
        out.extend(role_unknown(role, &path, &service_inputs));
    }
    out
}

/// The warnings for one role (also for a role added to a service).
pub fn role_unknown(
    role: &Map<String, Value>,
    path: &str,
    service_inputs: &[String],
) -> Vec<FieldError> {
    let mut out = Vec::new();
    check_keys(role, ROLE_KEYS, path, &mut out);
    let mut inputs = declared(role);
    inputs.extend(service_inputs.iter().cloned());
    check_values(role, &inputs, path, &mut out);
    for (key, known) in [
        ("elasticity_policies", ELASTICITY_KEYS),
        ("scheduled_policies", SCHEDULED_KEYS),
    ] {
        for (j, policy) in role
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(policy) = policy.as_object() {
                check_keys(policy, known, &format!("{path}.{key}[{j}]"), &mut out);
            }
        }
    }
    out
}

/// The names of the user inputs `obj` declares.
fn declared(obj: &Map<String, Value>) -> Vec<String> {
    obj.get("user_inputs")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A key as a warning shows it: cut short, so that a huge key does not
/// make a huge answer.
fn shown(key: &str) -> String {
    const MAX: usize = 64;
    if key.chars().count() <= MAX {
        key.to_string()
    } else {
        format!("{}…", key.chars().take(MAX).collect::<String>())
    }
}

fn check_keys(obj: &Map<String, Value>, known: &[&str], path: &str, out: &mut Vec<FieldError>) {
    for key in obj.keys() {
        if known.contains(&key.as_str()) {
            continue;
        }
        let hint = closest(key, known.iter().copied())
            .map(|k| format!(", did you mean {k}?"))
            .unwrap_or_default();
        out.push(FieldError {
            field: at(path, &shown(key)),
            reason: format!("unknown attribute{hint}"),
        });
    }
}

fn check_values(
    obj: &Map<String, Value>,
    inputs: &[String],
    path: &str,
    out: &mut Vec<FieldError>,
) {
    let Some(values) = obj.get("user_inputs_values").and_then(Value::as_object) else {
        return;
    };
    for key in values.keys() {
        if inputs.contains(key) {
            continue;
        }
        let hint = closest(key, inputs.iter().map(String::as_str))
            .map(|k| format!(", did you mean {k}?"))
            .unwrap_or_default();
        out.push(FieldError {
            field: at(&at(path, "user_inputs_values"), &shown(key)),
            reason: format!("not a declared user input{hint}"),
        });
    }
}

/// The candidate closest to `word` by edit distance (case ignored), if it
/// is close enough to be a likely typo: one edit for short names, up to a
/// third of the name for longer ones.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let word_lower = word.to_lowercase();
    // Long keys are not typos of short names; bound the work too.
    if word_lower.chars().count() > 64 {
        return None;
    }
    candidates
        .map(|c| (distance(&word_lower, &c.to_lowercase()), c))
        .filter(|(d, c)| {
            let longest = word_lower.chars().count().max(c.chars().count());
            *d <= (longest / 3).max(1)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions,
/// substitutions and swaps of two neighbours (`deploymnet`) cost one.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn warnings(v: Value) -> Vec<String> {
        unknown(&v).iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn names_each_unknown_attribute_with_the_closest_known_one() {
        let w = warnings(json!({
            "name": "x", "deploymnet": "straight", "team": "a",
            "user_inputs": {"APP_WORKERS": "O|number|workers||2"},
            "user_inputs_values": {"APP_WORKRS": "3"},
            "roles": [{"name": "web", "type": "vm", "template_id": 0, "cardinalty": 2,
                       "parent": ["db"], "max_vm": 3,
                       "elasticity_policies": [{"type": "CHANGE", "adjust": 1, "expresion": "CPU > 1"}]}]
        }));
        assert_eq!(
            w,
            [
                "deploymnet: unknown attribute, did you mean deployment?",
                "team: unknown attribute",
                "user_inputs_values.APP_WORKRS: not a declared user input, did you mean APP_WORKERS?",
                "roles[0].cardinalty: unknown attribute, did you mean cardinality?",
                "roles[0].max_vm: unknown attribute, did you mean max_vms?",
                "roles[0].parent: unknown attribute, did you mean parents?",
                "roles[0].elasticity_policies[0].expresion: unknown attribute, did you mean expression?",
            ]
        );
    }

    #[test]
    fn known_and_server_written_attributes_are_silent() {
        let w = warnings(json!({
            "name": "x", "description": "d", "registration_time": 1, "state": 2, "log": [],
            "user_inputs": {"A": "O|text|a"}, "user_inputs_values": {"A": "v", "B": "w"},
            "roles": [{"name": "web", "type": "vm", "template_id": 0, "nodes": [], "last_vmname": 2,
                       "user_inputs": {"B": "O|text|b"}, "user_inputs_values": {"A": "1"},
                       "scheduled_policies": [{"type": "CHANGE", "adjust": 1, "recurrence": "* * * * *", "last_eval": 1}]}]
        }));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn converts_a_oneflow_6_template() {
        let mut doc = json!({
            "name": "old", "custom_attrs": {"A": "M|text|a"}, "custom_attrs_values": {"A": "x"},
            "roles": [{"name": "web", "vm_template": 4, "cardinality": 1,
                       "custom_attrs": {"B": "O|text|b"},
                       "vm_template_contents": "MEMORY = \"512\"\nNIC = [ NETWORK_ID = \"0\", NAME = \"eth0\" ]\nNIC = [\n  NETWORK_ID = \"1\" ]\n"}]
        });
        assert!(upgrade_6x(doc.as_object_mut().unwrap()));
        assert_eq!(
            doc,
            json!({
                "name": "old", "user_inputs": {"A": "M|text|a"}, "user_inputs_values": {"A": "x"},
                "roles": [{"name": "web", "template_id": 4, "type": "vm", "cardinality": 1,
                           "user_inputs": {"B": "O|text|b"},
                           "template_contents": {"MEMORY": "512",
                               "NIC": [{"NETWORK_ID": "0", "NAME": "eth0"}, {"NETWORK_ID": "1"}]}}]
            })
        );
        // A OneFlow 7 template is left alone.
        let mut new =
            json!({"name": "n", "roles": [{"name": "a", "type": "vm", "template_id": 0}]});
        assert!(!upgrade_6x(new.as_object_mut().unwrap()));
    }

    #[test]
    fn suggestions_only_when_close() {
        let known = ["cardinality", "name", "max_vms"];
        assert_eq!(
            closest("CARDINALITY", known.iter().copied()),
            Some("cardinality")
        );
        assert_eq!(closest("nmae", known.iter().copied()), Some("name"));
        assert_eq!(closest("colour", known.iter().copied()), None);
        assert_eq!(closest(&"x".repeat(10_000), known.iter().copied()), None);
    }
}
