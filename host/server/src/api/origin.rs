//! Cross-site request refusal. Bodies are read as JSON whatever their
//! Content-Type (OneFlow's clients rely on it), so a web page on another
//! site could make a browser post to the API with its cached Basic
//! credentials. Browsers say where a request comes from: a state-changing
//! request (anything but GET, HEAD, OPTIONS) whose `Origin` is neither the
//! server's own nor one of `server.allowed_origins` is refused with 403, as
//! is one marked `Sec-Fetch-Site: cross-site` without an Origin. Clients
//! that are not browsers (the CLI, curl, OneFlow's Ruby CLI) send neither
//! and are unaffected.

use super::error::ApiError;
use super::state::AppState;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// An origin as compared: lower case, without a trailing slash.
pub fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Whether `origin` is the server's own for a request to `host` (its Host
/// header). Both schemes count: behind a TLS proxy browsers say https.
fn own(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host.map(str::to_ascii_lowercase) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| rest == host)
}

pub async fn same_origin(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match text(header::ORIGIN.as_str()) {
        Some(origin) => {
            let normalised = normalise(origin);
            let host = text(header::HOST.as_str())
                .or_else(|| request.uri().authority().map(|a| a.as_str()));
            if !own(&normalised, host) && !state.allowed_origins.contains(&normalised) {
                return ApiError::forbidden(format!(
                    "Origin `{origin}` may not change anything here: only the server's own origin and server.allowed_origins may"
                ))
                .into_response();
            }
        }
        None => {
            if text("sec-fetch-site").is_some_and(|s| s.eq_ignore_ascii_case("cross-site")) {
                return ApiError::forbidden(
                    "a cross-site request (Sec-Fetch-Site: cross-site) may not change anything here",
                )
                .into_response();
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_origin_is_scheme_and_host() {
        assert!(super::own("http://127.0.0.1:2474", Some("127.0.0.1:2474")));
        assert!(super::own(
            "https://flotilla.example",
            Some("Flotilla.example")
        ));
        assert!(!super::own("http://127.0.0.1:2474", Some("127.0.0.1")));
        assert!(!super::own("null", Some("127.0.0.1")));
        assert!(!super::own("http://evil.example", None));
        assert_eq!(
            super::normalise(" HTTPS://Dash.example.com/ "),
            "https://dash.example.com"
        );
    }
}
