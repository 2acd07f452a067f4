//! Flotilla's engine: runs services against the store and the plugins,
//! and knows nothing of HTTP. The engine proper (`engine`: each operation
//! on a service under its lock, rounds, effects, the plugins it calls
//! through `VmBackend`, `PolicyBackend` and `NetworkBackend`, NICs, disks
//! and the networks' registry), the plugins a server runs (`registry`),
//! installing and removing them live (`install`), re-reading
//! `flotilla.toml` (`reload`), and the file itself (`config`).
//!
//! `flotilla-server` maps HTTP (the REST API and OneGate) onto it; the
//! binary puts the two together, and hands the benchmarks' native
//! backends to it.

pub mod config;
mod engine;
pub mod install;
pub mod registry;
pub mod reload;

pub use engine::vnets::StoreRegistry;
pub use engine::{
    BoxFuture, Engine, EngineError, FleetSettings, ManagedRecord, NetworkBackend, NoNetworks,
    NoPlumbing, NoPolicies, PluginLibrary, PlumbingBackend, PolicyBackend, Settings, VmBackend,
    VmReports,
};

// The parts the engine is built from, by the names its modules use.
use flotilla_core::{clock, fleet, permissions, service};
use flotilla_plugin_host as plugin;
use flotilla_store as store;

#[cfg(test)]
mod module_cycles;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// No two files of the engine import each other, directly or through
    /// a cycle (`module_cycles.rs` says what counts as an import).
    #[test]
    fn no_file_imports_one_that_imports_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        if let Err(cycles) = super::module_cycles::check(&src) {
            panic!("{cycles}");
        }
    }

    /// A crate's `src/` made of `files`, removed when dropped.
    struct Crate(PathBuf);

    impl Crate {
        fn new(name: &str, files: &[(&str, &str)]) -> Crate {
            let dir = std::env::temp_dir().join(format!(
                "flotilla-module-cycles-{}-{name}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            for (path, text) in files {
                let path = dir.join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            Crate(dir)
        }
    }

    impl Drop for Crate {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_cycle_is_named_with_the_references_that_make_it() {
        let c = Crate::new(
            "pair",
            &[
                ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
                ("a.rs", "use crate::b::B;\npub struct A;\n"),
                ("b.rs", "pub struct B;\nfn f() { let _ = super::c::C; }\n"),
                ("c.rs", "use crate::{a::A, b};\npub struct C;\n"),
            ],
        );
        let err = super::module_cycles::check(&c.0).unwrap_err();
        assert!(
            err.contains("a.rs imports b.rs (line 1: crate::b::B)"),
            "{err}"
        );
        assert!(
            err.contains("b.rs imports c.rs (line 2: super::c::C)"),
            "{err}"
        );
        assert!(
            err.contains("c.rs imports a.rs (line 1: crate::a::A)"),
            "{err}"
        );
    }

    #[test]
    fn a_child_that_imports_its_mod_rs_is_a_cycle_if_mod_rs_names_it() {
        let files = |re_export: &str| {
            vec![
                ("lib.rs", "mod api;\n".to_string()),
                (
                    "api/mod.rs",
                    format!("mod state;\n{re_export}pub struct Api;\n"),
                ),
                (
                    "api/state.rs",
                    "use super::*;\npub struct State;\n".to_string(),
                ),
            ]
        };
        let layered = files("");
        let layered: Vec<(&str, &str)> = layered.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let c = Crate::new("layered", &layered);
        assert_eq!(super::module_cycles::check(&c.0), Ok(()));
        let knotted = files("pub use state::State;\n");
        let knotted: Vec<(&str, &str)> = knotted.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let c = Crate::new("knotted", &knotted);
        let err = super::module_cycles::check(&c.0).unwrap_err();
        assert!(err.contains("api/mod.rs imports api/state.rs"), "{err}");
        assert!(
            err.contains("api/state.rs imports api/mod.rs (line 1: super)"),
            "{err}"
        );
    }

    #[test]
    fn comments_strings_tests_and_other_crates_are_not_imports() {
        let c = Crate::new(
            "quiet",
            &[
                (
                    "lib.rs",
                    "mod a;\nmod b;\nuse flotilla_core::service;\nuse flotilla_store as store;\n",
                ),
                (
                    "a.rs",
                    "use crate::b::B;\nuse crate::service::X;\npub struct A;\n",
                ),
                (
                    "b.rs",
                    concat!(
                        "// crate::a::A\n/* super::a */\n",
                        "const S: &str = \"crate::a::A\";\n",
                        "const R: &str = r#\"super::a::A\"#;\n",
                        "fn f<'a>(c: char) -> bool { c == '\"' || c == 'a' }\n",
                        "pub(in crate::a) struct B;\n",
                        "fn g() { let _ = crate::store::Y; }\n",
                        "mod tests { use super::*; }\n",
                    ),
                ),
            ],
        );
        assert_eq!(super::module_cycles::check(&c.0), Ok(()));
    }
}
