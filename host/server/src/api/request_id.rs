//! Every request gets an id: it is in the `x-request-id` answer header, in
//! every error body (`request_id`) and on every line the server logs while
//! serving it, so a user's report of an error can be found in the log.

use axum::body::Body;
use axum::http::HeaderValue;
use axum::response::Response;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::Instrument as _;

pub const HEADER: &str = "x-request-id";

/// Process-unique: a prefix from the start time, then a counter.
fn next_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32))
    });
    format!(
        "{prefix:08x}{:08x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn request_id(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let id = next_id();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path()
    );
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    let mut response = if status.is_client_error() || status.is_server_error() {
        with_id_in_body(response, &id)
            .instrument(span.clone())
            .await
    } else {
        response
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// An error answer with its `request_id`, logged.
async fn with_id_in_body(response: Response, id: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let mut value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    let message = value["error"].as_str().unwrap_or_default().to_string();
    if parts.status.is_server_error() {
        tracing::error!(status = parts.status.as_u16(), "{message}");
    } else {
        tracing::info!(status = parts.status.as_u16(), "{message}");
    }
    if let Some(object) = value.as_object_mut() {
        object.insert("request_id".into(), serde_json::Value::from(id));
    }
    let bytes = serde_json::to_vec(&value).unwrap_or_else(|_| bytes.to_vec());
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}
