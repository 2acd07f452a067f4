//! What the driver asks of the host: the process capability, its
//! configuration, the clock. A trait, so the driver's logic runs in unit
//! tests against a fake QEMU; the plugin uses [`SdkHost`].

use flotilla_plugin_sdk::driver::Error;
use flotilla_plugin_sdk::process::{self, Exchange, Finished, Stats};

pub trait Host {
    fn spawn(&mut self, program: &str, args: &[String]) -> Result<u32, Error>;
    fn run(&mut self, program: &str, args: &[String], timeout_ms: u32) -> Result<Finished, Error>;
    fn stats(&mut self, pid: u32) -> Result<Stats, Error>;
    fn kill(&mut self, pid: u32, force: bool) -> Result<(), Error>;
    fn exchange(
        &mut self,
        socket: &str,
        requests: &[String],
        timeout_ms: u32,
    ) -> Result<Vec<String>, Error>;
    /// Several exchanges at once (a poll's): one result each, in order,
    /// the whole call within `timeout_ms`.
    fn exchange_many(
        &mut self,
        exchanges: &[Exchange],
        timeout_ms: u32,
    ) -> Vec<Result<Vec<String>, Error>>;
    fn config(&self, key: &str) -> Option<String>;
    /// Wall-clock time, ms since the Unix epoch.
    fn now_ms(&self) -> u64;
    fn sleep_ms(&mut self, ms: u64);
}

/// The real host, through the SDK.
#[derive(Debug, Default)]
pub struct SdkHost;

impl Host for SdkHost {
    fn spawn(&mut self, program: &str, args: &[String]) -> Result<u32, Error> {
        process::spawn(program, args)
    }

    fn run(&mut self, program: &str, args: &[String], timeout_ms: u32) -> Result<Finished, Error> {
        process::run(program, args, timeout_ms)
    }

    fn stats(&mut self, pid: u32) -> Result<Stats, Error> {
        process::stats(pid)
    }

    fn kill(&mut self, pid: u32, force: bool) -> Result<(), Error> {
        process::kill(pid, force)
    }

    fn exchange(
        &mut self,
        socket: &str,
        requests: &[String],
        timeout_ms: u32,
    ) -> Result<Vec<String>, Error> {
        process::exchange(socket, requests, timeout_ms)
    }

    fn exchange_many(
        &mut self,
        exchanges: &[Exchange],
        timeout_ms: u32,
    ) -> Vec<Result<Vec<String>, Error>> {
        process::exchange_many(exchanges, timeout_ms)
    }

    fn config(&self, key: &str) -> Option<String> {
        flotilla_plugin_sdk::config(key)
    }

    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn sleep_ms(&mut self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
