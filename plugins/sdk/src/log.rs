//! Logging through the host: lines land in the server's log inside the span
//! of the call that emitted them, tagged with the plugin's name and kind.

pub use crate::bindings::driver::flotilla::host::log::Level;

pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::driver::flotilla::host::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    if level as u8 >= Level::Info as u8 {
        eprintln!("[{level:?}] {message}");
    }
}

pub fn debug(message: &str) {
    log(Level::Debug, message)
}

pub fn info(message: &str) {
    log(Level::Info, message)
}

pub fn warn(message: &str) {
    log(Level::Warn, message)
}

pub fn error(message: &str) {
    log(Level::Error, message)
}
