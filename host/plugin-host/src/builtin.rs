//! The plugins that ship inside the `flotilla` binary, built from
//! `plugins/` by `host/build.rs`.

use super::manifest::Manifest;

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

/// The path of a plugin the build produced (`dist/<id>.wasm`), for tests,
/// benchmarks and `plugin check` of the fault fixtures.
pub fn dist_path(id: &str) -> std::path::PathBuf {
    std::path::Path::new(DIST_DIR).join(format!("{id}.wasm"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_manifests_are_valid() {
        let ids: Vec<String> = super::BUILTIN.iter().map(|b| b.manifest().id).collect();
        assert_eq!(ids, ["sim", "qemu", "threshold", "expression", "static"]);
    }
}
