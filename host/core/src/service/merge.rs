//! Merging JSON documents the two ways OneFlow does, and building the VM
//! template a driver receives.

use super::inputs::as_text;
use serde_json::{Map, Value};

/// `merge_template` semantics (instantiate): objects merge recursively,
/// arrays concatenate (duplicates dropped when every element is an object),
/// anything else is replaced by the overlay.
pub fn deep_merge_concat(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => deep_merge_concat(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(o)) => {
            b.extend(o.iter().cloned());
            if b.iter().all(Value::is_object) {
                let mut seen: Vec<Value> = Vec::new();
                b.retain(|v| {
                    if seen.contains(v) {
                        false
                    } else {
                        seen.push(v.clone());
                        true
                    }
                });
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// VM template semantics (`template_contents` over the VM template):
/// objects merge recursively; arrays and scalars of the overlay replace.
pub fn deep_merge_replace(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (k, v) in overlay {
        match (base.get_mut(k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => deep_merge_replace(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The full template for one VM of a role: the VM template's attributes,
/// overlaid with the role's `template_contents`, the user inputs (service
/// values, then the role's, which win) as attributes and as `CONTEXT`
/// variables, and `SERVICE_ID` / `ROLE_NAME`.
pub fn vm_template(
    vm_template: &Map<String, Value>,
    template_contents: &Map<String, Value>,
    service_inputs: &Map<String, Value>,
    role_inputs: &Map<String, Value>,
    service_id: u64,
    role_name: &str,
) -> Map<String, Value> {
    let mut template = vm_template.clone();
    deep_merge_replace(&mut template, template_contents);
    let mut inputs = service_inputs.clone();
    for (k, v) in role_inputs {
        inputs.insert(k.clone(), v.clone());
    }
    for (key, value) in &inputs {
        let Some(text) = as_text(value) else { continue };
        template.insert(key.clone(), Value::String(text));
        let context = template
            .entry("CONTEXT")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(context) = context {
            context.insert(key.clone(), Value::String(format!("${key}")));
        }
    }
    template.insert("SERVICE_ID".into(), Value::String(service_id.to_string()));
    template.insert("ROLE_NAME".into(), Value::String(role_name.to_string()));
    template
}

/// OpenNebula's context substitution: in each `CONTEXT` value, `$NAME`
/// becomes the VM template's own `NAME` attribute when it has one with a
/// plain value (so a user input reaches the guest as its value, not as
/// `"$DB_VALUE"`, as oned writes a context). Anything else that looks like
/// a variable (a shell's `$v`, `$((i + 1))`, `$ETH0_IP`, `$NAME[ATTR]`) is
/// left for the guest.
pub fn substitute_context(template: &mut Map<String, Value>) {
    let values: Map<String, Value> = template
        .iter()
        .filter(|(k, v)| k.as_str() != "CONTEXT" && as_text(v).is_some())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let Some(Value::Object(context)) = template.get_mut("CONTEXT") else {
        return;
    };
    for value in context.values_mut() {
        if let Value::String(s) = value
            && s.contains('$')
        {
            *s = substitute_str(s, &values);
        }
    }
}

fn substitute_str(s: &str, values: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = after
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
            .count();
        let name = &after[..len];
        let vector = after[len..].starts_with('[');
        match values.get(name).and_then(as_text) {
            Some(v) if len > 0 && !vector => {
                out.push_str(&v);
                rest = &after[len..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// OneFlow's VM name: `$ROLE_NAME_$VM_NUMBER_(service_$SERVICE_ID)`.
pub fn vm_name(role: &str, number: u64, service_id: u64) -> String {
    format!("{role}_{number}_(service_{service_id})")
}

/// Resolve `${PARENT.path}` references in every string of a template from
/// the parents' first VMs: `lookup(parent, PATH)` returns the value at the
/// upper-cased path (e.g. `TEMPLATE/CONTEXT/ETH0_IP`) in the first VM of
/// that parent that has it. A reference to a role that is not a parent, or
/// that no VM answers, becomes empty, as in OneFlow.
pub fn resolve_parent_refs(
    template: &mut Map<String, Value>,
    parents: &[String],
    lookup: &dyn Fn(&str, &str) -> Option<String>,
) {
    for value in template.values_mut() {
        resolve_value(value, parents, lookup);
    }
}

fn resolve_value(
    value: &mut Value,
    parents: &[String],
    lookup: &dyn Fn(&str, &str) -> Option<String>,
) {
    match value {
        Value::String(s) if s.contains("${") => *s = resolve_str(s, parents, lookup),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| resolve_value(v, parents, lookup)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| resolve_value(v, parents, lookup)),
        _ => {}
    }
}

fn resolve_str(
    s: &str,
    parents: &[String],
    lookup: &dyn Fn(&str, &str) -> Option<String>,
) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let reference = &after[..end];
        let mut parts = reference.split('.');
        let role = parts.next().unwrap_or_default();
        let path = parts
            .map(|p| p.to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join("/");
        if parents.iter().any(|p| p == role) && !path.is_empty() {
            out.push_str(&lookup(role, &path).unwrap_or_default());
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn context_variables_take_the_templates_values_and_leave_the_rest() {
        let mut t = json!({
            "DB_VALUE": "42", "MEMORY": "256", "NIC": [{"IP": "10.0.0.1"}],
            "CONTEXT": {"DB_VALUE": "$DB_VALUE", "BOTH": "$MEMORY MiB, $DB_VALUE",
                        "SCRIPT": "v=$(nc \"$DB\" 7000); i=$((i + 1)); echo $v $ETH0_IP $NIC[IP] $ $",
                        "UNKNOWN": "$NOPE"}
        });
        let Value::Object(map) = &mut t else {
            unreachable!()
        };
        substitute_context(map);
        let c = &t["CONTEXT"];
        assert_eq!(c["DB_VALUE"], "42");
        assert_eq!(c["BOTH"], "256 MiB, 42");
        assert_eq!(
            c["SCRIPT"],
            "v=$(nc \"$DB\" 7000); i=$((i + 1)); echo $v $ETH0_IP $NIC[IP] $ $"
        );
        assert_eq!(c["UNKNOWN"], "$NOPE");
    }

    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn merge_template_concatenates_arrays_and_replaces_scalars() {
        let mut base =
            json!({"name": "a", "roles": [{"name": "web"}], "tags": [1, 2], "nested": {"x": 1}});
        deep_merge_concat(
            &mut base,
            &json!({"name": "b", "roles": [{"name": "web"}, {"name": "db"}], "tags": [2], "nested": {"y": 2}}),
        );
        assert_eq!(base["name"], "b");
        assert_eq!(base["roles"], json!([{"name": "web"}, {"name": "db"}]));
        assert_eq!(base["tags"], json!([1, 2, 2]));
        assert_eq!(base["nested"], json!({"x": 1, "y": 2}));
    }

    #[test]
    fn vm_template_layers_contents_inputs_and_identity() {
        let vm = obj(
            json!({"CPU": "1", "MEMORY": "512", "NIC": [{"NETWORK_ID": "0"}], "CONTEXT": {"SSH": "YES"}}),
        );
        let contents = obj(
            json!({"MEMORY": "2048", "NIC": [{"NETWORK_ID": "5"}], "CONTEXT": {"TOKEN": "YES"}}),
        );
        let t = vm_template(
            &vm,
            &contents,
            &obj(json!({"DB_USER": "app", "PORT": 80})),
            &obj(json!({"PORT": 8080})),
            12,
            "web",
        );
        assert_eq!(t["CPU"], "1");
        assert_eq!(t["MEMORY"], "2048");
        assert_eq!(
            t["NIC"],
            json!([{"NETWORK_ID": "5"}]),
            "arrays are replaced"
        );
        assert_eq!(t["PORT"], "8080", "role inputs win");
        assert_eq!(
            t["CONTEXT"],
            json!({"SSH": "YES", "TOKEN": "YES", "DB_USER": "$DB_USER", "PORT": "$PORT"})
        );
        assert_eq!(
            (t["SERVICE_ID"].as_str(), t["ROLE_NAME"].as_str()),
            (Some("12"), Some("web"))
        );
        assert_eq!(vm_name("web", 3, 12), "web_3_(service_12)");
    }

    #[test]
    fn parent_references_come_from_the_parents_first_vm() {
        let mut t = obj(
            json!({"CONTEXT": {"MASTER": "${master.template.context.eth0_ip}:6443", "X": "${stranger.name}"}}),
        );
        let lookup = |role: &str, path: &str| {
            (role == "master" && path == "TEMPLATE/CONTEXT/ETH0_IP").then(|| "10.0.0.1".to_string())
        };
        resolve_parent_refs(&mut t, &["master".to_string()], &lookup);
        assert_eq!(t["CONTEXT"]["MASTER"], "10.0.0.1:6443");
        assert_eq!(
            t["CONTEXT"]["X"], "",
            "not a parent: empty, as OneFlow does"
        );
    }
}

/// Apply an instantiate request's `merge_template` to a service template
/// document, as OneFlow does: `custom_attrs_values` is the old name of
/// `user_inputs_values`; `roles` are matched by name and merged into the
/// template's roles (unmatched ones are ignored); `networks_values` replace
/// the template's entries of the same network; everything else is merged
/// with [`deep_merge_concat`].
pub fn apply_merge_template(template: &Value, merge: &Value) -> Value {
    let mut base = template.clone();
    let Value::Object(merge) = merge else {
        return base;
    };
    let mut merge = merge.clone();
    rename_legacy_inputs(&mut merge);
    if let Some(Value::Array(extra_roles)) = merge.remove("roles")
        && let Some(Value::Array(roles)) = base.get_mut("roles")
    {
        for extra in extra_roles {
            let Value::Object(mut extra) = extra else {
                continue;
            };
            rename_legacy_inputs(&mut extra);
            let name = extra.get("name").cloned();
            if let Some(role) = roles.iter_mut().find(|r| r.get("name") == name.as_ref()) {
                deep_merge_concat(role, &Value::Object(extra));
            }
        }
    }
    if let Some(Value::Array(values)) = merge.remove("networks_values") {
        let current = base.as_object_mut().map(|b| {
            b.entry("networks_values")
                .or_insert_with(|| Value::Array(Vec::new()))
        });
        if let Some(Value::Array(current)) = current {
            for item in values {
                let name = item.as_object().and_then(|o| o.keys().next().cloned());
                match current
                    .iter_mut()
                    .find(|c| c.as_object().and_then(|o| o.keys().next().cloned()) == name)
                {
                    Some(slot) => *slot = item,
                    None => current.push(item),
                }
            }
        }
    }
    deep_merge_concat(&mut base, &Value::Object(merge));
    base
}

fn rename_legacy_inputs(obj: &mut Map<String, Value>) {
    if let Some(values) = obj.remove("custom_attrs_values") {
        obj.entry("user_inputs_values").or_insert(values);
    }
}

#[cfg(test)]
mod merge_template_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_roles_by_name_and_networks_by_network() {
        let template = json!({
            "name": "t",
            "user_inputs_values": {"A": "1"},
            "networks_values": [{"Public": {"id": "0"}}],
            "roles": [{"name": "web", "cardinality": 1, "user_inputs_values": {"X": "a"}}, {"name": "db"}]
        });
        let merge = json!({
            "name": "renamed",
            "custom_attrs_values": {"B": "2"},
            "networks_values": [{"Public": {"id": "7"}}, {"Private": {"id": "3"}}],
            "roles": [{"name": "web", "cardinality": 3, "custom_attrs_values": {"Y": "b"}}, {"name": "ghost", "cardinality": 9}]
        });
        let merged = apply_merge_template(&template, &merge);
        assert_eq!(merged["name"], "renamed");
        assert_eq!(merged["user_inputs_values"], json!({"A": "1", "B": "2"}));
        assert_eq!(
            merged["networks_values"],
            json!([{"Public": {"id": "7"}}, {"Private": {"id": "3"}}])
        );
        assert_eq!(merged["roles"][0]["cardinality"], 3);
        assert_eq!(
            merged["roles"][0]["user_inputs_values"],
            json!({"X": "a", "Y": "b"})
        );
        assert_eq!(
            merged["roles"].as_array().unwrap().len(),
            2,
            "unmatched roles are ignored"
        );
    }

    /// A merge cannot give the service a `registration_time`: a null one
    /// made the service's document break its own schema.
    #[test]
    fn a_merge_never_sets_the_registration_time() {
        let template =
            json!({"name": "t", "roles": [{"name": "web", "type": "vm", "template_id": 0}]});
        for sent in [json!(null), json!(5), json!("now")] {
            let merged = apply_merge_template(&template, &json!({"registration_time": sent}));
            let parsed = crate::service::parse_template(&merged).unwrap();
            let service = serde_json::to_value(&parsed).unwrap();
            assert!(service.get("registration_time").is_none(), "{service}");
        }
    }
}
