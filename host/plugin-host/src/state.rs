//! What a plugin's store holds: its WASI context (no files, no env, no
//! sockets) when the component imports WASI, its outbound-HTTP policy, its
//! memory cap, and the host imports (`flotilla:host/log`,
//! `flotilla:host/config`).

use super::bindings::{config, log, types};
use super::capability::default_port;
use super::engine::Terms;
use super::manifest::PluginKind;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// How much of a plugin's stderr the host keeps (a panic message lands
/// there, and becomes the reason of the trap fault).
const STDERR_CAPACITY: usize = 64 * 1024;

pub struct PluginState {
    pub kind: PluginKind,
    /// `None` for a component that imports no `wasi:` interface (the
    /// built-in policies): building a WASI context (random generators,
    /// clocks, a stderr buffer) and dropping it again was a measurable part
    /// of every fresh-instance evaluation, for imports it can never call.
    wasi: Option<Box<Wasi>>,
    table: ResourceTable,
    /// With the grant in force ([`PluginState::terms`]).
    pub outbound: Outbound,
    pub memory: MemoryCap,
    /// The last panic message the guest logged at error level during the
    /// call under way. A plugin built without WASI has no stderr: the
    /// SDK's panic hook sends the message through the log instead, and it
    /// becomes the reason of the trap fault.
    pub(crate) logged_panic: Option<String>,
    /// What the network-mode call under way is for: its registry calls
    /// may make networks for that service and operation only, and delete
    /// only the network it names.
    pub(crate) network_scope: Option<crate::registry::Scope>,
    /// Where the plumbing call under way makes its devices: a host of the
    /// fleet; none: the server's own machine.
    pub(crate) link_site: Option<crate::link::LinkSite>,
}

/// The WASI side of a store: its context, wasi:http's, and the captured
/// stderr.
struct Wasi {
    ctx: WasiCtx,
    http: WasiHttpCtx,
    stderr: MemoryOutputPipe,
}

impl Wasi {
    /// Deny by default: no preopened directories but the granted ones, no
    /// environment, no arguments, no sockets. Only stderr is captured.
    fn new(terms: &Terms) -> Wasi {
        let exec = &terms.exec;
        let plugin = &terms.plugin;
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let mut wasi = wasmtime_wasi::WasiCtxBuilder::new();
        wasi.stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        // Directories the operator granted, at the same path inside (so a
        // path the plugin hands a host process means the same file).
        // Image directories are only read (a driver checks a disk's format).
        let read_write = exec
            .dirs()
            .iter()
            .map(|d| (d, wasmtime_wasi::FsPerms::ReadWrite));
        let read_only = exec
            .image_dirs()
            .iter()
            .map(|d| (d, wasmtime_wasi::FsPerms::ReadOnly));
        for (dir, perms) in read_write.chain(read_only) {
            let path = dir.display().to_string();
            if let Err(e) = wasi.preopened_dir(dir, &path, perms) {
                tracing::warn!(plugin = %plugin, dir = %path, "granted directory not opened: {e:#}");
            }
        }
        Wasi {
            ctx: wasi.build(),
            http: WasiHttpCtx::new(),
            stderr,
        }
    }
}

impl PluginState {
    /// A store's state under `terms`: its memory cap, the directories it
    /// may open, what it may reach. `wasi`: whether the component imports
    /// any `wasi:` interface (decided once, when it was loaded).
    pub(crate) fn new(kind: PluginKind, terms: Arc<Terms>, wasi: bool) -> PluginState {
        PluginState {
            kind,
            wasi: wasi.then(|| Box::new(Wasi::new(&terms))),
            table: ResourceTable::new(),
            memory: MemoryCap::new(terms.limits.memory_bytes),
            outbound: Outbound {
                terms,
                denied: None,
                deadline: None,
                client: None,
            },
            logged_panic: None,
            network_scope: None,
            link_site: None,
        }
    }

    /// How many bytes the guest has written to stderr so far (0 without
    /// WASI).
    pub(crate) fn stderr_len(&self) -> usize {
        self.wasi.as_ref().map_or(0, |w| w.stderr.contents().len())
    }

    /// What the guest wrote to stderr after the first `from` bytes.
    pub(crate) fn stderr_since(&self, from: usize) -> String {
        let Some(wasi) = &self.wasi else {
            return String::new();
        };
        let contents = wasi.stderr.contents();
        String::from_utf8_lossy(contents.get(from..).unwrap_or_default()).into_owned()
    }
}

impl PluginState {
    /// The grant this store runs under.
    pub(crate) fn terms(&self) -> &Arc<Terms> {
        &self.outbound.terms
    }

    /// Take the grant in force for the next call (it may have been
    /// reloaded since this store started).
    pub(crate) fn set_terms(&mut self, terms: Arc<Terms>) {
        self.outbound.terms = terms;
    }
}

/// A store's WASI side, made now if it has none. A component that imports
/// no WASI never calls here (its imports are known from when it was
/// loaded); should one ever, it gets the same deny-by-default context rather
/// than a host panic.
fn wasi_of<'a>(wasi: &'a mut Option<Box<Wasi>>, terms: &Terms) -> &'a mut Wasi {
    wasi.get_or_insert_with(|| Box::new(Wasi::new(terms)))
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wasi = wasi_of(&mut self.wasi, &self.outbound.terms);
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let wasi = wasi_of(&mut self.wasi, &self.outbound.terms);
        WasiHttpCtxView {
            ctx: &mut wasi.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// The wasi:http hooks: every outbound request is checked against the
/// plugin's allow-list, and bounded by what is left of the call's budget.
pub struct Outbound {
    /// The grant in force: its outbound policy here, the rest for the
    /// store's other host imports.
    terms: Arc<Terms>,
    /// The last refused request of the current call, so the host can turn
    /// it into a capability fault even if the guest swallows the error.
    pub denied: Option<String>,
    /// When the current call must be over.
    pub deadline: Option<Instant>,
    /// Made by the first request: most stores (every policy evaluation's)
    /// never send one.
    client: Option<HttpClient>,
}

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("http").to_string();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16().unwrap_or_else(|| default_port(&scheme));
        if let Some(reason) = self.terms.outbound.check(&scheme, &host, port) {
            tracing::warn!(%reason, "plugin capability denied");
            self.denied = Some(reason);
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        // Never let host-side I/O outlive the call's deadline.
        let budget = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(30));
        let mut options = options.unwrap_or_default();
        let cap = |t: Option<Duration>| Some(t.map_or(budget, |t| t.min(budget)));
        options.connect_timeout = cap(options.connect_timeout);
        options.first_byte_timeout = cap(options.first_byte_timeout);
        options.between_bytes_timeout = cap(options.between_bytes_timeout);
        let client = self.client.get_or_insert_with(http_client).clone();
        Box::new(async move {
            let (response, io) = send(&client, request, options).await?;
            Ok((response, Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    wasmtime_wasi_http::WasiBody,
>;
type IoFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>>;

/// The plain-HTTP client of one plugin instance. A driver talks to one API
/// many times a second; its pool keeps up to four connections per origin
/// alive, which saves a TCP and HTTP handshake per call.
fn http_client() -> HttpClient {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(4)
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .build(connector)
}

/// Send one request with the instance's pooled client (plain HTTP), or
/// with wasmtime's default client (HTTPS).
async fn send(
    client: &HttpClient,
    request: http::Request<wasmtime_wasi_http::WasiBody>,
    options: wasmtime_wasi_http::RequestOptions,
) -> Result<(http::Response<wasmtime_wasi_http::WasiBody>, IoFuture), wasmtime_wasi_http::Error> {
    use http_body_util::BodyExt;
    use wasmtime_wasi_http::Error;
    if request.uri().scheme_str() == Some("https") {
        let (response, io) =
            wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
        return Ok((response.map(BodyExt::boxed_unsync), Box::pin(io)));
    }
    // The client connects (or takes an idle connection) and sends in one
    // future, so one bound covers both; each timeout is already capped by
    // the call's remaining budget.
    let timeout = [options.connect_timeout, options.first_byte_timeout]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(Duration::from_secs(30));
    let response = tokio::time::timeout(timeout, client.request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(|e| {
            if e.is_connect() {
                Error::Connect(std::io::Error::other(e))
            } else {
                // With its causes: the plugin sees only this message.
                Error::InternalError(Some(format!("{:#}", anyhow::Error::new(e))))
            }
        })?;
    Ok((
        response.map(|body| body.map_err(Error::from).boxed_unsync()),
        Box::pin(async { Ok(()) }),
    ))
}

/// A memory cap over all of a store's linear memories together (not per
/// memory), so a component with several memories cannot multiply it.
pub struct MemoryCap {
    limit: u64,
    committed: u64,
    /// Set when a growth was refused: the trap that follows is reported as
    /// a memory fault, not a plain trap.
    pub exceeded: bool,
}

impl MemoryCap {
    fn new(limit: u64) -> MemoryCap {
        MemoryCap {
            limit,
            committed: 0,
            exceeded: false,
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let after = self.committed + (desired as u64).saturating_sub(current as u64);
        if after > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        self.committed = after;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        32
    }

    fn tables(&self) -> usize {
        32
    }

    fn memories(&self) -> usize {
        8
    }
}

impl types::Host for PluginState {}

impl log::Host for PluginState {
    fn log(&mut self, level: log::Level, message: String) {
        // Plugins must not flood the server log.
        let message: String = message.chars().take(4096).collect();
        let plugin = &*self.terms().plugin;
        let kind = self.kind.as_str();
        match level {
            log::Level::Trace => tracing::trace!(plugin, kind, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, kind, "{message}"),
            log::Level::Info => tracing::info!(plugin, kind, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, kind, "{message}"),
            log::Level::Error => tracing::error!(plugin, kind, "{message}"),
        }
        if matches!(level, log::Level::Error) && message.starts_with("panicked at") {
            self.logged_panic = Some(message);
        }
    }
}

impl config::Host for PluginState {
    fn get(&mut self, key: String) -> Option<String> {
        self.terms().config.get(&key).cloned()
    }
}
