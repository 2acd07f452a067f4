//! The web dashboard, served on the API's listener under `/ui`.
//!
//! The pages are one static application (HTML, JavaScript, CSS, embedded
//! in the binary: no second process, and no Node to build the server) that
//! runs in the browser and calls the REST API itself, so every screen goes
//! through the API's own permission checks and validation, and nothing the
//! dashboard does is out of reach of the CLI. What the server adds here is
//! sign-in: `POST /ui/session` checks a name and password as HTTP Basic is
//! checked (throttled alike) and sets an HttpOnly, SameSite=Strict session
//! cookie; `GET /ui/session` gives the page its user and CSRF token;
//! `DELETE /ui/session` signs out. The API takes the cookie in place of
//! Basic credentials (`api::auth`). Live updates are the page asking again
//! every two seconds while a screen is open: one small answer per screen,
//! rendered once per version of a service (`api::rendered`).

use crate::access::Identity;
use crate::api::auth::{self, SESSION_COOKIE};
use crate::api::{ApiError, AppState, JsonBody};
use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// What the pages may load and run: their own files only, and images in
/// `data:` URLs (`user_inputs_metadata` carries base64 images). No inline
/// script, so text from the API that slipped into the page could not run.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// The dashboard's routes, for `api::router`, which puts the API's layers
/// (request ids, the cross-site check, JSON errors) around them too.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/ui",
            get(|| async { page(INDEX, "text/html; charset=utf-8") }),
        )
        .route("/ui/", get(|| async { Redirect::permanent("/ui") }))
        .route(
            "/ui/app.js",
            get(|| async { page(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/ui/app.css",
            get(|| async { page(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/ui/session", get(current).post(sign_in).delete(sign_out))
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Small, and new with every release: asked again each time (answered
    // from the binary), so an upgrade never leaves an old page running.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// What the page knows of its user.
fn who(identity: &Identity, group: Option<String>, csrf: &str) -> Value {
    json!({
        "user": {
            "id": identity.uid,
            "name": identity.name,
            "gid": identity.gid,
            "group": group,
            "admin": identity.admin,
        },
        "csrf": csrf,
    })
}

fn group_name(state: &AppState, gid: u64) -> Option<String> {
    let store = state.store().ok()?;
    crate::access::users::group(&*store, gid).ok().flatten()
}

/// `GET /ui/session`: the signed-in user and her CSRF token, or 401.
async fn current(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let Some(token) = auth::session_token(&parts.headers) else {
        return ApiError::new(StatusCode::UNAUTHORIZED, "not signed in").into_response();
    };
    // Through the API's own check, so the user is read again after a
    // change, exactly as the next API call would.
    match auth::by_session(&parts, &state, &token) {
        Ok(session) => {
            let group = group_name(&state, session.identity.gid);
            Json(who(&session.identity, group, &session.csrf)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /ui/session {"username", "password"}`: sign in.
async fn sign_in(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = request.headers().clone();
    let body = JsonBody::from_request(request, &state)
        .await?
        .optional()?
        .unwrap_or(Value::Null);
    let field = |name: &str| -> Result<String, ApiError> {
        match body.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                Err(ApiError::bad_request(format!("{name}: required")))
            }
            Some(_) => Err(ApiError::bad_request(format!("{name}: must be a string"))),
        }
    };
    let (user, password) = (field("username")?, field("password")?);
    let (identity, hash) = auth::sign_in(&state, &user, &password, address).await?;
    let opened = state.sessions.open(
        identity.clone(),
        hash,
        state.auth.generation(),
        std::time::Instant::now(),
    );
    tracing::info!(user = %identity.name, "signed in to the dashboard");
    let group = group_name(&state, identity.gid);
    let mut response = Json(who(&identity, group, &opened.csrf)).into_response();
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{}",
        opened.token,
        if behind_tls(&headers) { "; Secure" } else { "" }
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `DELETE /ui/session`: sign out (with the CSRF token, as every change).
/// A session that already ended is signed out all the same.
async fn sign_out(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    if let Some(token) = auth::session_token(&parts.headers) {
        match auth::by_session(&parts, &state, &token) {
            Ok(session) => {
                state.sessions.end(&token);
                tracing::info!(user = %session.identity.name, "signed out of the dashboard");
            }
            Err(e) if e.status == StatusCode::FORBIDDEN => return e.into_response(),
            Err(_) => {}
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let cleared = format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if behind_tls(&parts.headers) {
            "; Secure"
        } else {
            ""
        }
    );
    if let Ok(value) = HeaderValue::from_str(&cleared) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Whether the browser reached the server over TLS (a proxy in front says
/// so): then the cookie is `Secure`, never sent in the clear.
fn behind_tls(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    text("x-forwarded-proto").is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
        || text("forwarded").is_some_and(|f| {
            f.split([';', ','])
                .any(|part| part.trim().eq_ignore_ascii_case("proto=https"))
        })
        || text(header::ORIGIN.as_str()).is_some_and(|o| o.starts_with("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_read_from_what_a_proxy_says() {
        let mut h = HeaderMap::new();
        assert!(!behind_tls(&h));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(behind_tls(&h));
        let mut h = HeaderMap::new();
        h.insert(
            "forwarded",
            HeaderValue::from_static("for=192.0.2.60;proto=https;by=203.0.113.43"),
        );
        assert!(behind_tls(&h));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!behind_tls(&h));
    }

    #[test]
    fn the_pages_are_embedded_and_load_nothing_inline() {
        assert!(INDEX.contains("/ui/app.js"));
        assert!(
            !INDEX.contains("<script>"),
            "inline scripts are refused by the CSP"
        );
        assert!(
            !INDEX.contains("style=\""),
            "inline styles are refused by the CSP"
        );
    }
}
