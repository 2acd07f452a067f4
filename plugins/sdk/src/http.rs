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

/// Native builds (unit tests, native benchmarks) use a minimal blocking
/// HTTP/1.1 client over std, so driver logic runs unchanged outside Wasm.
#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{Response, split_url};
    use crate::types::Error;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;

    thread_local! {
        /// Kept-alive connections by origin, as the host's pool keeps them
        /// for Wasm plugins, so native and Wasm builds compare fairly.
        static IDLE: RefCell<HashMap<String, BufReader<TcpStream>>> = RefCell::new(HashMap::new());
    }

    pub fn request(method: &str, url: &str, body: Option<&[u8]>) -> Result<Response, Error> {
        let (scheme, authority, path) = split_url(url)?;
        if scheme != "http" {
            return Err(Error::Unsupported(format!(
                "native builds speak plain http only, not `{scheme}`"
            )));
        }
        let body = body.unwrap_or_default();
        // A kept-alive connection may have been closed by the server: retry
        // once on a fresh one.
        if let Some(reader) = IDLE.with(|idle| idle.borrow_mut().remove(authority))
            && let Ok(response) = exchange(reader, method, authority, path, body)
        {
            return Ok(response);
        }
        let unavailable = |e: std::io::Error| Error::Unavailable(format!("request to {url}: {e}"));
        let stream = TcpStream::connect(authority).map_err(unavailable)?;
        stream.set_nodelay(true).map_err(unavailable)?;
        exchange(BufReader::new(stream), method, authority, path, body).map_err(unavailable)
    }

    fn exchange(
        mut reader: BufReader<TcpStream>,
        method: &str,
        authority: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<Response> {
        let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let stream = reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;

        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(bad("connection closed".into()));
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad(format!("bad status line: {line:?}")))?;
        let (mut content_length, mut chunked, mut close) = (None, false, false);
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| bad("bad chunk size".into()))?;
                if size == 0 {
                    line.clear();
                    reader.read_line(&mut line)?;
                    break;
                }
                let start = out.len();
                out.resize(start + size, 0);
                reader.read_exact(&mut out[start..])?;
                line.clear();
                reader.read_line(&mut line)?;
            }
        } else if let Some(n) = content_length {
            out.resize(n, 0);
            reader.read_exact(&mut out)?;
        } else {
            reader.read_to_end(&mut out)?;
            close = true;
        }
        if !close {
            IDLE.with(|idle| idle.borrow_mut().insert(authority.to_string(), reader));
        }
        Ok(Response { status, body: out })
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
