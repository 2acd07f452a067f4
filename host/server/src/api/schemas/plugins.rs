//! The engine's answers the plugin routes (`api/plugins.rs`) send as they
//! are, described for the OpenAPI document. The engine knows nothing of
//! OpenAPI, so each is stated here field by field, under the engine
//! type's name; a test checks that the two have the same fields.

use crate::plugin::PluginKind;

/// A plugin as `GET /plugins` and `flotilla plugin list` show it.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // `registry::PluginSummary` is what is sent; this describes it
pub struct PluginSummary {
    id: String,
    #[schema(schema_with = plugin_kinds)]
    kind: String,
    version: String,
    #[schema(examples("flotilla:driver@0.1.0"))]
    api: String,
    /// "built-in" or the file it was loaded from.
    source: String,
    /// "loaded", "quarantined" (resting after repeated faults, see
    /// quarantined_until) or "failed: <reason>".
    status: String,
    allowed_outbound_hosts: Vec<String>,
    /// Programs it may start as host processes (declared by its manifest
    /// and granted by the operator).
    #[serde(default)]
    programs: Vec<String>,
    /// The network devices a plumbing plugin may make and change (its
    /// manifest declares `capabilities.link` and the operator grants
    /// `[plugins.<id>.link]`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    link: Option<LinkSummary>,
    /// A driver that monitors hosts (exports `flotilla:driver/hosts`):
    /// `POST /host` takes hosts of it. Absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    manages_hosts: bool,
    timeout_ms: u64,
    memory_mb: u64,
    calls: u64,
    faults: u64,
    /// sha256:<hex> of the component; empty if it failed to load.
    digest: String,
    /// While the plugin rests in quarantine after repeated faults (status
    /// `quarantined`): until when, in seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    quarantined_until: Option<u64>,
}

/// A plumbing plugin's link grant in force.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // `registry::LinkSummary` is what is sent; this describes it
pub struct LinkSummary {
    /// Device-name prefixes (`flb-`): the only devices it sees and touches.
    prefixes: Vec<String>,
    /// Interfaces a VXLAN device may run over.
    underlays: Vec<String>,
}

/// The kinds `PluginSummary::kind` takes.
fn plugin_kinds() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(PluginKind::ALL.map(|k| k.as_str())))
        .build()
}

/// What a reload did.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // `reload::Reloaded` is what is sent; this describes it
pub struct Reloaded {
    /// What changed now (`plugin sim: grant changed`, `plugin queue: loaded`).
    applied: Vec<String>,
    /// What changed in the file but takes a restart (`engine`, `server`,
    /// `sim`, `onegate`).
    at_restart: Vec<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use utoipa::PartialSchema;

    /// The fields a value is sent with, and those its schema states.
    fn same_fields<T: PartialSchema>(sent: impl serde::Serialize) {
        let sent = serde_json::to_value(sent).unwrap();
        let sent: BTreeSet<String> = sent.as_object().unwrap().keys().cloned().collect();
        let schema = serde_json::to_value(T::schema()).unwrap();
        let stated: BTreeSet<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(sent, stated, "the engine's answer and its schema differ");
    }

    #[test]
    fn the_schemas_state_the_fields_the_engine_sends() {
        same_fields::<super::PluginSummary>(crate::registry::PluginSummary {
            id: "sim".into(),
            kind: "driver".into(),
            version: "0.1.0".into(),
            api: "flotilla:driver@0.1.0".into(),
            source: "built-in".into(),
            status: "quarantined".into(),
            allowed_outbound_hosts: Vec::new(),
            programs: Vec::new(),
            link: Some(crate::registry::LinkSummary {
                prefixes: vec!["flb-".into()],
                underlays: Vec::new(),
            }),
            manages_hosts: true,
            timeout_ms: 1,
            memory_mb: 1,
            calls: 0,
            faults: 0,
            digest: String::new(),
            quarantined_until: Some(1),
        });
        same_fields::<super::LinkSummary>(crate::registry::LinkSummary {
            prefixes: Vec::new(),
            underlays: Vec::new(),
        });
        same_fields::<super::Reloaded>(crate::reload::Reloaded::default());
    }
}
