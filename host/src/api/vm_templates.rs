//! `/vm_template` routes: the VM templates roles are made from, in
//! OpenNebula's JSON shape (`VMTEMPLATE`, `VMTEMPLATE_POOL`).

use super::auth::Caller;
use super::error::ApiError;
use super::{AppState, JsonBody, body_json};
use crate::access::{Ownership, Permissions, Right};
use crate::store::{Store, VmTemplate};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

type St = State<Arc<AppState>>;

fn render(store: &Store, t: &VmTemplate) -> Value {
    json!({
        "ID": t.id.to_string(),
        "UID": t.ownership.uid.to_string(),
        "GID": t.ownership.gid.to_string(),
        "UNAME": store.user_name(t.ownership.uid),
        "GNAME": store.group_name(t.ownership.gid),
        "NAME": t.name,
        "PERMISSIONS": super::documents::permissions(&t.ownership.permissions),
        "TEMPLATE": t.attributes,
    })
}

/// A VM template the caller has `right` on.
pub(super) fn load(
    store: &Store,
    caller: &Caller,
    id: u64,
    right: Right,
) -> Result<VmTemplate, ApiError> {
    let t = store
        .vm_template(id)?
        .ok_or_else(|| ApiError::not_found(format!("VM template {id} does not exist")))?;
    caller.require(right, &t.ownership, &format!("VM template {id}"))?;
    Ok(t)
}

pub async fn list(State(state): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    let engine = state.engine()?;
    let store = engine.store();
    let items: Vec<Value> = store
        .vm_templates()?
        .iter()
        .filter(|t| caller.0.may(Right::Use, &t.ownership))
        .map(|t| render(&store, t))
        .collect();
    Ok(Json(if items.is_empty() {
        json!({ "VMTEMPLATE_POOL": {} })
    } else {
        json!({ "VMTEMPLATE_POOL": { "VMTEMPLATE": items } })
    }))
}

pub async fn show(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let engine = state.engine()?;
    let store = engine.store();
    let t = load(&store, &caller, id, Right::Use)?;
    Ok(Json(json!({ "VMTEMPLATE": render(&store, &t) })))
}

/// `{"name": "small", "template": {"CPU": "1", "MEMORY": "512", …}}`.
pub async fn create(
    State(state): St,
    caller: Caller,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let body = body_json(body)?;
    let name = match body.get("name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() && !n.chars().any(char::is_control) => n.trim().to_string(),
        _ => return Err(ApiError::bad_request("name: required, a non-empty string")),
    };
    let attributes = body
        .get("template")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ApiError::bad_request("template: required, an object of VM attributes"))?;
    if let Some(nic) = attributes.get("NIC")
        && !nic
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_object))
    {
        return Err(ApiError::bad_request(
            "template.NIC: must be an array of objects",
        ));
    }
    let engine = state.engine()?;
    let store = engine.store();
    let ownership = Ownership {
        uid: caller.0.uid,
        gid: caller.0.gid,
        permissions: Permissions::default(),
    };
    let id = store.create_vm_template(&name, ownership, attributes)?;
    let t = store
        .vm_template(id)?
        .ok_or_else(|| ApiError::internal("the VM template vanished"))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "VMTEMPLATE": render(&store, &t) })),
    )
        .into_response())
}

pub async fn delete(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    let engine = state.engine()?;
    let store = engine.store();
    load(&store, &caller, id, Right::Manage)?;
    store.delete_vm_template(id)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn action(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    let (perform, params) = super::perform(body)?;
    if !["rename", "chmod", "chown", "chgrp"].contains(&perform.as_str()) {
        return Err(ApiError::bad_request(format!(
            "action.perform: `{perform}` is not a VM template action (rename, chmod, chown, chgrp)"
        )));
    }
    let engine = state.engine()?;
    let store = engine.store();
    let mut t = load(&store, &caller, id, Right::Manage)?;
    super::change_ownership(
        &caller,
        &perform,
        &params,
        &mut t.ownership,
        Some(&mut t.name),
    )?;
    store.save_vm_template(&t)?;
    Ok(StatusCode::NO_CONTENT)
}
