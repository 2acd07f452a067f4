//! (filled in by the hardening work)

mod common;
