//! Host processes (`flotilla:host/process`): the programs the operator
//! granted this plugin, for drivers of hypervisors that run as processes.
//! Every call is checked by the host against the grant; outside Wasm the
//! calls are `unsupported`.

pub use crate::types::Error;

/// A process's state and resource use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub alive: bool,
    pub cpu_ms: u64,
    pub rss_kib: u64,
}

/// How a `run` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub exit_code: i32,
    pub output: String,
}

#[cfg(target_arch = "wasm32")]
use crate::bindings::driver::flotilla::host::process as host;

#[cfg(not(target_arch = "wasm32"))]
fn native() -> Error {
    Error::Unsupported("host processes exist only inside the host".into())
}

/// Start a granted program detached; its pid.
pub fn spawn(program: &str, args: &[String]) -> Result<u32, Error> {
    #[cfg(target_arch = "wasm32")]
    return host::spawn(program, args).map_err(Into::into);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (program, args);
        Err(native())
    }
}

/// Run a granted program to its end (at most `timeout_ms`).
pub fn run(program: &str, args: &[String], timeout_ms: u32) -> Result<Finished, Error> {
    #[cfg(target_arch = "wasm32")]
    return host::run(program, args, timeout_ms)
        .map(|f| Finished {
            exit_code: f.exit_code,
            output: f.output,
        })
        .map_err(Into::into);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (program, args, timeout_ms);
        Err(native())
    }
}

/// A process running a granted program.
pub fn stats(pid: u32) -> Result<Stats, Error> {
    #[cfg(target_arch = "wasm32")]
    return host::stats(pid)
        .map(|s| Stats {
            alive: s.alive,
            cpu_ms: s.cpu_ms,
            rss_kib: s.rss_kib,
        })
        .map_err(Into::into);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = pid;
        Err(native())
    }
}

/// SIGTERM, or SIGKILL with `force`, to a process running a granted program.
pub fn kill(pid: u32, force: bool) -> Result<(), Error> {
    #[cfg(target_arch = "wasm32")]
    return host::kill(pid, force).map_err(Into::into);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (pid, force);
        Err(native())
    }
}

/// A JSON-lines exchange on a unix socket in a granted directory (QMP):
/// the answer to each request, in order.
pub fn exchange(socket: &str, requests: &[String], timeout_ms: u32) -> Result<Vec<String>, Error> {
    #[cfg(target_arch = "wasm32")]
    return host::exchange(socket, requests, timeout_ms).map_err(Into::into);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (socket, requests, timeout_ms);
        Err(native())
    }
}

/// One exchange of [`exchange_many`]: a unix socket and the requests to
/// send on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub socket: String,
    pub requests: Vec<String>,
}

/// Several exchanges, made by the host at the same time, each as
/// [`exchange`] makes it: one result per exchange, in the order asked,
/// the whole call within `timeout_ms` (an exchange not over by then is
/// `unavailable`).
pub fn exchange_many(exchanges: &[Exchange], timeout_ms: u32) -> Vec<Result<Vec<String>, Error>> {
    #[cfg(target_arch = "wasm32")]
    {
        let asked: Vec<host::ExchangeRequest> = exchanges
            .iter()
            .map(|e| host::ExchangeRequest {
                socket: e.socket.clone(),
                requests: e.requests.clone(),
            })
            .collect();
        host::exchange_many(&asked, timeout_ms)
            .into_iter()
            .map(|r| r.map_err(Into::into))
            .collect()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = timeout_ms;
        exchanges.iter().map(|_| Err(native())).collect()
    }
}
