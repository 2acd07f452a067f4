//! `POST /plugins`: install a plugin while the server runs.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::openapi::{BadRequest, Conflict, Forbidden, Unauthorized, Unavailable};
use crate::install::InstallError;
use crate::registry::PluginSummary;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::Value;
use std::sync::Arc;

/// The largest component accepted, encoded: a Python policy built with
/// componentize-py is about 18 MB, 25 MB in base64.
pub const INSTALL_LIMIT: usize = 96 * 1024 * 1024;

/// `{"manifest": "<plugin.toml>", "wasm": "<base64 component>"}`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // read by hand below; here for the OpenAPI document
pub struct InstallPlugin {
    /// The plugin's manifest (`plugin.toml`), as text.
    manifest: String,
    /// The component, base64 (standard alphabet, padded).
    wasm: String,
}

#[utoipa::path(
    post,
    path = "/plugins",
    operation_id = "installPlugin",
    tag = "plugins",
    summary = "Install a plugin",
    description = "oneadmin group only. Loads and checks the component, keeps it in <data-dir>/plugins and uses it at once: a policy plugin of the same id is replaced once its running evaluations finish. Drivers are refused (409): they are installed by placing them in <data-dir>/plugins and restarting.",
    request_body = InstallPlugin,
    responses(
        (status = 201, description = "Installed.", body = PluginSummary),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, description = "The component is over the size limit."),
        (status = 503, response = Unavailable)
    )
)]
pub async fn install(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<PluginSummary>), ApiError> {
    if !caller.0.admin {
        return Err(ApiError::forbidden(
            "only the oneadmin group may install plugins",
        ));
    }
    let installer = state.installer.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server cannot install plugins (it runs without a data directory)",
        )
    })?;
    let doc: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("request body: not JSON: {e}")))?;
    let text = |key: &str| -> Result<String, ApiError> {
        match doc.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                Err(ApiError::bad_request(format!("{key}: is required")))
            }
            Some(_) => Err(ApiError::bad_request(format!("{key}: must be a string"))),
        }
    };
    let manifest = text("manifest")?;
    let wasm = base64::engine::general_purpose::STANDARD
        .decode(text("wasm")?.trim())
        .map_err(|e| ApiError::bad_request(format!("wasm: not base64: {e}")))?;
    let state2 = state.clone();
    let installed =
        tokio::task::spawn_blocking(move || installer.install(&state2.registry, &manifest, &wasm))
            .await
            .map_err(|e| ApiError::internal(format!("installing: {e}")))?;
    match installed {
        Ok(summary) => Ok((StatusCode::CREATED, Json(summary))),
        Err(InstallError::Invalid(m)) => Err(ApiError::bad_request(m)),
        Err(InstallError::Conflict(m)) => Err(ApiError::new(StatusCode::CONFLICT, m)),
        Err(InstallError::Storage(m)) => Err(ApiError::internal(m)),
    }
}

#[utoipa::path(
    post,
    path = "/config/reload",
    operation_id = "reloadConfig",
    tag = "plugins",
    summary = "Re-read flotilla.toml",
    description = "oneadmin group only; what SIGHUP does. Plugin grants (outbound hosts, config, limits) apply to their next call, plugins added to or removed from <data-dir>/plugins are loaded or dropped, and what takes a restart is named. A file that does not parse or validate is refused (400, with the reason) and the running configuration stays.",
    responses(
        (status = 200, description = "Applied.", body = crate::reload::Reloaded),
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
