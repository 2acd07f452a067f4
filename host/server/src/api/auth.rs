//! Authentication: every route but `/health`, `/metrics` and
//! `/openapi.json` needs a user, by HTTP Basic credentials or by the
//! dashboard's session cookie (with its CSRF token for changes; see
//! `access::sessions`).

use super::error::ApiError;
use super::state::AppState;
use crate::access::sessions::Session;
use crate::access::throttle::Verdict;
use crate::access::users;
use crate::access::{Identity, Ownership, Right};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The name of the dashboard's session cookie.
pub const SESSION_COOKIE: &str = "flotilla_session";

/// The header a change made with a session cookie must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller of a request: by HTTP Basic credentials, or by
/// the dashboard's session cookie when the request has no Authorization
/// header.
pub struct Caller(pub Identity);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        // Basic clients are asked for credentials; the dashboard's page (its
        // cookie, or a script's request) is not (`ApiError::challenge`).
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m).challenge();
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(header) = header else {
            if let Some(token) = session_token(&parts.headers) {
                return by_session(parts, state, &token).map(|s| Caller(s.identity));
            }
            let missing = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "a username and password must be provided (HTTP Basic)",
            );
            return Err(if parts.headers.contains_key("x-requested-with") {
                missing
            } else {
                missing.challenge()
            });
        };
        let encoded = header
            .strip_prefix("Basic ")
            .ok_or_else(|| unauthorized("only HTTP Basic authentication is supported"))?;
        let decoded = decode_base64(encoded.trim())
            .ok_or_else(|| unauthorized("malformed Basic credentials"))?;
        let text =
            String::from_utf8(decoded).map_err(|_| unauthorized("malformed Basic credentials"))?;
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| unauthorized("malformed Basic credentials"))?;
        // Most requests come with credentials that verified before: answer
        // those without waiting for the store, and before throttling, so
        // that a signed-in client goes on while someone guesses its name.
        if let Some(identity) = state.auth.remembered(user, password) {
            return Ok(Caller(identity));
        }
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        sign_in(state, user, password, address)
            .await
            .map(|(identity, _)| Caller(identity))
            .map_err(ApiError::challenge)
    }
}

/// Checks a name and password as every sign-in is checked (Basic
/// credentials and the dashboard's sign-in alike): throttled per name and
/// address, Argon2 on the password threads. Returns the user and her
/// stored password hash.
pub async fn sign_in(
    state: &AppState,
    user: &str,
    password: &str,
    address: Option<std::net::IpAddr>,
) -> Result<(Identity, String), ApiError> {
    match state.throttle.verdict(user, address, Instant::now()) {
        Verdict::Check => {}
        // Many names failed from this address: slowed, so spraying
        // costs time, but a user with no failures of her own gets in.
        Verdict::CheckAfter(delay) => tokio::time::sleep(delay).await,
        Verdict::Refuse(wait) => {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            return Err(ApiError::retry_later(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many failed sign-ins for user {user}; try again in {seconds} s"),
                seconds,
            ));
        }
    }
    // Read before the stored credentials: a change to the user after
    // this point keeps what is verified below from being remembered.
    let generation = state.auth.generation();
    let stored = users::stored_credentials(&*state.store()?, user)?;
    // Argon2 takes tens of milliseconds and megabytes: on the password
    // threads, not the runtime's, and not holding the store.
    let hash = stored
        .as_ref()
        .map_or(users::stand_in_hash(), |s| s.hash())
        .to_string();
    let matches = state
        .passwords
        .check(hash.clone(), password.to_string())
        .await
        .map_err(|_| {
            ApiError::retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many sign-ins are being checked; try again shortly",
                1,
            )
        })?;
    match stored.filter(|_| matches) {
        Some(stored) => {
            let identity = stored.into_identity();
            state.throttle.succeeded(user);
            state
                .auth
                .remember(user, password, identity.clone(), generation);
            Ok((identity, hash))
        }
        None => {
            state.throttle.failed(user, address, Instant::now());
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid credentials",
            ))
        }
    }
}

/// The session token in the request's cookies, if any.
pub fn session_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// The session of a request that came with a session cookie, its user as
/// she is now. A change (anything but GET, HEAD, OPTIONS) must also carry
/// the session's CSRF token: the cookie alone is what another site can
/// make a browser send.
pub fn by_session(parts: &Parts, state: &AppState, token: &str) -> Result<Session, ApiError> {
    let ended = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "not signed in, or the session ended: sign in again",
        )
    };
    let mut session = state
        .sessions
        .get(token, Instant::now())
        .ok_or_else(ended)?;
    if !matches!(
        parts.method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    ) {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !crate::access::sessions::same_token(sent, &session.csrf) {
            return Err(ApiError::forbidden(
                "a change made with a session cookie must carry the session's X-CSRF-Token header",
            ));
        }
    }
    // Users changed since the session last looked: read its user again.
    // Gone, or her password changed, ends it; a new group is taken up.
    let generation = state.auth.generation();
    if generation == session.generation {
        return Ok(session);
    }
    let stored = users::stored_credentials(&*state.store()?, &session.identity.name)?;
    match stored {
        Some(stored)
            if stored.hash() == session.password_hash
                && stored.identity().uid == session.identity.uid =>
        {
            session.identity = stored.into_identity();
            session.generation = generation;
            state
                .sessions
                .refresh(token, session.identity.clone(), generation);
            Ok(session)
        }
        _ => {
            state.sessions.end(token);
            Err(ended())
        }
    }
}

impl Caller {
    /// What the caller creates is theirs and their group's, with the
    /// default permissions (owner use and manage).
    pub fn owns_new(&self) -> Ownership {
        Ownership {
            uid: self.0.uid,
            gid: self.0.gid,
            permissions: Default::default(),
        }
    }

    /// 403 unless the caller has `right` on a resource (`what`, for the
    /// message: "service 12").
    pub fn require(&self, right: Right, on: &Ownership, what: &str) -> Result<(), ApiError> {
        if self.0.may(right, on) {
            return Ok(());
        }
        let verb = match right {
            Right::Use => "use",
            Right::Manage => "manage",
            Right::Admin => "administer",
        };
        Err(ApiError::forbidden(format!(
            "user {} may not {verb} {what}",
            self.0.name
        )))
    }
}

/// Standard base64 (RFC 4648), as HTTP Basic uses; padding optional, as
/// some clients leave it out.
fn decode_base64(input: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{GeneralPurpose, PAD_INDIFFERENT};
    const BASIC: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        PAD_INDIFFERENT.with_decode_allow_trailing_bits(true),
    );
    BASIC.decode(input).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_basic_credentials() {
        assert_eq!(
            super::decode_base64("b25lYWRtaW46cGFzcw==").unwrap(),
            b"oneadmin:pass"
        );
        assert_eq!(super::decode_base64("YWxpY2U6cw").unwrap(), b"alice:s");
        assert!(super::decode_base64("!!!").is_none());
        assert!(super::decode_base64("a").is_none());
    }
}
