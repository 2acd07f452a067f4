//! Outbound HTTP for plugins, over `wasi:http`.
//!
//! This is the only way out of the sandbox a driver has: the host lets a
//! request through only when both the plugin's manifest
//! (`allowed_outbound_hosts`) and the operator's grant allow its origin. A
//! refused request comes back as [`Error::Denied`].

use crate::types::Error;

/// A response with its body read in full.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Other(format!("response is not the JSON expected: {e}")))
    }
}

pub fn get(url: &str) -> Result<Response, Error> {
    request("GET", url, None)
}

pub fn post_json<T: serde::Serialize>(url: &str, body: &T) -> Result<Response, Error> {
    let body =
        serde_json::to_vec(body).map_err(|e| Error::InvalidInput(format!("request body: {e}")))?;
    request("POST", url, Some(&body))
}

pub fn put_json<T: serde::Serialize>(url: &str, body: &T) -> Result<Response, Error> {
    let body =
        serde_json::to_vec(body).map_err(|e| Error::InvalidInput(format!("request body: {e}")))?;
    request("PUT", url, Some(&body))
}

/// Send one request and read the whole response. Bodies are JSON.
pub fn request(method: &str, url: &str, body: Option<&[u8]>) -> Result<Response, Error> {
    imp::request(method, url, body)
}

/// Split `http://host:port/path?q` into (scheme, authority, path-with-query).
fn split_url(url: &str) -> Result<(&str, &str, &str), Error> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::InvalidInput(format!("url `{url}` has no scheme")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(Error::InvalidInput(format!("url `{url}` has no host")));
    }
    Ok((scheme, authority, path))
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{Response, split_url};
    use crate::types::Error;
    use wasi::http::outgoing_handler;
    use wasi::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
    use wasi::io::streams::StreamError;

    pub fn request(method: &str, url: &str, body: Option<&[u8]>) -> Result<Response, Error> {
        let (scheme, authority, path) = split_url(url)?;
        let headers = Fields::new();
        if body.is_some() {
            headers
                .append("content-type", b"application/json")
                .map_err(|e| Error::Other(format!("header: {e:?}")))?;
        }
        let req = OutgoingRequest::new(headers);
        let method = match method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_string()),
        };
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => Scheme::Other(other.to_string()),
        };
        let bad = |what: &str| Error::InvalidInput(format!("url `{url}`: bad {what}"));
        req.set_method(&method).map_err(|_| bad("method"))?;
        req.set_scheme(Some(&scheme)).map_err(|_| bad("scheme"))?;
        req.set_authority(Some(authority))
            .map_err(|_| bad("host"))?;
        req.set_path_with_query(Some(path))
            .map_err(|_| bad("path"))?;

        let outgoing = req
            .body()
            .map_err(|_| Error::Other("request body taken twice".into()))?;
        // Send first, then stream the body: the body is a bounded pipe that
        // only drains once the request is on its way, so writing a large
        // body before `handle` would block forever.
        let future = outgoing_handler::handle(req, None).map_err(|e| to_error(url, e))?;
        if let Some(bytes) = body {
            let stream = outgoing
                .write()
                .map_err(|_| Error::Other("request body stream taken twice".into()))?;
            // blocking_write_and_flush takes at most 4096 bytes per call.
            for chunk in bytes.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| Error::Unavailable(format!("writing request body: {e:?}")))?;
            }
            drop(stream);
        }
        OutgoingBody::finish(outgoing, None).map_err(|e| to_error(url, e))?;

        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(e))) => return Err(to_error(url, e)),
            Some(Err(())) | None => {
                return Err(Error::Other("response future polled twice".into()));
            }
        };
        let status = response.status();
        let incoming = response
            .consume()
            .map_err(|_| Error::Other("response body taken twice".into()))?;
        let stream = incoming
            .stream()
            .map_err(|_| Error::Other("response body stream taken twice".into()))?;
        let mut body = Vec::new();
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(Error::Unavailable(format!(
                        "reading response from {url}: {}",
                        e.to_debug_string()
                    )));
                }
            }
        }
        drop(stream);
        Ok(Response { status, body })
    }

    fn to_error(url: &str, e: ErrorCode) -> Error {
        match e {
            ErrorCode::HttpRequestDenied => Error::Denied(format!(
                "request to {url} denied by the host (not an allowed outbound host)"
            )),
            other => Error::Unavailable(format!("request to {url} failed: {other:?}")),
        }
    }
}

/// Native builds (unit tests, native benchmarks) send requests with
/// ureq, so driver logic runs unchanged outside Wasm.
#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{Response, split_url};
    use crate::types::Error;
    use std::sync::LazyLock;

    /// One agent for the process: it keeps connections alive per origin,
    /// as the host's pool does for Wasm plugins, so native and Wasm builds
    /// compare fairly. Callers run on many threads, each with at most one
    /// request in flight; a few idle connections per origin cover them.
    static AGENT: LazyLock<ureq::Agent> = LazyLock::new(|| {
        ureq::Agent::config_builder()
            // Error statuses are answers the driver reads, as over wasi:http.
            .http_status_as_error(false)
            .no_delay(true)
            .max_idle_connections_per_host(8)
            .build()
            .new_agent()
    });

    pub fn request(method: &str, url: &str, body: Option<&[u8]>) -> Result<Response, Error> {
        let (scheme, _, _) = split_url(url)?;
        if scheme != "http" {
            return Err(Error::Unsupported(format!(
                "native builds speak plain http only, not `{scheme}`"
            )));
        }
        let builder = ureq::http::Request::builder().method(method).uri(url);
        let built = match body {
            // A body is JSON, as over wasi:http.
            Some(bytes) => builder
                .header("content-type", "application/json")
                .body(bytes.to_vec())
                .map(|request| AGENT.run(request)),
            None => builder.body(()).map(|request| AGENT.run(request)),
        };
        let result = built.map_err(|e| Error::InvalidInput(format!("url `{url}`: {e}")))?;
        let unavailable = |e: ureq::Error| Error::Unavailable(format!("request to {url}: {e}"));
        let mut response = result.map_err(unavailable)?;
        let status = response.status().as_u16();
        // No cap but the caller's memory, as over wasi:http.
        let body = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(unavailable)?;
        Ok(Response { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn splits_urls_into_parts() {
        assert_eq!(
            split_url("http://127.0.0.1:2475/vms/poll").unwrap(),
            ("http", "127.0.0.1:2475", "/vms/poll")
        );
        assert_eq!(split_url("http://h").unwrap(), ("http", "h", "/"));
        assert!(split_url("nope").is_err());
        assert!(split_url("http:///x").is_err());
    }
}
