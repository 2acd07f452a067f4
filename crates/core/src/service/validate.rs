//! Validation of service templates: every problem found, each naming its
//! field (`roles[1].cardinality`) and the reason. OneFlow stops at the first
//! problem and accepts unknown parents and cycles (then hangs deploying);
//! Flotilla reports them all and refuses those.

use super::inputs;
use super::model::ServiceTemplate;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            reason: reason.into(),
        });
    }

    /// A string attribute; `None` when absent (or null) or wrong.
    fn string(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
        required: bool,
    ) -> Option<String> {
        match obj.get(key) {
            None | Some(Value::Null) => {
                if required {
                    self.fail(field(path, key), "is required");
                }
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.fail(
                    field(path, key),
                    format!("must be a string, not {}", kind(other)),
                );
                None
            }
        }
    }

    fn one_of(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
        required: bool,
        allowed: &[&str],
    ) {
        if let Some(s) = self.string(obj, key, path, required)
            && !allowed.contains(&s.as_str())
        {
            self.fail(
                field(path, key),
                format!("`{s}` is not one of {}", allowed.join(", ")),
            );
        }
    }

    /// A non-negative integer; a JSON integer or a string of digits (as
    /// OneFlow's clients send them). Normalized to a number in `obj`.
    fn uint(
        &mut self,
        obj: &mut Map<String, Value>,
        key: &str,
        path: &str,
        required: bool,
    ) -> Option<u64> {
        let parsed = match obj.get(key) {
            None | Some(Value::Null) => {
                if required {
                    self.fail(field(path, key), "is required");
                }
                return None;
            }
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            Some(_) => None,
        };
        match parsed {
            Some(n) => {
                obj.insert(key.to_string(), Value::from(n));
                Some(n)
            }
            None => {
                let shown = obj.get(key).map(|v| v.to_string()).unwrap_or_default();
                self.fail(
                    field(path, key),
                    format!("must be a whole number, 0 or more (got {shown})"),
                );
                None
            }
        }
    }

    fn boolean(&mut self, obj: &Map<String, Value>, key: &str, path: &str) {
        match obj.get(key) {
            None | Some(Value::Null) | Some(Value::Bool(_)) => {}
            Some(other) => self.fail(
                field(path, key),
                format!("must be true or false, not {}", kind(other)),
            ),
        }
    }

    fn object<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<&'a Map<String, Value>> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                self.fail(
                    field(path, key),
                    format!("must be an object, not {}", kind(other)),
                );
                None
            }
        }
    }
}

fn field(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const SHUTDOWN_ACTIONS: &[&str] = &["terminate", "terminate-hard", "shutdown", "shutdown-hard"];
const POLICY_TYPES: &[&str] = &["CHANGE", "CARDINALITY", "PERCENTAGE_CHANGE"];

/// Validate a service template document and return it typed. Numeric
/// strings are accepted where numbers are expected and normalized.
pub fn parse_template(document: &Value) -> Result<ServiceTemplate, Vec<FieldError>> {
    let mut c = Checker { errors: Vec::new() };
    let Value::Object(original) = document else {
        c.fail(
            "template",
            format!("must be a JSON object, not {}", kind(document)),
        );
        return Err(c.errors);
    };
    let mut doc = original.clone();
    // OneFlow 7 reads a 6.x template (`vm_template`, no `type`) converted.
    super::attributes::upgrade_6x(&mut doc);
    match c.string(&doc, "name", "", true) {
        Some(name) if name.trim().is_empty() => c.fail("name", "must not be empty"),
        Some(name) if name.chars().any(char::is_control) => {
            c.fail("name", "must not contain control characters")
        }
        Some(name) if name.len() > 128 => c.fail("name", "must be at most 128 characters"),
        _ => {}
    }
    c.one_of(&doc, "deployment", "", false, &["none", "straight"]);
    c.string(&doc, "description", "", false);
    c.one_of(&doc, "shutdown_action", "", false, SHUTDOWN_ACTIONS);
    for key in ["ready_status_gate", "automatic_deletion", "on_hold"] {
        c.boolean(&doc, key, "");
    }
    let service_inputs = check_inputs(&mut c, &doc, "");
    // OneFlow 6's name of user_inputs, kept as sent in a OneFlow 7
    // template; openapi.json promises its values are strings.
    if let Some(attrs) = c.object(&doc, "custom_attrs", "") {
        for (key, spec) in attrs {
            if !spec.is_string() {
                c.fail(
                    format!("custom_attrs.{key}"),
                    "must be a string like `M|text|description`",
                );
            }
        }
    }
    c.object(&doc, "custom_attrs_values", "");
    check_networks(&mut c, &doc);

    let mut role_names: Vec<Option<String>> = Vec::new();
    let mut role_parents: Vec<Vec<String>> = Vec::new();
    match doc.get_mut("roles") {
        None | Some(Value::Null) => c.fail("roles", "is required"),
        Some(Value::Array(roles)) if roles.is_empty() => {
            c.fail("roles", "a service needs at least one role")
        }
        Some(Value::Array(roles)) => {
            for (i, role) in roles.iter_mut().enumerate() {
                let path = format!("roles[{i}]");
                match role {
                    Value::Object(role) => {
                        let name = check_role(&mut c, role, &path, &service_inputs);
                        if let Some(name) = &name
                            && role_names.iter().flatten().any(|n| n == name)
                        {
                            c.fail(
                                format!("{path}.name"),
                                format!("role name `{name}` is repeated"),
                            );
                        }
                        let parents = role
                            .get("parents")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(|p| p.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default();
                        role_names.push(name);
                        role_parents.push(parents);
                    }
                    other => {
                        c.fail(path, format!("must be an object, not {}", kind(other)));
                        role_names.push(None);
                        role_parents.push(Vec::new());
                    }
                }
            }
        }
        Some(other) => {
            let k = kind(other);
            c.fail("roles", format!("must be an array, not {k}"));
        }
    }
    check_parents(&mut c, &role_names, &role_parents);

    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    serde_json::from_value(Value::Object(doc)).map_err(|e| {
        vec![FieldError {
            field: "template".into(),
            reason: e.to_string(),
        }]
    })
}

/// Before instantiation: give every declared input a value, from the
/// request, else from its default; a mandatory input without either is an
/// error. Role inputs may be answered at the role or at the service level.
/// (OneFlow demands a value for optional inputs too, which its own CLI
/// does not send.)
pub fn fill_inputs(template: &mut super::model::ServiceTemplate) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut fill = |declared: &BTreeMap<String, String>,
                    values: &mut Map<String, Value>,
                    fallback: &Map<String, Value>,
                    path: &str| {
        for (key, spec) in declared {
            if values.contains_key(key) {
                continue;
            }
            if let Some(v) = fallback.get(key) {
                values.insert(key.clone(), v.clone());
                continue;
            }
            match inputs::parse(spec) {
                Ok(input) => match input.default {
                    Some(d) => {
                        values.insert(key.clone(), Value::String(d));
                    }
                    None if input.mandatory => errors.push(FieldError {
                        field: field(path, &format!("user_inputs_values.{key}")),
                        reason: "is required (a mandatory user input)".into(),
                    }),
                    None => {}
                },
                Err(e) => errors.push(FieldError {
                    field: field(path, &format!("user_inputs.{key}")),
                    reason: e,
                }),
            }
        }
    };
    let empty = Map::new();
    fill(
        &template.user_inputs,
        &mut template.user_inputs_values,
        &empty,
        "",
    );
    let service_values = template.user_inputs_values.clone();
    for (i, role) in template.roles.iter_mut().enumerate() {
        fill(
            &role.user_inputs,
            &mut role.user_inputs_values,
            &service_values,
            &format!("roles[{i}]"),
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Check `user_inputs` and `user_inputs_values` at one level; returns the
/// declarations, for the roles to check their values against too.
fn check_inputs(
    c: &mut Checker,
    obj: &Map<String, Value>,
    path: &str,
) -> BTreeMap<String, inputs::UserInput> {
    let mut declared = BTreeMap::new();
    if let Some(specs) = c.object(obj, "user_inputs", path) {
        for (key, spec) in specs {
            let at = field(&field(path, "user_inputs"), key);
            match spec.as_str().map(inputs::parse) {
                Some(Ok(input)) => {
                    declared.insert(key.clone(), input);
                }
                Some(Err(e)) => c.fail(at, e),
                None => c.fail(at, "must be a string like `M|text|description`"),
            }
        }
    }
    if let Some(values) = c.object(obj, "user_inputs_values", path) {
        for (key, value) in values {
            if let Some(input) = declared.get(key)
                && let Err(e) = inputs::check_value(input, value)
            {
                c.fail(field(&field(path, "user_inputs_values"), key), e);
            }
        }
    }
    declared
}

fn check_networks(c: &mut Checker, doc: &Map<String, Value>) {
    if let Some(networks) = c.object(doc, "networks", "") {
        for (name, spec) in networks {
            let at = format!("networks.{name}");
            let Some(spec) = spec.as_str() else {
                c.fail(at, "must be a string like `M|network|description||id:0`");
                continue;
            };
            let fields: Vec<&str> = spec.split('|').collect();
            if fields.len() < 2 || fields[1].trim() != "network" {
                c.fail(
                    at,
                    format!("`{spec}` must look like `M|network|description||id:0`"),
                );
                continue;
            }
            if let Some(default) = fields.get(4).map(|d| d.trim()).filter(|d| !d.is_empty()) {
                let kind = default.split(':').next().unwrap_or_default();
                if !["id", "template_id", "reserve_from"].contains(&kind) {
                    c.fail(
                        at,
                        format!(
                            "default `{default}` must start with id:, template_id: or reserve_from:"
                        ),
                    );
                }
            }
        }
    }
    match doc.get("networks_values") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Some(item) = item.as_object() else {
                    c.fail(
                        format!("networks_values[{i}]"),
                        "must be an object like {\"Public\": {\"id\": \"0\"}}",
                    );
                    continue;
                };
                for (name, source) in item {
                    let at = format!("networks_values[{i}].{name}");
                    let keys: Vec<&str> = source
                        .as_object()
                        .map(|o| {
                            o.keys()
                                .map(String::as_str)
                                .filter(|k| *k != "extra")
                                .collect()
                        })
                        .unwrap_or_default();
                    if keys.len() != 1 || !["id", "template_id", "reserve_from"].contains(&keys[0])
                    {
                        c.fail(at, "must have exactly one of id, template_id, reserve_from");
                    }
                }
            }
        }
        Some(other) => c.fail(
            "networks_values",
            format!("must be an array, not {}", kind(other)),
        ),
    }
}

/// Check one role; returns its name when it is valid.
fn check_role(
    c: &mut Checker,
    role: &mut Map<String, Value>,
    path: &str,
    service_inputs: &BTreeMap<String, inputs::UserInput>,
) -> Option<String> {
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
    let role_inputs = check_inputs(c, role, path);
    // A role's values may also answer the service's inputs.
    if let Some(values) = role.get("user_inputs_values").and_then(Value::as_object) {
        for (key, value) in values {
            if !role_inputs.contains_key(key)
                && let Some(input) = service_inputs.get(key)
                && let Err(e) = inputs::check_value(input, value)
            {
                c.fail(field(&field(path, "user_inputs_values"), key), e);
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
    c.uint(role, "cooldown", path, false);
    let elasticity = check_policies(c, role, "elasticity_policies", path, false);
    let scheduled = check_policies(c, role, "scheduled_policies", path, true);

    if is_vr {
        for key in ["min_vms", "max_vms", "cooldown"] {
            if role.contains_key(key) {
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
    name
}

/// Check a role's policies; returns how many there are.
fn check_policies(
    c: &mut Checker,
    role: &mut Map<String, Value>,
    key: &str,
    path: &str,
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
            match (&start, &recurrence) {
                (Some(_), Some(_)) | (None, None) => c.fail(
                    at.clone(),
                    "must set exactly one of start_time and recurrence",
                ),
                _ => {}
            }
            if let Some(r) = recurrence
                && r.split_whitespace().count() != 5
            {
                c.fail(
                    field(&at, "recurrence"),
                    format!("`{r}` is not a 5-field cron expression"),
                );
            }
            c.uint(p, "cooldown", &at, false);
        } else {
            match c.string(p, "expression", &at, true) {
                Some(e) if e.trim().is_empty() => {
                    c.fail(field(&at, "expression"), "must not be empty")
                }
                _ => {}
            }
            for k in ["period_number", "period", "cooldown"] {
                c.uint(p, k, &at, false);
            }
        }
    }
    items.len()
}

/// Every parent must be a role of the service, and parents must not form a
/// cycle (OneFlow accepts both and then never finishes deploying).
fn check_parents(c: &mut Checker, names: &[Option<String>], role_parents: &[Vec<String>]) {
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

#[cfg(test)]
mod tests {
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
        v["user_inputs"] =
            json!({"WORKERS": "M|range|workers|1..4|2", "SIZE": "O|list|size|s,m,l|"});
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
        v["networks_values"] = json!([{"Public": {"id": "0", "template_id": "1"}}]);
        let e = errors(v);
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
}
