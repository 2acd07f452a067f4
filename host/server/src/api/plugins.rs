//! The plugin routes: `GET /plugins` and `GET /plugins/{id}`: what the
//! registry holds; `POST /plugins`: install a plugin while the server
//! runs; `DELETE /plugins/{id}`: remove one; `POST /config/reload`:
//! re-read flotilla.toml. The engine does each (`install`, `reload`);
//! this maps HTTP onto it.

use super::auth::Caller;
use super::body::{UPLOAD_LIMIT, too_large};
use super::error::ApiError;
use super::schemas::common::ListPluginsResponse;
use super::schemas::responses::{
    BadRequest, Conflict, Forbidden, NoContent, NotFound, Unauthorized, Unavailable,
};
use super::state::AppState;
use crate::install::{InstallError, Installer};
use crate::registry::PluginSummary;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper::body::Body as _;
use serde_json::json;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

#[utoipa::path(
    get,
    path = "/plugins",
    operation_id = "listPlugins",
    tag = "plugins",
    summary = "Loaded plugins",
    responses(
        (status = 200, description = "Every plugin, loaded or failed.", body = inline(ListPluginsResponse)),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable)
    )
)]
pub async fn list(State(state): State<Arc<AppState>>, _caller: Caller) -> Json<serde_json::Value> {
    Json(json!({ "plugins": state.registry.summaries() }))
}

#[utoipa::path(
    get,
    path = "/plugins/{id}",
    operation_id = "getPlugin",
    tag = "plugins",
    summary = "One plugin",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The plugin.", body = super::schemas::plugins::PluginSummary),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)
    )
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Response {
    match state.registry.summaries().into_iter().find(|p| p.id == id) {
        Some(p) => Json(p).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no plugin `{id}`; `flotilla plugin list` shows the loaded ones") })),
        )
            .into_response(),
    }
}

/// `{"manifest": "<plugin.toml>", "wasm": "<base64 component>"}`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // read by `Installer::install_upload`; here for the OpenAPI document
pub struct InstallPlugin {
    /// The plugin's manifest (`plugin.toml`), as text.
    manifest: String,
    /// The component, base64 (standard alphabet, padded).
    wasm: String,
}

/// Rights first: the body of a caller who may not install is never read
/// (the connection is closed after the 403). The upload goes to a file in
/// `<data-dir>/uploads`, not to memory, up to [`UPLOAD_LIMIT`]; the file
/// is removed whether or not the plugin installs.
#[utoipa::path(
    post,
    path = "/plugins",
    operation_id = "installPlugin",
    tag = "plugins",
    summary = "Install a plugin",
    description = "oneadmin group only (checked before the body is read). Loads and checks the component, keeps it in <data-dir>/plugins and uses it at once: a policy plugin of the same id is replaced once its running evaluations finish. Drivers are refused (409): they are installed by placing them in <data-dir>/plugins and restarting.",
    request_body = InstallPlugin,
    responses(
        (status = 201, description = "Installed.", body = super::schemas::plugins::PluginSummary),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, description = "The upload is over the size limit (96 MiB, base64 included)."),
        (status = 503, response = Unavailable)
    )
)]
pub async fn install(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Body,
) -> Result<(StatusCode, Json<PluginSummary>), ApiError> {
    if !caller.0.admin {
        return Err(ApiError::forbidden(
            "only the oneadmin group may install plugins",
        ));
    }
    let installer = installer(&state)?;
    let upload = receive(&installer, body).await?;
    let state2 = state.clone();
    let installed =
        tokio::task::spawn_blocking(move || installer.install_upload(&state2.registry, upload))
            .await
            .map_err(|e| ApiError::internal(format!("installing: {e}")))?;
    installed
        .map(|summary| (StatusCode::CREATED, Json(summary)))
        .map_err(refused)
}

/// The installer, or a 503 when the server has no data directory.
fn installer(state: &AppState) -> Result<Arc<Installer>, ApiError> {
    state.installer.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server cannot install or remove plugins (it runs without a data directory)",
        )
    })
}

/// Write the request's body to a new upload file, at most
/// [`UPLOAD_LIMIT`] bytes (a body without a length is counted as it
/// comes); the file is removed if anything fails.
async fn receive(
    installer: &Installer,
    mut body: Body,
) -> Result<crate::install::Upload, ApiError> {
    let storage = |e: std::io::Error| ApiError::internal(format!("keeping the upload: {e}"));
    let (upload, file) = installer.upload().map_err(storage)?;
    let mut file = tokio::fs::File::from_std(file);
    let mut received = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received += data.len();
        if received > UPLOAD_LIMIT {
            return Err(too_large(UPLOAD_LIMIT));
        }
        file.write_all(&data).await.map_err(storage)?;
    }
    file.flush().await.map_err(storage)?;
    Ok(upload)
}

/// An install or removal refused, with its status.
fn refused(e: InstallError) -> ApiError {
    match e {
        InstallError::Invalid(m) => ApiError::bad_request(m),
        InstallError::Conflict(m) => ApiError::conflict(m),
        InstallError::NotFound(m) => ApiError::not_found(m),
        InstallError::Storage(m) => ApiError::internal(m),
    }
}

/// Refused while something uses the plugin: the configuration file
/// (`engine.driver`, `engine.network_mode`), a service's elasticity
/// policy or a service's network of that mode. Templates that name it are
/// not checked: instantiating one warns, as for any plugin not installed.
#[utoipa::path(
    delete,
    path = "/plugins/{id}",
    operation_id = "removePlugin",
    tag = "plugins",
    summary = "Remove an installed plugin",
    description = "oneadmin group only. Deletes the plugin's files from <data-dir>/plugins and stops using it; calls running on it finish. Built-in plugins cannot be removed (409), nor a plugin flotilla.toml names as engine.driver or engine.network_mode, nor one a service's elasticity policy or network uses (409, naming them).",
    params(("id" = String, Path)),
    responses(
        (status = 204, response = NoContent),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable)
    )
)]
pub async fn remove(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !caller.0.admin {
        return Err(ApiError::forbidden(
            "only the oneadmin group may remove plugins",
        ));
    }
    let installer = installer(&state)?;
    if state.registry.installed(&id).is_some() {
        let mut users = installer.configured_users(&id).map_err(refused)?;
        users.extend(services_using(&state, &id)?);
        if !users.is_empty() {
            return Err(ApiError::conflict(format!(
                "plugin `{id}` is in use by {}; change those first",
                users.join(", ")
            )));
        }
    }
    let state2 = state.clone();
    tokio::task::spawn_blocking(move || installer.remove(&state2.registry, &id))
        .await
        .map_err(|e| ApiError::internal(format!("removing: {e}")))?
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The services that use plugin `id`: a role's elasticity policy names
/// it (`service 3 (web) role frontend`), or it is the mode of one of the
/// service's networks not yet removed, which it must undeploy
/// (`service 3 (web) network Private`).
fn services_using(state: &AppState, id: &str) -> Result<Vec<String>, ApiError> {
    let store = state.store()?;
    let mut users = Vec::new();
    for service in store.services()? {
        for network in &service.networks {
            if network.mode.as_deref() == Some(id) && !network.removed {
                users.push(format!(
                    "service {} ({}) network {}",
                    service.id, service.name, network.name
                ));
            }
        }
        for role in &service.template.roles {
            let uses = role
                .elasticity_policies
                .iter()
                .any(|policy| policy.plugin() == Some(id));
            if uses {
                users.push(format!(
                    "service {} ({}) role {}",
                    service.id, service.name, role.name
                ));
            }
        }
    }
    Ok(users)
}

#[utoipa::path(
    post,
    path = "/config/reload",
    operation_id = "reloadConfig",
    tag = "plugins",
    summary = "Re-read flotilla.toml",
    description = "oneadmin group only; what SIGHUP does. Plugin grants (outbound hosts, config, limits) apply to their next call, plugins added to or removed from <data-dir>/plugins are loaded or dropped, and what takes a restart is named. A file that does not parse or validate is refused (400, with the reason) and the running configuration stays.",
    responses(
        (status = 200, description = "Applied.", body = super::schemas::plugins::Reloaded),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable)
    )
)]
pub async fn reload(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<crate::reload::Reloaded>, ApiError> {
    if !caller.0.admin {
        return Err(ApiError::forbidden(
            "only the oneadmin group may reload the configuration",
        ));
    }
    let reloader = state.reloader.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server has no configuration file to reload",
        )
    })?;
    let state2 = state.clone();
    tokio::task::spawn_blocking(move || reloader.reload(&state2.registry))
        .await
        .map_err(|e| ApiError::internal(format!("reloading: {e}")))?
        .map(Json)
        .map_err(|e| ApiError::bad_request(format!("configuration refused, nothing changed: {e}")))
}
