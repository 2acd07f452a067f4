//! `/user` and `/group` routes. Only the oneadmin group creates users and
//! groups; everyone may see themselves and their group.

use super::auth::Caller;
use super::error::ApiError;
use super::{AppState, JsonBody, body_json};
use crate::access::users;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

type St = State<Arc<AppState>>;

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the oneadmin group may manage users and groups",
        ))
    }
}

pub async fn list_users(State(state): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    let engine = state.engine()?;
    let store = engine.store();
    let list: Vec<Value> = users::users(&store)?
        .into_iter()
        .filter(|u| caller.0.admin || u.id == caller.0.uid)
        .map(|u| json!({"ID": u.id.to_string(), "NAME": u.name, "GID": u.gid.to_string(), "GNAME": store.group_name(u.gid)}))
        .collect();
    Ok(Json(json!({ "USER_POOL": { "USER": list } })))
}

/// `{"name": "alice", "password": "…", "group_id": 1}`.
pub async fn create_user(
    State(state): St,
    caller: Caller,
    body: JsonBody,
) -> Result<Response, ApiError> {
    require_admin(&caller)?;
    let body = body_json(body)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("name: required"))?;
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("password: required"))?;
    let gid = match body.get("group_id") {
        None | Some(Value::Null) => users::USERS_GROUP,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| ApiError::bad_request("group_id: must be a group id"))?,
    };
    let engine = state.engine()?;
    let id = users::create_user(&engine.store(), name, password, gid)?;
    let body = json!({"USER": {"ID": id.to_string(), "NAME": name, "GID": gid.to_string()}});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn list_groups(State(state): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    let engine = state.engine()?;
    let list: Vec<Value> = users::groups(&engine.store())?
        .into_iter()
        .filter(|(id, _)| caller.0.admin || *id == caller.0.gid)
        .map(|(id, name)| json!({"ID": id.to_string(), "NAME": name}))
        .collect();
    Ok(Json(json!({ "GROUP_POOL": { "GROUP": list } })))
}

/// `{"name": "team"}`.
pub async fn create_group(
    State(state): St,
    caller: Caller,
    body: JsonBody,
) -> Result<Response, ApiError> {
    require_admin(&caller)?;
    let body = body_json(body)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("name: required"))?;
    let engine = state.engine()?;
    let id = users::create_group(&engine.store(), name)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"GROUP": {"ID": id.to_string(), "NAME": name}})),
    )
        .into_response())
}
