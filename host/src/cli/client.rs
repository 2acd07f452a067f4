//! A small HTTP client for the CLI's talks with the server.

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub const DEFAULT_URL: &str = "http://127.0.0.1:2474";

pub async fn get_json(url: &str) -> Result<serde_json::Value, String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let response = tokio::time::timeout(std::time::Duration::from_secs(10), client.get(uri))
        .await
        .map_err(|_| format!("{url}: no answer within 10 s"))?
        .map_err(|e| {
            format!("cannot reach the Flotilla server at {url} ({e}); start it with `flotilla serve` or pass --url")
        })?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{url}: reading the answer: {e}"))?
        .to_bytes();
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("{url}: the answer is not JSON: {e}"))?;
    if !status.is_success() {
        let message = value
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("request failed");
        return Err(format!("{url}: {status}: {message}"));
    }
    Ok(value)
}
