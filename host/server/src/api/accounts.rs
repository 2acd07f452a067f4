//! `/user` and `/group` routes. Only the oneadmin group creates users and
//! groups; everyone may see themselves and their group.

use super::auth::Caller;
use super::body::{JsonBody, body_json};
use super::error::ApiError;
use super::schemas::accounts::*;
use super::schemas::responses::{
    BadRequest, Conflict, Forbidden, NoContent, NotFound, Unauthorized, Unavailable,
};
use super::state::AppState;
use crate::access::users;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

type St = State<Arc<AppState>>;

fn render_user(store: &dyn crate::store::Store, u: &users::User) -> Value {
    json!({"ID": u.id.to_string(), "NAME": u.name, "GID": u.gid.to_string(), "GNAME": store.group_name(u.gid)})
}

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the oneadmin group may manage users and groups",
        ))
    }
}

#[utoipa::path(
    get,
    path = "/user",
    operation_id = "listUsers",
    tag = "user",
    summary = "List users",
    responses(
        (status = 200, description = "All users for the oneadmin group; otherwise the caller only.", body = UserPool),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn list_users(State(state): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    let engine = state.engine()?;
    let store = engine.store();
    let list: Vec<Value> = users::users(&*store)?
        .into_iter()
        .filter(|u| caller.0.admin || u.id == caller.0.uid)
        .map(|u| render_user(&*store, &u))
        .collect();
    Ok(Json(json!({ "USER_POOL": { "USER": list } })))
}

/// `{"name": "alice", "password": "…", "group_id": 1}`.
#[utoipa::path(
    post,
    path = "/user",
    operation_id = "createUser",
    tag = "user",
    summary = "Create a user",
    description = "oneadmin group only. 409 if the name is taken.",
    request_body(content = inline(CreateUserRequest), content_type = "application/json"),
    responses(
        (status = 201, description = "The new user.", body = UserResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
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
        Some(v) => super::body::json_id(v)
            .ok_or_else(|| ApiError::bad_request("group_id: must be a group id"))?,
    };
    let engine = state.engine()?;
    let store = engine.store();
    let id = users::create_user(&*store, name, password, gid)?;
    let user = users::User {
        id,
        name: name.to_string(),
        gid,
    };
    let body = json!({ "USER": render_user(&*store, &user) });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(
    get,
    path = "/group",
    operation_id = "listGroups",
    tag = "group",
    summary = "List groups",
    responses(
        (status = 200, description = "All groups for the oneadmin group; otherwise the caller's group.", body = GroupPool),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn list_groups(State(state): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    let engine = state.engine()?;
    let list: Vec<Value> = users::groups(&*engine.store())?
        .into_iter()
        .filter(|(id, _)| caller.0.admin || *id == caller.0.gid)
        .map(|(id, name)| json!({"ID": id.to_string(), "NAME": name}))
        .collect();
    Ok(Json(json!({ "GROUP_POOL": { "GROUP": list } })))
}

/// `{"name": "team"}`.
#[utoipa::path(
    post,
    path = "/group",
    operation_id = "createGroup",
    tag = "group",
    summary = "Create a group",
    description = "oneadmin group only. 409 if the name is taken.",
    request_body(content = inline(CreateGroupRequest), content_type = "application/json"),
    responses(
        (status = 201, description = "The new group.", body = GroupResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
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
    let id = users::create_group(&*engine.store(), name)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"GROUP": {"ID": id.to_string(), "NAME": name}})),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/user/{id}",
    operation_id = "getUser",
    tag = "user",
    summary = "Show a user",
    description = "The caller, or any user for the oneadmin group.",
    params(("id" = u64, Path)),
    responses(
        (status = 200, description = "The user.", body = UserResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn show_user(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    if !caller.0.admin && id != caller.0.uid {
        return Err(ApiError::forbidden(format!(
            "user {} may only see themselves",
            caller.0.name
        )));
    }
    let engine = state.engine()?;
    let store = engine.store();
    let user = users::user_by_id(&*store, id)?
        .ok_or_else(|| ApiError::not_found(format!("user {id} does not exist")))?;
    Ok(Json(json!({ "USER": render_user(&*store, &user) })))
}

#[utoipa::path(
    delete,
    path = "/user/{id}",
    operation_id = "deleteUser",
    tag = "user",
    summary = "Delete a user",
    description = "oneadmin group only; user 0 cannot be deleted (409).",
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
pub async fn delete_user(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    require_admin(&caller)?;
    users::delete_user(&*state.engine()?.store(), id)?;
    state.auth.forget_all();
    Ok(StatusCode::NO_CONTENT)
}

/// `passwd {password}` (a user for themselves, or the oneadmin group) and
/// `chgrp {group_id}` (the oneadmin group).
#[utoipa::path(
    post,
    path = "/user/{id}/action",
    operation_id = "userAction",
    tag = "user",
    summary = "Change a user's password or group",
    description = "passwd: the user themselves or the oneadmin group; chgrp: the oneadmin group.",
    params(("id" = u64, Path)),
    request_body(content = inline(UserActionRequest), content_type = "application/json"),
    responses(
        (status = 204, response = NoContent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
        (status = 409, response = Conflict)
    )
)]
pub async fn user_action(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    let (perform, params) = super::body::perform(body)?;
    let engine = state.engine()?;
    match perform.as_str() {
        "passwd" => {
            if !caller.0.admin && id != caller.0.uid {
                return Err(ApiError::forbidden(format!(
                    "user {} may only change their own password",
                    caller.0.name
                )));
            }
            let password = params
                .get("password")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request("params.password: required, a string"))?;
            users::set_password(&*engine.store(), id, password)?;
        }
        "chgrp" => {
            require_admin(&caller)?;
            let gid = super::body::param_id(&params, "group_id")?
                .ok_or_else(|| ApiError::bad_request("params.group_id: required"))?;
            users::set_group(&*engine.store(), id, gid)?;
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "action.perform: `{other}` is not a user action (passwd, chgrp)"
            )));
        }
    }
    // Remembered credentials carry the old password and group.
    state.auth.forget_all();
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/group/{id}",
    operation_id = "getGroup",
    tag = "group",
    summary = "Show a group",
    params(("id" = u64, Path)),
    responses(
        (status = 200, description = "The group.", body = GroupResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn show_group(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    if !caller.0.admin && id != caller.0.gid {
        return Err(ApiError::forbidden(format!(
            "user {} may only see their own group",
            caller.0.name
        )));
    }
    let engine = state.engine()?;
    let name = users::group(&*engine.store(), id)?
        .ok_or_else(|| ApiError::not_found(format!("group {id} does not exist")))?;
    Ok(Json(json!({"GROUP": {"ID": id.to_string(), "NAME": name}})))
}

#[utoipa::path(
    delete,
    path = "/group/{id}",
    operation_id = "deleteGroup",
    tag = "group",
    summary = "Delete a group",
    description = "oneadmin group only; groups 0 and 1, and groups with users, cannot be deleted (409).",
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
pub async fn delete_group(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    require_admin(&caller)?;
    users::delete_group(&*state.engine()?.store(), id)?;
    Ok(StatusCode::NO_CONTENT)
}
