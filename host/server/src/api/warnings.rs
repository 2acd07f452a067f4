//! Warnings about what a request sent that the server kept but did not
//! expect (unknown template attributes) or that will not do what its
//! author expects (policies that will flap, …), in headers and JSON
//! answers.

use super::error::ApiError;
use super::state::AppState;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The header that carries a warning about an accepted request (one per
/// warning), for answers with and without a body alike; OneFlow clients
/// ignore it. JSON answers also list them in a top-level `warnings` array.
pub const WARNING_HEADER: &str = "flotilla-warning";
/// Warnings carried in headers at most; the body lists them all.
const MAX_WARNING_HEADERS: usize = 20;

/// Unknown attributes found in a template a request sends, kept as
/// OneFlow keeps them but reported; `server.strict_attributes` refuses
/// them instead (400 naming each, nothing changed).
#[derive(Default)]
pub(crate) struct Warnings(Vec<crate::service::FieldError>);

impl Warnings {
    fn check(state: &AppState, found: Vec<crate::service::FieldError>) -> Result<Self, ApiError> {
        if state.strict_attributes && !found.is_empty() {
            let refused = found
                .into_iter()
                .map(|w| crate::service::FieldError {
                    reason: format!("{} (server.strict_attributes is on)", w.reason),
                    field: w.field,
                })
                .collect();
            return Err(ApiError::invalid(refused));
        }
        Ok(Warnings(found))
    }

    /// The warnings about a service template document.
    pub(crate) fn template(
        state: &AppState,
        document: &serde_json::Value,
    ) -> Result<Self, ApiError> {
        let mut found = crate::service::attributes::unknown(document);
        let vm_inputs = vm_template_inputs(state, document);
        found.retain(|w| !vm_inputs.contains(&w.field));
        let mut warnings = Self::check(state, found)?;
        warnings.0.extend(policy_lint(state, document));
        Ok(warnings)
    }

    /// The warnings about a service about to be instantiated from
    /// `document`: the template's, and a `ready_status_gate` its VMs
    /// cannot open through OneGate because this server runs none (they
    /// can still report READY=YES through their hypervisor, if it does).
    pub(crate) fn instantiate(
        state: &AppState,
        document: &serde_json::Value,
    ) -> Result<Self, ApiError> {
        let mut warnings = Self::template(state, document)?;
        let gated = document.get("ready_status_gate") == Some(&json!(true));
        let onegate = state.engine().is_ok_and(|e| e.onegate().is_some());
        if gated && !onegate {
            warnings.0.push(crate::service::FieldError {
                field: "ready_status_gate".into(),
                reason:
                    "OneGate is off on this server ([onegate] enabled = false): the VMs get no \
                         endpoint to report READY=YES to, so each role waits for its hypervisor \
                         to report it, or fails after engine.wait_seconds"
                        .into(),
            });
        }
        Ok(warnings)
    }

    /// The warnings about a role added to a service that declares
    /// `service_inputs`.
    pub(crate) fn role(
        state: &AppState,
        service_inputs: &[String],
        role: &serde_json::Value,
    ) -> Result<Self, ApiError> {
        let found = role
            .as_object()
            .map(|r| crate::service::attributes::role_unknown(r, "params.role", service_inputs))
            .unwrap_or_default();
        Self::check(state, found)
    }

    /// Add them to a JSON answer (`{"DOCUMENT": …, "warnings": [...]}`).
    pub(super) fn add_to(&self, body: &mut serde_json::Value) {
        if !self.0.is_empty()
            && let Some(b) = body.as_object_mut()
        {
            b.insert(
                "warnings".into(),
                self.0.iter().map(|w| json!(w.to_string())).collect(),
            );
        }
    }

    /// An answer with a JSON body carrying the warnings, in it and in
    /// headers.
    pub(super) fn json(&self, status: StatusCode, mut body: serde_json::Value) -> Response {
        self.add_to(&mut body);
        self.headers((status, Json(body)).into_response())
    }

    /// Add the warning headers to an answer. Header values are visible
    /// ASCII: other characters are escaped, and each is cut short, so a
    /// long or odd attribute name cannot make the answer unreadable.
    pub(super) fn headers(&self, mut response: Response) -> Response {
        let mut lines: Vec<String> = self
            .0
            .iter()
            .take(MAX_WARNING_HEADERS)
            .map(|w| w.to_string())
            .collect();
        if self.0.len() > MAX_WARNING_HEADERS {
            lines.push(format!(
                "{} more warnings not shown",
                self.0.len() - MAX_WARNING_HEADERS
            ));
        }
        for line in lines {
            let mut text = String::new();
            for c in line.chars() {
                if text.len() > 300 {
                    text.push_str("...");
                    break;
                }
                if c.is_ascii_graphic() || c == ' ' {
                    text.push(c);
                } else {
                    text.push_str(&format!("\\u{{{:x}}}", c as u32));
                }
            }
            if let Ok(value) = axum::http::HeaderValue::from_str(&text) {
                response.headers_mut().append(WARNING_HEADER, value);
            }
        }
        response
    }
}

/// The policy lint for a template that validates (one that does not gets
/// its 400 elsewhere), and its policies that name a plugin the server has
/// not loaded. How long a role's VMs take to boot is what the role says,
/// its `warmup`: how long a VM takes depends on the driver and the image,
/// which the API does not know.
fn policy_lint(state: &AppState, document: &serde_json::Value) -> Vec<crate::service::FieldError> {
    let Ok(template) = crate::service::parse_template(document) else {
        return Vec::new();
    };
    let mut warnings = crate::service::elasticity::lint::lint(&template, &|role| role.warmup);
    warnings.extend(crate::service::elasticity::lint::missing_plugins(
        &template,
        &|id| {
            state
                .registry
                .loaded(id, crate::plugin::PluginKind::Elasticity)
                .is_some()
        },
    ));
    warnings
}

/// `roles[i].user_inputs_values.NAME` for each input a role's VM template
/// declares (`USER_INPUTS`, OpenNebula's VM template inputs): a value for
/// one is expected, not unknown (Sunstone asks for them as the role's
/// inputs, and so does the dashboard).
fn vm_template_inputs(state: &AppState, document: &serde_json::Value) -> Vec<String> {
    let Ok(store) = state.store() else {
        return Vec::new();
    };
    let mut fields = Vec::new();
    let roles = document.get("roles").and_then(serde_json::Value::as_array);
    for (i, role) in roles.into_iter().flatten().enumerate() {
        let Some(id) = role.get("template_id").and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        }) else {
            continue;
        };
        let Ok(Some(template)) = store.vm_template(id) else {
            continue;
        };
        if let Some(inputs) = template
            .attributes
            .get("USER_INPUTS")
            .and_then(serde_json::Value::as_object)
        {
            fields.extend(
                inputs
                    .keys()
                    .map(|name| format!("roles[{i}].user_inputs_values.{name}")),
            );
        }
    }
    fields
}
