//! Validation of service templates: every problem found, each naming its
//! field (`roles[1].cardinality`) and the reason. OneFlow stops at the first
//! problem and accepts unknown parents and cycles (then hangs deploying);
//! Flotilla reports them all and refuses those.

use super::inputs;
use super::model::ServiceTemplate;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub use networks::fill_networks;
use networks::{check_networks, check_nic_networks};
use roles::{check_parents, check_role};

pub use flotilla_model::FieldError;

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
    // A template document's registration time is the server's, rendered
    // from the document: one a body carries (a client echoing what it
    // read, a service's update or merge) is not kept, so a service never
    // shows one, nor a null where its schema says a number.
    doc.remove("registration_time");
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
    let mut role_policies: Vec<roles::Policies> = Vec::new();
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
                        let (name, policies) = check_role(&mut c, role, &path, &service_inputs);
                        // The policies are read already: the template takes
                        // them as they were read.
                        role.remove("elasticity_policies");
                        role.remove("scheduled_policies");
                        role_policies.push(policies);
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
    check_nic_networks(&mut c, &doc);

    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    let mut template: ServiceTemplate =
        serde_json::from_value(Value::Object(doc)).map_err(|e| {
            vec![FieldError {
                field: "template".into(),
                reason: e.to_string(),
            }]
        })?;
    for (role, policies) in template.roles.iter_mut().zip(role_policies) {
        role.elasticity_policies = policies.elasticity;
        role.scheduled_policies = policies.scheduled;
    }
    Ok(template)
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
                    reason: e.to_string(),
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
                Some(Err(e)) => c.fail(at, e.to_string()),
                None => c.fail(at, "must be a string like `M|text|description`"),
            }
        }
    }
    if let Some(values) = c.object(obj, "user_inputs_values", path) {
        for (key, value) in values {
            if let Some(input) = declared.get(key)
                && let Err(e) = inputs::check_value(input, value)
            {
                c.fail(
                    field(&field(path, "user_inputs_values"), key),
                    e.to_string(),
                );
            }
        }
    }
    declared
}

pub mod networks;
mod roles;
#[cfg(test)]
mod tests;
