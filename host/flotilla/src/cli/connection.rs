//! How the CLI reaches the API: the endpoint and credentials (from flags,
//! the environment or OpenNebula-style files) and one kept-alive HTTP
//! client that turns error answers into messages saying what to do.

use super::error::{CliError, Result};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_URL: &str = "http://127.0.0.1:2474";

/// Where the API is and who is asking; shared by every command that
/// talks to a server.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ApiArgs {
    /// The API endpoint [default: $FLOTILLA_URL, $ONEFLOW_URL, http://127.0.0.1:2474]
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// User name, with --password [default: --auth-file, $FLOTILLA_AUTH, $ONEFLOW_USER/$ONEFLOW_PASSWORD, then the auth files]
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// Password of --user [default: $ONEFLOW_PASSWORD]
    #[arg(long, global = true)]
    pub password: Option<String>,
    /// A file holding `user:password` [default: $ONE_AUTH, <data-dir>/one_auth, ~/.one/one_auth]
    #[arg(long, global = true, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Where the credentials came from, for error messages.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    Flags,
    Env(&'static str),
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flags => f.write_str("--user/--password"),
            Source::Env(name) => f.write_str(name),
            Source::File(path) => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Credentials {
    user: String,
    password: String,
    source: Source,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn split_auth(text: &str, source: Source) -> Result<Credentials> {
    let line = text.lines().next().unwrap_or("").trim();
    match line.split_once(':') {
        Some((user, password)) if !user.is_empty() => Ok(Credentials {
            user: user.to_string(),
            password: password.to_string(),
            source,
        }),
        _ => Err(CliError::Local(format!(
            "{source}: expected `user:password`"
        ))),
    }
}

fn read_auth_file(path: PathBuf) -> Result<Credentials> {
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("reading credentials from {}: {e}", path.display()))?;
    split_auth(&text, Source::File(path))
}

impl ApiArgs {
    pub fn base_url(&self) -> String {
        self.url
            .clone()
            .or_else(|| env("FLOTILLA_URL"))
            .or_else(|| env("ONEFLOW_URL"))
            .unwrap_or_else(|| DEFAULT_URL.to_string())
            .trim_end_matches('/')
            .to_string()
    }

    /// Flags first (`--user`/`--password`, then `--auth-file`), then the
    /// environment (`FLOTILLA_AUTH`, `ONEFLOW_USER`/`ONEFLOW_PASSWORD`,
    /// `$ONE_AUTH`'s file), then files: the server's `one_auth` in the data
    /// directory (so `flotilla` works as oneadmin on the server's own
    /// machine), OpenNebula's `~/.one/one_auth`.
    fn credentials(&self) -> Result<Credentials> {
        match (&self.user, &self.password) {
            (Some(user), Some(password)) => {
                return Ok(Credentials {
                    user: user.clone(),
                    password: password.clone(),
                    source: Source::Flags,
                });
            }
            (Some(_), None) => {
                if let Some(password) = env("ONEFLOW_PASSWORD") {
                    return Ok(Credentials {
                        user: self.user.clone().unwrap_or_default(),
                        password,
                        source: Source::Flags,
                    });
                }
                return Err("--user needs --password (or $ONEFLOW_PASSWORD)".into());
            }
            (None, Some(_)) => return Err("--password needs --user".into()),
            (None, None) => {}
        }
        if let Some(path) = &self.auth_file {
            return read_auth_file(path.clone());
        }
        if let Some(auth) = env("FLOTILLA_AUTH") {
            return split_auth(&auth, Source::Env("FLOTILLA_AUTH"));
        }
        if let (Some(user), Some(password)) = (env("ONEFLOW_USER"), env("ONEFLOW_PASSWORD")) {
            return Ok(Credentials {
                user,
                password,
                source: Source::Env("ONEFLOW_USER/ONEFLOW_PASSWORD"),
            });
        }
        if let Some(path) = env("ONE_AUTH") {
            return read_auth_file(PathBuf::from(path));
        }
        let data_dir = env("FLOTILLA_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(crate::config::default_data_dir);
        let mut candidates = vec![data_dir.join("one_auth")];
        if let Some(home) = env("HOME") {
            candidates.push(PathBuf::from(home).join(".one/one_auth"));
        }
        for path in &candidates {
            if path.exists() {
                return read_auth_file(path.clone());
            }
        }
        Err(CliError::Local(format!(
            "no credentials: pass --user and --password, or set FLOTILLA_AUTH=user:password; \
             on the server's machine `flotilla serve` writes oneadmin's to one_auth in its data \
             directory when it first starts (looked in {})",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    pub fn connect(&self) -> Result<Api> {
        let credentials = self.credentials()?;
        Ok(Api {
            base: self.base_url(),
            authorization: format!(
                "Basic {}",
                base64(format!("{}:{}", credentials.user, credentials.password).as_bytes())
            ),
            credentials,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }
}

/// A connection to the API as one user.
pub struct Api {
    base: String,
    authorization: String,
    credentials: Credentials,
    client: Client<HttpConnector, Full<bytes::Bytes>>,
}

impl Api {
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.call("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Result<Value> {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str, body: Option<Value>) -> Result<Value> {
        self.call("DELETE", path, body).await
    }

    /// `POST <path>/action` with `{"action": {"perform": P, "params": …}}`.
    pub async fn action(&self, path: &str, perform: &str, params: Value) -> Result<Value> {
        self.post(
            &format!("{path}/action"),
            serde_json::json!({ "action": { "perform": perform, "params": params } }),
        )
        .await
    }

    /// A request; an error answer becomes `CliError::Api` with a message
    /// saying what to do (its status kept, so callers can act on it: a 404
    /// ends `delete --wait`).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.request(method, path, body).await.map_err(|e| match e {
            CliError::Api { status, message } => {
                let hint = match status {
                    401 => format!(
                        " (the credentials of `{}` from {} were refused; check them)",
                        self.credentials.user, self.credentials.source
                    ),
                    403 => format!(" (as user `{}`)", self.credentials.user),
                    _ => String::new(),
                };
                CliError::Api {
                    status,
                    message: format!("{}{hint}", cli_hints(&message)),
                }
            }
            other => other,
        })
    }

    async fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let failure = CliError::Unreachable;
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| CliError::Local(format!("`{url}` is not a URL: {e}")))?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", &self.authorization)
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body)))
            .map_err(|e| CliError::Local(format!("building the request: {e}")))?;
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .map_err(|_| failure(format!("{url}: no answer within 30 s")))?
            .map_err(|e| {
                failure(format!(
                    "cannot reach the Flotilla API at {} ({}); start it with `flotilla serve`, \
                     or point --url / FLOTILLA_URL at it",
                    self.base,
                    error_chain(&e)
                ))
            })?;
        let status = response.status();
        // Warnings about an accepted request (unknown template attributes):
        // the server sends them as headers whatever the answer's shape.
        for warning in response.headers().get_all(crate::api::WARNING_HEADER) {
            eprintln!("warning: {}", String::from_utf8_lossy(warning.as_bytes()));
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| failure(format!("{url}: reading the answer: {e}")))?
            .to_bytes();
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| {
                failure(format!(
                    "{url}: the answer ({status}) is not JSON: {e}; is this a Flotilla server?"
                ))
            })?
        };
        if status.is_success() {
            return Ok(value);
        }
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("request failed");
        Err(CliError::Api {
            status: status.as_u16(),
            message: format!(
                "{} {}: {message}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
        })
    }
}

/// The server's hints name API fields (`use force to override`); on the
/// command line the same thing is a flag or a command.
fn cli_hints(message: &str) -> String {
    const HINTS: &[(&str, &str)] = &[
        ("use force to override", "use --force to override"),
        ("(use scale)", "(use `flotilla service scale`)"),
        ("(use rename)", "(use `flotilla service rename`)"),
        (
            "(use add-role / remove-role)",
            "(use `flotilla service add-role` / `remove-role`)",
        ),
    ];
    HINTS
        .iter()
        .fold(message.to_string(), |m, (api, cli)| m.replace(api, cli))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_hints_become_flags() {
        assert_eq!(
            cli_hints(
                "400 Bad Request: cardinality: 9 is above max_vms (5) of role web; use force to override"
            ),
            "400 Bad Request: cardinality: 9 is above max_vms (5) of role web; use --force to override"
        );
        assert_eq!(
            cli_hints("roles[1].cardinality: cannot change by update (use scale)"),
            "roles[1].cardinality: cannot change by update (use `flotilla service scale`)"
        );
    }

    #[test]
    fn encodes_basic_credentials() {
        assert_eq!(base64(b"oneadmin:pass"), "b25lYWRtaW46cGFzcw==");
        assert_eq!(base64(b"alice:s"), "YWxpY2U6cw==");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn flags_win_and_half_given_flags_are_refused() {
        let args = ApiArgs {
            user: Some("alice".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        let c = args.credentials().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("alice", "pw"));
        let args = ApiArgs {
            password: Some("pw".into()),
            ..Default::default()
        };
        assert_eq!(
            args.credentials().unwrap_err().to_string(),
            "--password needs --user"
        );
    }

    #[test]
    fn an_auth_file_holds_user_colon_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one_auth");
        std::fs::write(&path, "bob:se:cret\n").unwrap();
        let args = ApiArgs {
            auth_file: Some(path.clone()),
            ..Default::default()
        };
        let c = args.credentials().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("bob", "se:cret"));
        std::fs::write(&path, "nocolon\n").unwrap();
        assert!(
            args.credentials()
                .unwrap_err()
                .to_string()
                .contains("user:password")
        );
    }
}
