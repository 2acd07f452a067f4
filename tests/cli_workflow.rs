//! The `flotilla` CLI against the real server on loopback.

mod common;
