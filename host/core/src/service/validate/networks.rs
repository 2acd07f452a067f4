//! Networks of a service template: their declarations (`networks`), the
//! values that say where each comes from (`networks_values`), and the
//! roles' NICs that refer to them (`NETWORK_ID = "$Public"`).

use super::super::model::ServiceTemplate;
use super::{Checker, FieldError, kind};
use serde_json::{Map, Value};

pub(super) fn check_networks(c: &mut Checker, doc: &Map<String, Value>) {
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
                                .filter(|k| *k != "extra" && *k != "mode")
                                .collect()
                        })
                        .unwrap_or_default();
                    // A deployed network keeps its source and gains the
                    // `id` it got, as OneFlow writes it back.
                    let sources: Vec<&&str> = keys.iter().filter(|k| **k != "id").collect();
                    let known = keys
                        .iter()
                        .all(|k| ["id", "template_id", "reserve_from"].contains(k));
                    if keys.is_empty() || sources.len() > 1 || !known {
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

/// Every `$Name` a role's NICs (and NIC aliases) refer to must be a
/// network the template declares: OneFlow leaves an unknown one as it is
/// and the VM fails to deploy much later.
pub(super) fn check_nic_networks(c: &mut Checker, doc: &Map<String, Value>) {
    let declared: Vec<&String> = doc
        .get("networks")
        .and_then(Value::as_object)
        .map(|n| n.keys().collect())
        .unwrap_or_default();
    let Some(roles) = doc.get("roles").and_then(Value::as_array) else {
        return;
    };
    for (i, role) in roles.iter().enumerate() {
        let Some(contents) = role.get("template_contents").and_then(Value::as_object) else {
            continue;
        };
        for key in ["NIC", "NIC_ALIAS"] {
            for (j, nic) in nics(contents, key) {
                let Some(network) = nic
                    .get("NETWORK_ID")
                    .and_then(Value::as_str)
                    .and_then(network_reference)
                else {
                    continue;
                };
                if !declared.iter().any(|d| d.as_str() == network) {
                    let known = if declared.is_empty() {
                        "the template declares no networks".to_string()
                    } else {
                        let names: Vec<&str> = declared.iter().map(|d| d.as_str()).collect();
                        format!("declared: {}", names.join(", "))
                    };
                    c.fail(
                        format!("roles[{i}].template_contents.{key}[{j}].NETWORK_ID"),
                        format!("`${network}` is not a network of this template ({known})"),
                    );
                }
            }
        }
    }
}

/// The NICs under `key`, one object or a list, with their index.
pub fn nics<'a>(
    contents: &'a Map<String, Value>,
    key: &str,
) -> Vec<(usize, &'a Map<String, Value>)> {
    match contents.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(j, n)| Some((j, n.as_object()?)))
            .collect(),
        Some(Value::Object(one)) => vec![(0, one)],
        _ => Vec::new(),
    }
}

/// The network a `NETWORK_ID` value names by reference (`$Public` →
/// `Public`), as OneFlow matches it (`/\$(\w+)/`).
pub fn network_reference(value: &str) -> Option<&str> {
    let rest = &value[value.find('$')? + 1..];
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// Before instantiation: every declared network gets a value, from the
/// request, else from its declaration's default (`M|network|…||id:0`); a
/// mandatory network with neither is an error, and so is a value for a
/// network the template does not declare.
pub fn fill_networks(template: &mut ServiceTemplate) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let valued: Vec<String> = template
        .networks_values
        .iter()
        .flat_map(|entry| entry.keys().cloned())
        .collect();
    for (i, entry) in template.networks_values.iter().enumerate() {
        for name in entry.keys() {
            if !template.networks.contains_key(name) {
                errors.push(FieldError {
                    field: format!("networks_values[{i}].{name}"),
                    reason: format!("`{name}` is not declared in the template's networks"),
                });
            }
        }
    }
    for (name, spec) in &template.networks {
        if valued.contains(name) {
            continue;
        }
        let fields: Vec<&str> = spec.split('|').collect();
        let mandatory = fields.first().is_some_and(|m| m.trim() == "M");
        match declared_default(spec) {
            Some((kind, id, extra)) => {
                let mut value = Map::new();
                value.insert(kind.to_string(), Value::from(id));
                if let Some(extra) = extra {
                    value.insert("extra".into(), Value::from(extra));
                }
                let mut entry = Map::new();
                entry.insert(name.clone(), Value::Object(value));
                template.networks_values.push(entry);
            }
            None if mandatory => errors.push(FieldError {
                field: format!("networks_values.{name}"),
                reason: "is required (a mandatory network): give {\"id\": …}, {\"reserve_from\": …, \"extra\": \"SIZE=…\"} or {\"template_id\": …}".into(),
            }),
            None => {}
        }
    }
    // A reservation without a size would fail only when it deploys
    // (OneFlow stores `false` as its id, #4564). A name given twice would
    // make two networks under one operation id.
    let mut seen: Vec<&String> = Vec::new();
    for (i, entry) in template.networks_values.iter().enumerate() {
        for (name, spec) in entry {
            if seen.contains(&name) {
                errors.push(FieldError {
                    field: format!("networks_values[{i}].{name}"),
                    reason: format!("network `{name}` has a value already"),
                });
            }
            seen.push(name);
            if spec.get("reserve_from").is_some() {
                let extra = spec
                    .get("extra")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let attributes = crate::service::attributes::template_contents(extra);
                if let Err(e) = crate::network::size_attribute(&attributes) {
                    errors.push(FieldError {
                        field: format!("networks_values[{i}].{name}.extra"),
                        reason: format!("a reservation needs a size: {e}"),
                    });
                }
            }
        }
    }
    let valued: Vec<&String> = template
        .networks_values
        .iter()
        .flat_map(|entry| entry.keys())
        .collect();
    for (i, role) in template.roles.iter().enumerate() {
        for key in ["NIC", "NIC_ALIAS"] {
            for (j, nic) in nics(&role.template_contents, key) {
                if let Some(network) = nic
                    .get("NETWORK_ID")
                    .and_then(Value::as_str)
                    .and_then(network_reference)
                    && !valued.iter().any(|v| v.as_str() == network)
                {
                    errors.push(FieldError {
                        field: format!("roles[{i}].template_contents.{key}[{j}].NETWORK_ID"),
                        reason: format!(
                            "network `{network}` has no value: give one in networks_values"
                        ),
                    });
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A network declaration's default value, its fifth field
/// (`M|network|description||kind:id[:extra]`): the kind (`id`,
/// `reserve_from`, `template_id`), the id and the extra text.
fn declared_default(spec: &str) -> Option<(&str, &str, Option<&str>)> {
    let default = spec
        .split('|')
        .nth(4)
        .map(str::trim)
        .filter(|d| !d.is_empty())?;
    let mut parts = default.splitn(3, ':');
    let kind = parts.next().unwrap_or_default();
    let id = parts.next().unwrap_or_default();
    Some((kind, id, parts.next()))
}

/// Whether a service template (or a service's) names virtual network
/// `network`: as a network value (`id`, `reserve_from`, or the default of
/// a declared network, `…||id:N`) or as a role's NIC (`NETWORK_ID = N`).
/// A network so named must not be deleted: the next deploy or scale-out
/// would get a NIC with no address.
pub fn names_network(template: &ServiceTemplate, network: u64) -> bool {
    let id = network.to_string();
    let is_it = |v: &Value| crate::service::inputs::as_text(v).is_some_and(|t| t.trim() == id);
    let in_values = template.networks_values.iter().any(|entry| {
        entry.values().filter_map(Value::as_object).any(|spec| {
            ["id", "reserve_from"]
                .iter()
                .any(|k| spec.get(*k).is_some_and(is_it))
        })
    });
    let in_declarations = template.networks.values().any(|spec| {
        declared_default(spec)
            .is_some_and(|(kind, of, _)| ["id", "reserve_from"].contains(&kind) && of.trim() == id)
    });
    let in_nics = template.roles.iter().any(|role| {
        ["NIC", "NIC_ALIAS"].iter().any(|key| {
            nics(&role.template_contents, key)
                .iter()
                .any(|(_, nic)| nic.get("NETWORK_ID").is_some_and(is_it))
        })
    });
    in_values || in_declarations || in_nics
}

#[cfg(test)]
mod names_network_tests {
    use super::*;

    fn template(doc: Value) -> ServiceTemplate {
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn a_network_is_named_by_values_declarations_and_nics() {
        let role = |nic: Value| {
            serde_json::json!({"name": "web", "type": "vm", "template_id": 0,
                "template_contents": {"NIC": nic}})
        };
        let by_value = template(serde_json::json!({"name": "a", "roles": [],
            "networks_values": [{"Public": {"reserve_from": "7", "extra": "SIZE=2"}}]}));
        let by_default = template(serde_json::json!({"name": "a", "roles": [],
            "networks": {"Public": "M|network|the public one||id:7"}}));
        let by_nic = template(
            serde_json::json!({"name": "a", "roles": [role(serde_json::json!([{"NETWORK_ID": 7}]))]}),
        );
        let by_name = template(
            serde_json::json!({"name": "a", "roles": [role(serde_json::json!({"NETWORK_ID": "$Public"}))]}),
        );
        for t in [&by_value, &by_default, &by_nic] {
            assert!(names_network(t, 7), "{t:?}");
            assert!(!names_network(t, 17), "{t:?}");
        }
        assert!(!names_network(&by_name, 7));
    }
}
