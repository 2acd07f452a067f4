//! `/service` routes.

use super::auth::Caller;
use super::body::{JsonBody, body_json};
use super::documents;
use super::error::ApiError;
use super::schemas::responses::{
    BadRequest, Conflict, Forbidden, NoContent, NotFound, Unauthorized, Unavailable,
};
use super::schemas::services::*;
use super::state::AppState;
use super::warnings::Warnings;
use crate::access::Right;
use crate::service::lifecycle::{Service, VmAction, VmActionRequest};
use crate::store::Store;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;

type St = State<Arc<AppState>>;

/// A stored service, shared rather than copied.
fn fetch(store: &dyn Store, id: u64) -> Result<Arc<Service>, ApiError> {
    store
        .shared_service(id)?
        .ok_or_else(|| ApiError::not_found(format!("service {id} does not exist")))
}

/// A service the caller has `right` on.
fn load(
    state: &AppState,
    caller: &Caller,
    id: u64,
    right: Right,
) -> Result<Arc<Service>, ApiError> {
    let service = fetch(&*state.engine()?.store(), id)?;
    caller.require(right, &service.ownership, &format!("service {id}"))?;
    Ok(service)
}

#[utoipa::path(
    get,
    path = "/service",
    operation_id = "listServices",
    tag = "service",
    summary = "List services",
    responses(
        (status = 200, description = "The services the caller may use.", body = inline(ListServicesResponse)),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn list(State(state): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    let engine = state.engine()?;
    let store = engine.store();
    let docs = store
        .services()?
        .iter()
        .filter(|s| caller.0.may(Right::Use, &s.ownership))
        .map(|s| documents::service(&*store, s))
        .collect();
    Ok(Json(documents::pool(docs)))
}

/// The hottest route: the store's lock is held only to fetch the service
/// and its owner's names; the `DOCUMENT` is rendered outside it, once per
/// version of the service (see [`RenderedServices`](super::rendered::RenderedServices)).
#[utoipa::path(
    get,
    path = "/service/{id}",
    operation_id = "getService",
    tag = "service",
    summary = "Show a service",
    params(("id" = u64, Path)),
    responses(
        (status = 200, description = "The service.", body = inline(GetServiceResponse)),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn show(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    let found = {
        let store = state.engine()?.store();
        store.shared_service(id).map(|service| {
            service.map(|service| {
                let names = documents::Names::of(&*store, &service.ownership);
                (service, names)
            })
        })
    };
    let Some((service, names)) = found? else {
        state.rendered.forget(id);
        return Err(ApiError::not_found(format!("service {id} does not exist")));
    };
    caller.require(Right::Use, &service.ownership, &format!("service {id}"))?;
    let body = match state.rendered.get(&service, &names) {
        Some(body) => body,
        None => {
            let addresses = documents::Addresses::of(&*state.engine()?.store(), id);
            let document = documents::one(documents::service_named(&names, &addresses, &service));
            let body = Bytes::from(
                serde_json::to_vec(&document)
                    .map_err(|e| ApiError::internal(format!("rendering service {id}: {e}")))?,
            );
            state.rendered.put(&service, names, body.clone());
            body
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[utoipa::path(
    delete,
    path = "/service/{id}",
    operation_id = "deleteService",
    tag = "service",
    summary = "Undeploy a service",
    description = "Undeploys, then deletes the service. 409 unless PENDING, RUNNING, UNDEPLOYING, WARNING or HOLD.",
    params(("id" = u64, Path)),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn delete(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    load(&state, &caller, id, Right::Manage)?;
    state.engine()?.undeploy(id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/service/{id}/scale",
    operation_id = "scaleService",
    tag = "service",
    summary = "Scale a role",
    description = "409 unless the service is RUNNING (e.g. in COOLDOWN); 400 outside min_vms..max_vms without force, or to the current cardinality.",
    params(("id" = u64, Path)),
    request_body(content = inline(ScaleServiceRequest), content_type = "application/json"),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn scale(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    let body = body_json(body)?;
    load(&state, &caller, id, Right::Manage)?;
    let role = body
        .get("role_name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("role_name: required"))?;
    let cardinality = body
        .get("cardinality")
        .and_then(super::body::json_id)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| ApiError::bad_request("cardinality: must be a whole number, 0 or more"))?;
    let force = super::body::bool_field(&body, "force", "force")?;
    state.engine()?.scale(id, role, cardinality, force).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/service/{id}/action",
    operation_id = "serviceAction",
    tag = "service",
    summary = "Act on a service",
    description = "recover (delete: true removes the service from any state); release releases held roles; rename, chmod, chown, chgrp (chown and chgrp change the service's VMs too); any other perform is a VM action scheduled on every role's VMs in batches. 409 in a state the action does not allow.",
    params(("id" = u64, Path)),
    request_body(content = inline(ServiceActionRequest), content_type = "application/json"),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn action(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    let (perform, params) = super::body::perform(body)?;
    let engine = state.engine()?;
    match perform.as_str() {
        "recover" => {
            load(&state, &caller, id, Right::Manage)?;
            if super::body::param_bool(&params, "delete")? {
                engine.undeploy(id, true).await?;
            } else {
                engine.recover(id).await?;
            }
        }
        "release" => {
            load(&state, &caller, id, Right::Manage)?;
            engine.release(id).await?;
        }
        "rename" | "chmod" | "chown" | "chgrp" => {
            let service = load(&state, &caller, id, Right::Manage)?;
            let mut ownership = service.ownership.clone();
            let mut name = service.name.clone();
            super::rights::change_ownership(
                &*engine.store(),
                &caller,
                &perform,
                &params,
                &mut ownership,
                &mut name,
            )?;
            if name != service.name {
                engine.rename(id, &name).await?;
            }
            if ownership != service.ownership {
                engine.set_ownership(id, ownership).await?;
            }
        }
        name if VmAction::ALL.iter().any(|a| a.as_str() == name) => {
            load(&state, &caller, id, Right::Manage)?;
            engine
                .service_action(id, &vm_action_request(name, &params)?)
                .await?;
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "action.perform: `{other}` is not a service action"
            )));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A VM action with its `params`: `period` and `number` of the batches
/// and the action's `args`.
fn vm_action_request(name: &str, params: &Value) -> Result<VmActionRequest, ApiError> {
    let action = VmAction::parse(name).ok_or_else(|| {
        let names: Vec<&str> = VmAction::ALL.iter().map(|a| a.as_str()).collect();
        ApiError::bad_request(format!(
            "action: `{name}` is not a VM action ({})",
            names.join(", ")
        ))
    })?;
    let (period_s, number) = batch(params)?;
    Ok(VmActionRequest {
        action,
        args: action_args(action, params.get("args"))?,
        period_s,
        number,
    })
}

/// The driver's parameters of an action. OneFlow sends `args` as one
/// string of comma-separated values in the order OpenNebula's VM action
/// takes them (`snapshot-create NAME`, `disk-snapshot-create DISK,NAME`);
/// they are named here for the driver. An object is taken as named
/// parameters as it is.
fn action_args(action: VmAction, args: Option<&Value>) -> Result<Vec<(String, String)>, ApiError> {
    let positional = action.arg_names();
    match args {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(Vec::new()),
        Some(Value::String(text)) => {
            let values: Vec<&str> = text.split(',').map(str::trim).collect();
            if values.len() > positional.len() {
                return Err(ApiError::bad_request(format!(
                    "params.args: `{action}` takes {} argument(s){}, not {}",
                    positional.len(),
                    if positional.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", positional.join(","))
                    },
                    values.len()
                )));
            }
            Ok(positional
                .iter()
                .zip(values)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect())
        }
        Some(Value::Object(named)) => named
            .iter()
            .map(|(k, v)| match crate::service::inputs::as_text(v) {
                Some(text) => Ok((k.clone(), text)),
                None => Err(ApiError::bad_request(format!(
                    "params.args.{k}: must be a string or a number"
                ))),
            })
            .collect(),
        Some(_) => Err(ApiError::bad_request(
            "params.args: must be a string of comma-separated values (OneFlow's form) or an object",
        )),
    }
}

/// `period` and `number` of a batched action; OneFlow's defaults (60 s, 1)
/// apply only when the client sends neither.
fn batch(params: &Value) -> Result<(u64, u64), ApiError> {
    let get = |key: &str| -> Result<Option<u64>, ApiError> {
        match params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => super::body::json_id(v).map(Some).ok_or_else(|| {
                ApiError::bad_request(format!("params.{key}: must be a whole number"))
            }),
        }
    };
    Ok(match (get("period")?, get("number")?) {
        (None, None) => (60, 1),
        (p, n) => (p.unwrap_or(0), n.unwrap_or(0)),
    })
}

#[utoipa::path(
    post,
    path = "/service/{id}/role/{role}/action",
    operation_id = "roleVmAction",
    tag = "service",
    summary = "VM action on a role's VMs",
    description = "Schedules the action on the role's VMs in batches (release means VM release here). 409 unless the service is RUNNING, WARNING or HOLD.",
    params(("id" = u64, Path), ("role" = String, Path, description = "Role name.")),
    request_body(content = inline(RoleVmActionRequest), content_type = "application/json"),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn role_vm_action(
    State(state): St,
    caller: Caller,
    Path((id, role)): Path<(u64, String)>,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    let (perform, params) = super::body::perform(body)?;
    load(&state, &caller, id, Right::Manage)?;
    state
        .engine()?
        .role_action(id, &role, &vm_action_request(&perform, &params)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/service/{id}/role_action",
    operation_id = "serviceRoleAction",
    tag = "service",
    summary = "Add or remove a role",
    description = "The service must be RUNNING (409). A role that is another role's parent cannot be removed.",
    params(("id" = u64, Path)),
    request_body(content = inline(ServiceRoleActionRequest), content_type = "application/json"),
    responses(
        (status = 204, description = "Done; empty body.", headers(("Flotilla-Warning" = String, description = "One per warning about the request (an unknown template attribute); repeated. Non-ASCII characters are escaped as \\u{hex}."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn role_action(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (perform, params) = super::body::perform(body)?;
    load(&state, &caller, id, Right::Manage)?;
    let engine = state.engine()?;
    match perform.as_str() {
        "add_role" => {
            let role = match params.get("role") {
                Some(Value::String(text)) => serde_json::from_str(text)
                    .map_err(|e| ApiError::bad_request(format!("params.role: not JSON: {e}")))?,
                Some(role @ Value::Object(_)) => role.clone(),
                _ => {
                    return Err(ApiError::bad_request(
                        "params.role: a role object is required",
                    ));
                }
            };
            let warnings = Warnings::role(&state, &service_inputs(&state, id)?, &role)?;
            super::rights::require_role_use(&*engine.store(), &caller, &role, "params.role")?;
            engine.add_role(id, &role).await?;
            return Ok(warnings.headers(StatusCode::NO_CONTENT.into_response()));
        }
        "remove_role" => {
            let role = super::body::param_str(&params, "role")?;
            engine.remove_role(id, &role).await?;
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "action.perform: `{other}` is not a role action (add_role, remove_role)"
            )));
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The user inputs a service declares, which a role's values may answer.
fn service_inputs(state: &AppState, id: u64) -> Result<Vec<String>, ApiError> {
    let service = fetch(&*state.engine()?.store(), id)?;
    Ok(service.template.user_inputs.keys().cloned().collect())
}

/// The full service template, or `{"append": true, "template": "<JSON>"}`
/// whose top-level keys replace the current ones.
#[utoipa::path(
    put,
    path = "/service/{id}",
    operation_id = "updateService",
    tag = "service",
    summary = "Update a service",
    description = "A full service template body, or {append: true, template: \"<JSON text>\"} merging top-level keys. Cannot change (400 listing each): name (use rename), deployment, user_inputs, user_inputs_values, networks, networks_values, ready_status_gate, the set of roles (use role_action), and per role cardinality (use scale), parents, template_id. 409 while the service is in a transient or failed state.",
    params(("id" = u64, Path)),
    request_body(content = inline(UpdateServiceRequest), content_type = "application/json"),
    responses(
        (status = 204, description = "Done; empty body.", headers(("Flotilla-Warning" = String, description = "One per warning about the request (an unknown template attribute); repeated. Non-ASCII characters are escaped as \\u{hex}."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn update(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let body = body_json(body)?;
    let service = load(&state, &caller, id, Right::Manage)?;
    let document = if super::body::bool_field(&body, "append", "append")? {
        let sent = match body.get("template") {
            Some(Value::String(text)) => serde_json::from_str(text)
                .map_err(|e| ApiError::bad_request(format!("template: not JSON: {e}")))?,
            Some(object @ Value::Object(_)) => object.clone(),
            _ => {
                return Err(ApiError::bad_request(
                    "template: required with append, the attributes to change as JSON",
                ));
            }
        };
        let Value::Object(sent) = sent else {
            return Err(ApiError::bad_request("template: must be a JSON object"));
        };
        let mut current = match serde_json::to_value(&service.template) {
            Ok(Value::Object(current)) => current,
            _ => {
                return Err(ApiError::internal(
                    "the service's template is not an object",
                ));
            }
        };
        current.extend(sent);
        Value::Object(current)
    } else {
        without_runtime(body)
    };
    let warnings = Warnings::template(&state, &document)?;
    // An update may name other VM templates and images: the same checks
    // as at instantiate.
    super::rights::require_roles_use(&*state.engine()?.store(), &caller, &document)?;
    state.engine()?.update(id, &document).await?;
    Ok(warnings.headers(StatusCode::NO_CONTENT.into_response()))
}

/// A service body as `GET` shows it, without what the server adds (state,
/// log, nodes, …), so a client may send back what it read, edited.
fn without_runtime(mut body: Value) -> Value {
    if let Some(b) = body.as_object_mut() {
        for key in ["state", "start_time", "log"] {
            b.remove(key);
        }
        if let Some(Value::Array(roles)) = b.get_mut("roles") {
            for role in roles.iter_mut().filter_map(Value::as_object_mut) {
                for key in ["state", "nodes", "last_vmname", "scheduled_actions"] {
                    role.remove(key);
                }
            }
        }
    }
    body
}

/// `sched_id` must be digits (OneFlow answers 400 otherwise, too).
fn sched_id(text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("sched_id: `{text}` must be a whole number")))
}

#[utoipa::path(
    delete,
    path = "/service/{id}/sched_action/{sched_id}",
    operation_id = "deleteServiceSchedAction",
    tag = "service",
    summary = "Cancel a batched action (all roles)",
    description = "Cancels the pending VM actions of a batched action. An unknown id is a success.",
    params(("id" = u64, Path), ("sched_id" = String, Path, description = "Id of a batched action; anything but digits is a 400.", pattern = "^[0-9]+$")),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn delete_sched_action(
    State(state): St,
    caller: Caller,
    Path((id, sched)): Path<(u64, String)>,
) -> Result<StatusCode, ApiError> {
    let sched = sched_id(&sched)?;
    load(&state, &caller, id, Right::Manage)?;
    state.engine()?.delete_sched_action(id, None, sched).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/service/{id}/role/{role}/sched_action/{sched_id}",
    operation_id = "deleteRoleSchedAction",
    tag = "service",
    summary = "Cancel a batched action of a role",
    description = "Cancels the pending VM actions of a batched action. An unknown id is a success.",
    params(("id" = u64, Path), ("role" = String, Path, description = "Role name."), ("sched_id" = String, Path, description = "Id of a batched action; anything but digits is a 400.", pattern = "^[0-9]+$")),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn delete_role_sched_action(
    State(state): St,
    caller: Caller,
    Path((id, role, sched)): Path<(u64, String, String)>,
) -> Result<StatusCode, ApiError> {
    let sched = sched_id(&sched)?;
    load(&state, &caller, id, Right::Manage)?;
    state
        .engine()?
        .delete_sched_action(id, Some(&role), sched)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/service_pool/purge_done",
    operation_id = "purgeDoneServices",
    tag = "service",
    summary = "Delete DONE services",
    description = "The DONE services the caller may manage.",
    responses(
        (status = 204, response = NoContent),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable)
    )
)]
pub async fn purge_done(State(state): St, caller: Caller) -> Result<StatusCode, ApiError> {
    // As OneFlow: each caller purges the DONE services she may manage.
    state
        .engine()?
        .purge_done(|service| caller.0.may(Right::Manage, &service.ownership))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
