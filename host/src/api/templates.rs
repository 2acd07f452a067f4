//! `/service_template` routes.

use super::auth::Caller;
use super::error::ApiError;
use super::{AppState, JsonBody, body_json, documents};
use crate::access::{Ownership, Permissions, Right};
use crate::store::ServiceTemplateDoc;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;

type St = State<Arc<AppState>>;

/// A stored template the caller has `right` on.
pub(super) fn load(
    state: &AppState,
    caller: &Caller,
    id: u64,
    right: Right,
) -> Result<ServiceTemplateDoc, ApiError> {
    let engine = state.engine()?;
    let doc = engine
        .store()
        .service_template(id)?
        .ok_or_else(|| ApiError::not_found(format!("service template {id} does not exist")))?;
    caller.require(right, &doc.ownership, &format!("service template {id}"))?;
    Ok(doc)
}

fn validated(body: &Value) -> Result<(String, Value), ApiError> {
    let template = crate::service::parse_template(body).map_err(|fields| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: fields
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("; "),
        fields,
    })?;
    let normalized =
        serde_json::to_value(&template).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((template.name, normalized))
}

pub async fn list(State(state): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    let engine = state.engine()?;
    let store = engine.store();
    let docs = store
        .service_templates()?
        .iter()
        .filter(|d| caller.0.may(Right::Use, &d.ownership))
        .map(|d| documents::template(&store, d))
        .collect();
    Ok(Json(documents::pool(docs)))
}

pub async fn show(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let doc = load(&state, &caller, id, Right::Use)?;
    let engine = state.engine()?;
    Ok(Json(documents::one(documents::template(
        &engine.store(),
        &doc,
    ))))
}

pub async fn create(
    State(state): St,
    caller: Caller,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let body = body_json(body)?;
    let (name, normalized) = validated(&body)?;
    let engine = state.engine()?;
    let store = engine.store();
    let doc = ServiceTemplateDoc {
        id: store.next_service_template_id()?,
        name,
        ownership: Ownership {
            uid: caller.0.uid,
            gid: caller.0.gid,
            permissions: Permissions::default(),
        },
        registration_time: crate::clock::Clock::now_ms(&crate::clock::SystemClock) / 1000,
        body: normalized,
    };
    store.save_service_template(&doc)?;
    Ok((
        StatusCode::CREATED,
        Json(documents::one(documents::template(&store, &doc))),
    )
        .into_response())
}

pub async fn update(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let mut doc = load(&state, &caller, id, Right::Manage)?;
    let body = body_json(body)?;
    let (name, normalized) = validated(&body)?;
    doc.name = name;
    doc.body = normalized;
    let engine = state.engine()?;
    let store = engine.store();
    store.save_service_template(&doc)?;
    Ok(Json(documents::one(documents::template(&store, &doc))))
}

pub async fn delete(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    load(&state, &caller, id, Right::Manage)?;
    state.engine()?.store().delete_service_template(id)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn action(
    State(state): St,
    caller: Caller,
    Path(id): Path<u64>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (perform, params) = super::perform(body)?;
    match perform.as_str() {
        "instantiate" => {
            let doc = load(&state, &caller, id, Right::Use)?;
            let merge = params
                .get("merge_template")
                .cloned()
                .unwrap_or(Value::Object(Default::default()));
            if !merge.is_object() {
                return Err(ApiError::bad_request(
                    "params.merge_template: must be an object",
                ));
            }
            let merged = crate::service::merge::apply_merge_template(&doc.body, &merge);
            let engine = state.engine()?;
            // Every VM template the roles use must be usable by the caller.
            if let Some(roles) = merged.get("roles").and_then(Value::as_array) {
                let store = engine.store();
                for (i, role) in roles.iter().enumerate() {
                    if let Some(tid) = role.get("template_id").and_then(Value::as_u64)
                        && let Some(t) = store.vm_template(tid)?
                        && !caller.0.may(Right::Use, &t.ownership)
                    {
                        return Err(ApiError::forbidden(format!(
                            "roles[{i}].template_id: user {} may not use VM template {tid}",
                            caller.0.name
                        )));
                    }
                }
            }
            let ownership = Ownership {
                uid: caller.0.uid,
                gid: caller.0.gid,
                permissions: Permissions::default(),
            };
            let service_id = engine.instantiate_for(&merged, ownership).await?;
            let service = engine.service(service_id)?;
            let body = documents::one(documents::service(&engine.store(), &service));
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        "clone" => {
            let doc = load(&state, &caller, id, Right::Use)?;
            let name = super::param_str(&params, "name")?;
            let engine = state.engine()?;
            let store = engine.store();
            let mut body = doc.body.clone();
            body["name"] = Value::String(name.clone());
            let clone = ServiceTemplateDoc {
                id: store.next_service_template_id()?,
                name,
                ownership: Ownership {
                    uid: caller.0.uid,
                    gid: caller.0.gid,
                    permissions: Permissions::default(),
                },
                registration_time: crate::clock::Clock::now_ms(&crate::clock::SystemClock) / 1000,
                body,
            };
            store.save_service_template(&clone)?;
            Ok((
                StatusCode::CREATED,
                Json(documents::one(documents::template(&store, &clone))),
            )
                .into_response())
        }
        "rename" | "chmod" | "chown" | "chgrp" => {
            let mut doc = load(&state, &caller, id, Right::Manage)?;
            super::change_ownership(
                &caller,
                &perform,
                &params,
                &mut doc.ownership,
                Some(&mut doc.name),
            )?;
            if perform == "rename" {
                doc.body["name"] = Value::String(doc.name.clone());
            }
            state.engine()?.store().save_service_template(&doc)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "action.perform: `{other}` is not a template action (instantiate, clone, rename, chmod, chown, chgrp)"
        ))),
    }
}
