//! Flotilla's server: HTTP onto the engine. The REST API (`api`), users,
//! passwords, sign-in throttling and the dashboard's sessions (`access`),
//! the web dashboard (`ui`, on the API's listener), and OneGate, the
//! endpoint VMs talk to (`onegate`). What runs the services, the plugins and the
//! configuration is `flotilla-engine`'s.

pub mod access;
pub mod api;
pub mod onegate;
pub mod ui;

// The parts the server is built from, by the names its modules use.
use flotilla_core::{clock, fleet, service};
use flotilla_engine as engine;
use flotilla_engine::{config, install, registry, reload};
use flotilla_plugin_host as plugin;
use flotilla_store as store;

// The checker the engine's files are held to, shared by its path.
#[cfg(test)]
#[path = "../../engine/src/module_cycles.rs"]
mod module_cycles;

#[cfg(test)]
mod tests {
    /// No two files of the server import each other, directly or through
    /// a cycle (`module_cycles.rs` says what counts as an import): the
    /// route files, `openapi.rs` that lists them and `mod.rs`'s route
    /// table stay layered.
    #[test]
    fn no_file_imports_one_that_imports_it() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        if let Err(cycles) = super::module_cycles::check(&src) {
            panic!("{cycles}");
        }
    }
}
