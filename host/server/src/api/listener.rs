//! The API's accept loop: HTTP/1.1 connections served by hyper with a cap
//! on how many are served at once and deadlines on idle ones.
//!
//! `axum::serve` has no such knobs, and hyper's own `header_read_timeout`
//! also runs while a kept-alive connection waits for its next request, so
//! it cannot tell the header timeout from the idle timeout. The deadlines
//! are kept here, in the connection's I/O (`Deadlines`):
//!
//! - a new connection must send a request's headers within
//!   `header_timeout`;
//! - once a request's first bytes arrive, its headers must be complete
//!   within `header_timeout` of them (a slow sender gains nothing);
//! - between requests a kept-alive connection may wait `idle_timeout`;
//! - a request's body, once the handler asks for it, must arrive within
//!   `body_timeout`, extended by a second for every `body_min_rate` bytes
//!   received (`TimedBody`): a client trickling a byte at a time would
//!   otherwise hold its connection, and one of `max_connections`, for as
//!   long as it likes. One that misses it is answered 408 and the
//!   connection closed;
//! - otherwise, while a request is being answered there is no read
//!   deadline (an answer may take the driver's time), but a client that
//!   stops reading the answer has `idle_timeout` before the connection is
//!   closed.
//!
//! The API and OneGate both serve through this loop, each with its own
//! `Limits`.
//!
//! At most `max_connections` are served; more wait in the kernel's backlog
//! until one closes. Graceful shutdown stops accepting, lets the requests
//! in progress finish and closes idle connections, as `axum::serve` did.

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// A request body must arrive within this of the handler asking for
    /// it, plus a second for every `body_min_rate` bytes received.
    pub body_timeout: Duration,
    /// Bytes a second a body must keep up past `body_timeout`.
    pub body_min_rate: u64,
    /// Where the listener's connections are counted.
    pub connections: &'static Connections,
}

/// How many connections a listener serves now, and the most it has served
/// at once since the start; `/metrics` shows both.
#[derive(Debug)]
pub struct Connections {
    open: AtomicU64,
    most: AtomicU64,
}

/// The API's connections.
pub static API_CONNECTIONS: Connections = Connections::new();
/// OneGate's connections.
pub static ONEGATE_CONNECTIONS: Connections = Connections::new();

impl Connections {
    const fn new() -> Connections {
        Connections {
            open: AtomicU64::new(0),
            most: AtomicU64::new(0),
        }
    }

    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    pub fn most(&self) -> u64 {
        self.most.load(Ordering::Relaxed)
    }

    /// One more connection, counted until the guard is dropped.
    fn count(&'static self) -> Counted {
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.most.fetch_max(open, Ordering::Relaxed);
        Counted(self)
    }
}

/// A connection counted open until dropped.
struct Counted(&'static Connections);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Limits {
    pub fn from_config(server: &crate::config::ServerConfig) -> Limits {
        Limits {
            max_connections: server.max_connections.max(1),
            header_timeout: Duration::from_secs(server.header_timeout_seconds),
            idle_timeout: Duration::from_secs(server.idle_timeout_seconds),
            body_timeout: Duration::from_secs(server.body_timeout_seconds),
            body_min_rate: server.body_min_bytes_per_second.max(1),
            connections: &API_CONNECTIONS,
        }
    }
}

/// The `[server]` defaults.
impl Default for Limits {
    fn default() -> Limits {
        Limits::from_config(&crate::config::ServerConfig::default())
    }
}

/// Serve `router` on `listener` until `shutdown` completes, then wait for
/// the connections to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let (closing, close) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // A turn first, then a connection: those past the cap stay in the
        // backlog, costing the server nothing.
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, most likely: wait for some to
                    // close rather than spin.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            remote,
            router.clone(),
            limits,
            close.clone(),
            permit,
        ));
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    limits: Limits,
    mut close: tokio::sync::watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    // Dropped before the permit: never more open than permits.
    let _counted = limits.connections.count();
    let activity = Arc::new(Mutex::new(Activity::new()));
    let io = TokioIo::new(Deadlines::new(stream, limits, activity.clone()));
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let late = Arc::new(AtomicBool::new(false));
        let mut request = request.map(|body| TimedBody::new(body, limits, late.clone()));
        // The client's address, for sign-in throttling (what
        // `into_make_service_with_connect_info` would give).
        request.extensions_mut().insert(ConnectInfo(remote));
        let answering = Answering::start(&activity);
        let mut router = router.clone();
        let response = tower_service::Service::call(&mut router, request);
        async move {
            let mut response = response.await;
            if late.load(Ordering::Relaxed) {
                // Whatever the handler made of the broken body, the
                // client is told why, and the connection is not reused.
                tracing::info!(%remote, "a request body missed its deadline: 408, closing");
                response = response.map(|answered| too_slow(&limits, answered));
            }
            drop(answering);
            response
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let closing = async move {
        let _ = close.wait_for(|closing| *closing).await;
    };
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%remote, "connection closed: {e}");
            }
            return;
        }
        _ = closing => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// What a connection is doing, shared by its I/O and its service.
struct Activity {
    /// Requests being answered.
    answering: usize,
    /// When the connection last became idle (accepted, or an answer done).
    idle_since: Instant,
    /// When the first bytes of the next request arrived, while idle.
    request_started: Option<Instant>,
    /// No request answered yet: the first must come within the header
    /// timeout, not the idle one.
    fresh: bool,
    /// The connection's task, from a read that found nothing while an
    /// answer was being made: woken when the answer is done so that the
    /// read is polled again and its idle deadline set. (hyper may not poll
    /// the read again on its own until the client sends something.)
    reader: Option<std::task::Waker>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            answering: 0,
            idle_since: Instant::now(),
            request_started: None,
            fresh: true,
            reader: None,
        }
    }
}

/// Marks a request as being answered until dropped.
struct Answering(Arc<Mutex<Activity>>);

impl Answering {
    fn start(activity: &Arc<Mutex<Activity>>) -> Answering {
        let mut a = activity.lock().unwrap_or_else(|e| e.into_inner());
        a.answering += 1;
        a.request_started = None;
        a.fresh = false;
        drop(a);
        Answering(activity.clone())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        let mut a = self.0.lock().unwrap_or_else(|e| e.into_inner());
        a.answering = a.answering.saturating_sub(1);
        if a.answering == 0 {
            a.idle_since = Instant::now();
            a.request_started = None;
            let reader = a.reader.take();
            drop(a);
            if let Some(reader) = reader {
                reader.wake();
            }
        }
    }
}

/// A connection's stream with the deadlines above: a read or write that
/// would wait past its deadline fails with `TimedOut`, and hyper closes
/// the connection.
struct Deadlines {
    stream: TcpStream,
    limits: Limits,
    activity: Arc<Mutex<Activity>>,
    timer: Pin<Box<Sleep>>,
    /// The deadline the timer is set to.
    armed: Option<Instant>,
    /// Since when writing has been waiting for the client to read.
    write_stalled: Option<Instant>,
}

impl Deadlines {
    fn new(stream: TcpStream, limits: Limits, activity: Arc<Mutex<Activity>>) -> Deadlines {
        Deadlines {
            stream,
            limits,
            activity,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: None,
            write_stalled: None,
        }
    }

    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When a read that has to wait must give up, if ever.
    fn read_deadline(&self, cx: &Context<'_>) -> Option<Instant> {
        let mut a = self.activity();
        if a.answering > 0 {
            if !a.reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                a.reader = Some(cx.waker().clone());
            }
            return None;
        }
        Some(match (a.request_started, a.fresh) {
            (Some(started), _) => started + self.limits.header_timeout,
            (None, true) => a.idle_since + self.limits.header_timeout,
            (None, false) => a.idle_since + self.limits.idle_timeout,
        })
    }

    /// Wait for `deadline` alongside the I/O: `Err` once it has passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>, deadline: Instant) -> io::Result<()> {
        if self.armed != Some(deadline) {
            self.timer.as_mut().reset(deadline);
            self.armed = Some(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client was idle past its deadline",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for Deadlines {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let mut a = self.activity();
                    if a.answering == 0 && a.request_started.is_none() {
                        a.request_started = Some(Instant::now());
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if let Some(deadline) = self.read_deadline(cx) {
                    self.poll_deadline(cx, deadline)?;
                }
                Poll::Pending
            }
        }
    }
}

impl Deadlines {
    /// A write the client does not take for `idle_timeout` ends the
    /// connection: a client that stops reading its answer must not hold it.
    fn write_progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll {
            Poll::Pending => {
                let since = *self.write_stalled.get_or_insert_with(Instant::now);
                let deadline = since + self.limits.idle_timeout;
                self.poll_deadline(cx, deadline)?;
                Poll::Pending
            }
            ready => {
                self.write_stalled = None;
                ready
            }
        }
    }
}

impl AsyncWrite for Deadlines {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, data);
        self.write_progress(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.write_progress(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// A request's body with its deadline: `body_timeout` from the first time
/// the handler asks for it (after a `100 Continue`, if the client waits for
/// one), plus a second for every `body_min_rate` bytes received. Missing it
/// ends the body with an error and sets `late`, for the 408.
struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    min_rate: u64,
    started: Option<Instant>,
    received: u64,
    timer: Option<Pin<Box<Sleep>>>,
    late: Arc<AtomicBool>,
}

impl TimedBody {
    fn new(inner: Incoming, limits: Limits, late: Arc<AtomicBool>) -> TimedBody {
        TimedBody {
            inner,
            timeout: limits.body_timeout,
            min_rate: limits.body_min_rate.max(1),
            started: None,
            received: 0,
            timer: None,
            late,
        }
    }

    fn deadline(&self, started: Instant) -> Instant {
        started + self.timeout + Duration::from_secs(self.received / self.min_rate)
    }
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let started = *self.started.get_or_insert_with(Instant::now);
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.received += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let deadline = self.deadline(started);
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.late.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                )
                .into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a request whose body missed its deadline: 408, the
/// connection closed after it; the request's id kept.
fn too_slow(limits: &Limits, answered: axum::response::Response) -> axum::response::Response {
    let message = format!(
        "request body: too slow: it must arrive within {} s, plus 1 s for every {} bytes",
        limits.body_timeout.as_secs(),
        limits.body_min_rate
    );
    let id = answered.headers().get(super::request_id::HEADER).cloned();
    let mut body = serde_json::json!({ "error": message });
    if let Some(id) = id.as_ref().and_then(|id| id.to_str().ok()) {
        body["request_id"] = id.into();
    }
    let mut response = (
        StatusCode::REQUEST_TIMEOUT,
        [(header::CONNECTION, "close")],
        axum::Json(body),
    )
        .into_response();
    if let Some(id) = id {
        response.headers_mut().insert(super::request_id::HEADER, id);
    }
    response
}
