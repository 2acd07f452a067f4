//! Builds the plugins in `plugins/` (for wasm32-wasip2; the elasticity
//! policies without WASI, see `WASI_FREE_PLUGINS`) so that `cargo build`,
//! `cargo test` and `cargo run -- serve` work on a fresh clone with no
//! extra step. The built-in plugins are embedded in the binary; every plugin
//! (fault fixtures and examples included) is also copied with its manifest
//! to `<target>/plugins/dist/` for `flotilla plugin check` and the tests,
//! which find it at run time from the executable's path (`dist_dir`); no
//! path of this machine is compiled in.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (directory in the workspace, embedded in the binary?). The crate in
/// `plugins/<kind>/<id>` is `flotilla-<kind>-<id>`; an example's crate is
/// `flotilla-example-<id>`.
const PLUGINS: &[(&str, bool)] = &[
    ("plugins/driver/sim", true),
    ("plugins/driver/qemu", true),
    ("plugins/driver/libvirt", false),
    ("plugins/elasticity/threshold", true),
    ("plugins/elasticity/expression", true),
    ("plugins/network/static", true),
    ("plugins/network/bridge", true),
    ("plugins/network/vxlan", true),
    ("plugins/fixtures/spin-loop", false),
    ("plugins/fixtures/alloc-bomb", false),
    ("plugins/fixtures/trap", false),
    ("plugins/fixtures/forbidden-host", false),
    ("plugins/fixtures/policy-fault", false),
    ("plugins/fixtures/network-fault", false),
    ("plugins/fixtures/exec-probe", false),
    ("plugins/fixtures/link-outside-grant", false),
    ("plugins/fixtures/link-probe", false),
    ("examples/policies/target-tracking", false),
];

const WASI: &str = "wasm32-wasip2";
const WASI_FREE: &str = "wasm32-unknown-unknown";

/// The plugins built for wasm32-unknown-unknown: the elasticity policies,
/// which compute a recommendation from their input, and the plumbing
/// plugins, which reach the host only through Flotilla's own imports (log,
/// config, link). Drivers and network modes use WASI (HTTP, clocks), and
/// the fixtures test how the host meets a WASI plugin, so they stay wasip2.
const WASI_FREE_PLUGINS: &[&str] = &[
    "plugins/network/bridge",
    "plugins/network/vxlan",
    "plugins/elasticity/threshold",
    "plugins/elasticity/expression",
    "examples/policies/target-tracking",
];

/// Fixtures also built for wasm32-unknown-unknown, beside their wasip2
/// build, as `<id>-wasi-free.wasm` in `dist/`: the tests check that a
/// plugin without WASI faults as one with it does (a panic's message is
/// the trap's reason either way).
const WASI_FREE_TWINS: &[&str] = &["plugins/fixtures/policy-fault"];

/// The stack of the plugins built without WASI, in bytes (see
/// `cargo_build`).
const POLICY_STACK: u32 = 256 << 10;

fn wasi_free(dir: &str) -> bool {
    WASI_FREE_PLUGINS.contains(&dir)
}

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    // host/builtin → the workspace root.
    let workspace = manifest_dir.ancestors().nth(2).unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let plugin_target = target_dir(&out_dir).join("plugins");

    // Cargo.toml: the `plugin` profile the nested build uses lives there.
    // host/model and host/policy: plugins are built from them too (the SDK
    // speaks the model's types, the expression plugin is the policy crate's
    // built-in policy).
    for path in [
        "plugins",
        "examples/policies/target-tracking",
        "wit",
        "host/model",
        "host/policy",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }

    for target in [WASI, WASI_FREE] {
        ensure_wasm_target(target);
    }
    // Everything but the policies, for wasm32-wasip2.
    cargo_build(
        &workspace,
        &plugin_target,
        WASI,
        PLUGINS
            .iter()
            .map(|(dir, _)| *dir)
            .filter(|d| !wasi_free(d)),
    );
    // The policies, for wasm32-unknown-unknown: they need no WASI, and a
    // component without it is instantiated with nothing from WASI to set up,
    // so a fresh-instance evaluation costs about a fifth less CPU
    // (BENCHMARKS.md, "WASI-free built-in policies"). The core module is
    // made a component here, written where the wasip2 build would have put
    // it, so what follows sees one directory of components.
    cargo_build(
        &workspace,
        &plugin_target,
        WASI_FREE,
        WASI_FREE_PLUGINS.iter().chain(WASI_FREE_TWINS).copied(),
    );
    let built = plugin_target.join(WASI).join("plugin");
    let core = plugin_target.join(WASI_FREE).join("plugin");
    let componentize = |dir: &str| {
        let file = core.join(wasm_file(dir));
        let module = fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        wit_component::ComponentEncoder::default()
            .module(&module)
            .and_then(|encoder| encoder.validate(true).encode())
            .unwrap_or_else(|e| panic!("making {dir} a component: {e:#}"))
    };
    fs::create_dir_all(&built).unwrap();
    for dir in WASI_FREE_PLUGINS {
        fs::write(built.join(wasm_file(dir)), componentize(dir)).unwrap();
    }

    let dist = plugin_target.join("dist");
    fs::create_dir_all(&dist).unwrap();
    for dir in WASI_FREE_TWINS {
        let id = dir.rsplit('/').next().unwrap();
        fs::write(dist.join(format!("{id}-wasi-free.wasm")), componentize(dir)).unwrap();
        copy(
            &workspace.join(dir).join("plugin.toml"),
            &dist.join(format!("{id}-wasi-free.toml")),
        );
    }
    let mut embedded = String::from("pub static BUILTIN: &[Builtin] = &[\n");
    for (dir, builtin) in PLUGINS {
        let id = dir.rsplit('/').next().unwrap();
        let wasm = built.join(wasm_file(dir));
        let manifest = workspace.join(dir).join("plugin.toml");
        copy(&wasm, &dist.join(format!("{id}.wasm")));
        copy(&manifest, &dist.join(format!("{id}.toml")));
        if *builtin {
            let local = out_dir.join(format!("{id}.wasm"));
            copy(&wasm, &local);
            embedded.push_str(&format!(
                "    Builtin {{ manifest: include_str!({:?}), wasm: include_bytes!({:?}) }},\n",
                manifest.display().to_string(),
                local.display().to_string()
            ));
        }
    }
    embedded.push_str("];\n");
    fs::write(out_dir.join("builtin_plugins.rs"), embedded).unwrap();
}

/// Runs `cargo build --profile plugin --target <target>` for the plugins in
/// `dirs`, into `plugin_target`.
fn cargo_build<'a>(
    workspace: &Path,
    plugin_target: &Path,
    target: &str,
    dirs: impl Iterator<Item = &'a str>,
) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--profile",
            "plugin",
            "--target",
            target,
            "--target-dir",
        ])
        .arg(plugin_target);
    for dir in dirs {
        cmd.arg("-p").arg(crate_name(dir));
    }
    if target == WASI_FREE {
        // A policy's stack is the first part of its linear memory (1 MiB
        // by default), and every fresh instance's memory is scanned for the
        // pages it wrote when the instance is dropped: with POLICY_STACK the
        // memory is about a third as large and the scan about as much
        // cheaper. What the deepest expression the grammar allows needs is
        // far below it (tests/plugins.rs evaluates it).
        cmd.env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            format!("-C link-arg=-zstack-size={POLICY_STACK}"),
        );
    }
    // Flags meant for the host (a clippy wrapper, host RUSTFLAGS such as
    // target-cpu=native) must not leak into the Wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let output = cmd.output().expect("running cargo to build the plugins");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        panic!("building the plugins for {target} failed:\n{stderr}");
    }
}

/// The file cargo writes a plugin crate's component (or core module) to.
fn wasm_file(dir: &str) -> String {
    format!("{}.wasm", crate_name(dir).replace('-', "_"))
}

/// The target directory this build writes into, from `OUT_DIR`
/// (`<target>[/<triple>]/<profile>/build/<crate>-<hash>/out`): the folder
/// above the profile's, or above the triple's when building for an explicit
/// `--target`. Where `CARGO_TARGET_DIR`, `build.target-dir` or nothing put
/// it, the executables are built under it too, so `dist_dir` finds
/// `plugins/dist` by walking up from them.
fn target_dir(out_dir: &Path) -> PathBuf {
    let profile = out_dir.ancestors().nth(3).unwrap();
    let above = profile.parent().unwrap();
    let triple = env::var("TARGET").unwrap_or_default();
    match above.file_name() {
        Some(name) if name == triple.as_str() => above.parent().unwrap().to_path_buf(),
        _ => above.to_path_buf(),
    }
}

/// The plugins need the toolchain's standard library for `target`
/// (wasm32-wasip2, wasm32-unknown-unknown). rust-toolchain.toml lists the
/// targets, but rustup adds listed targets only when it installs a
/// toolchain, so a toolchain installed before lacks them: add one with
/// rustup, or stop with the command to run (without it the nested build
/// fails deep in `can't find crate for core`).
fn ensure_wasm_target(target: &str) {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(sysroot) = sysroot else {
        return; // no answer: let the build itself say what is wrong
    };
    let installed = Path::new(&sysroot).join("lib/rustlib").join(target);
    if installed.exists() {
        return;
    }
    // Not a `cargo:warning`: cargo replays a build script's warnings on
    // every later build until the script runs again, so the note would
    // repeat long after the target was added. A failure below says it all.
    eprintln!("adding the {target} target: rustup target add {target}");
    let added = Command::new("rustup")
        .args(["target", "add", target])
        .status()
        .is_ok_and(|s| s.success());
    if !added || !installed.exists() {
        panic!(
            "\n\nThe plugins are built for {target}, and this toolchain ({sysroot}) \
             does not have that target.\nRun:\n\n    rustup target add {target}\n\n\
             then build again. (Without rustup, install the toolchain's \
             {target} standard library.)\n"
        );
    }
}

fn crate_name(dir: &str) -> String {
    match dir.strip_prefix("plugins/") {
        Some(rest) => format!("flotilla-{}", rest.replace('/', "-")),
        None => format!("flotilla-example-{}", dir.rsplit('/').next().unwrap()),
    }
}

fn copy(from: &Path, to: &Path) {
    fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}
