//! What the driver asks of the host: the process capability (virsh), its
//! configuration, the clock. A trait, so the driver's logic runs in unit
//! tests against a fake virsh; the plugin uses [`SdkHost`].

pub use flotilla_plugin_sdk::driver::Error;
use flotilla_plugin_sdk::process;
pub use flotilla_plugin_sdk::process::Finished;

pub trait Host {
    fn run(&mut self, program: &str, args: &[String], timeout_ms: u32) -> Result<Finished, Error>;
    fn config(&self, key: &str) -> Option<String>;
    /// Wall-clock time, ms since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The real host, through the SDK.
#[derive(Debug, Default)]
pub struct SdkHost;

impl Host for SdkHost {
    fn run(&mut self, program: &str, args: &[String], timeout_ms: u32) -> Result<Finished, Error> {
        process::run(program, args, timeout_ms)
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
}
