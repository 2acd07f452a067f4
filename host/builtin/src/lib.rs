//! The plugins that ship inside the `flotilla` binary, built from
//! `plugins/` for wasm32-wasip2 by this crate's `build.rs`, and where that
//! build put every plugin (fault fixtures and examples included) for the
//! tests, the benchmarks and `flotilla plugin check`.
//!
//! The plugin host itself (`flotilla-plugin-host`) knows no plugin: it is
//! the sandbox, and this crate is what runs in it by default.

use flotilla_plugin_host::Manifest;
use std::path::{Path, PathBuf};

pub struct Builtin {
    pub manifest: &'static str,
    pub wasm: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

impl Builtin {
    pub fn manifest(&self) -> Manifest {
        // Checked by the `builtin_manifests_are_valid` test.
        Manifest::parse(self.manifest).expect("built-in manifests are valid")
    }
}

pub fn find(id: &str) -> Option<&'static Builtin> {
    BUILTIN.iter().find(|b| b.manifest().id == id)
}

/// Names the folder of built plugins (`<id>.wasm` beside `<id>.toml`),
/// over the search beside the running executable.
pub const DIST_ENV: &str = "FLOTILLA_PLUGIN_DIST";

/// Where the build put every plugin with its manifest: `$FLOTILLA_PLUGIN_DIST`
/// when set, otherwise the `plugins/dist` folder of the target directory the
/// running executable was built in, found from the executable's path
/// (`target/release/flotilla` and `target/release/deps/<test>` both find
/// `target/plugins/dist`). Nothing about the build machine is compiled in,
/// so a copied target directory, or one named by `CARGO_TARGET_DIR`, works
/// the same.
pub fn dist_dir() -> Result<PathBuf, DistError> {
    if let Some(dir) = std::env::var_os(DIST_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().map_err(DistError::Executable)?;
    // Symbolic links resolved, so a link elsewhere to target/release/flotilla
    // still finds its build.
    let exe = exe.canonicalize().unwrap_or(exe);
    search_up(&exe).ok_or(DistError::NotFound(exe))
}

/// Why [`dist_dir`] found no folder of built plugins.
#[derive(Debug)]
pub enum DistError {
    /// The running executable's path could not be read.
    Executable(std::io::Error),
    /// No `plugins/dist` folder above this executable.
    NotFound(PathBuf),
}

impl std::fmt::Display for DistError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DistError::Executable(e) => {
                write!(f, "finding the built plugins: the running executable: {e}")
            }
            DistError::NotFound(exe) => write!(
                f,
                "no plugins/dist folder in any folder above {} (the plugins are built there \
                 with the workspace: `cargo build --release`); set {DIST_ENV} to the folder",
                exe.display()
            ),
        }
    }
}

impl std::error::Error for DistError {}

/// The nearest `<ancestor>/plugins/dist` above `exe` that is a folder.
fn search_up(exe: &Path) -> Option<PathBuf> {
    exe.ancestors()
        .skip(1)
        .map(|dir| dir.join("plugins").join("dist"))
        .find(|dist| dist.is_dir())
}

/// The path of a plugin the build produced (`<dist>/<id>.wasm`, its manifest
/// beside it as `<id>.toml`), for tests and benchmarks.
///
/// # Panics
///
/// When [`dist_dir`] finds no folder: a test cannot run without its plugin.
pub fn dist_path(id: &str) -> PathBuf {
    match dist_dir() {
        Ok(dir) => dir.join(format!("{id}.wasm")),
        Err(e) => panic!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_manifests_are_valid() {
        let ids: Vec<String> = super::BUILTIN.iter().map(|b| b.manifest().id).collect();
        assert_eq!(
            ids,
            [
                "sim",
                "qemu",
                "threshold",
                "expression",
                "static",
                "bridge",
                "vxlan"
            ]
        );
    }

    #[test]
    fn the_built_plugins_are_found_beside_the_test() {
        // This test runs from target/<profile>/deps/.
        let trap = super::dist_path("trap");
        assert!(trap.is_file(), "{}", trap.display());
        assert!(trap.with_extension("toml").is_file());
    }

    #[test]
    fn the_search_walks_up_from_the_executable() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let dist = dir.join("target/plugins/dist");
        let deps = dir.join("target/release/deps");
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::create_dir_all(&deps).unwrap();
        assert_eq!(
            super::search_up(&deps.join("test-0123")),
            Some(dist.clone())
        );
        assert_eq!(
            super::search_up(&dir.join("target/release/flotilla")),
            Some(dist)
        );
        assert_eq!(super::search_up(&dir.join("elsewhere/flotilla")), None);
    }
}
