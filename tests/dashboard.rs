//! The dashboard in a real browser: headless Chromium (Debian's `chromium`
//! and `chromium-driver`) driven by Selenium for Python walks the pages
//! `flotilla serve` embeds, against the real binary and its simulated
//! hypervisor on loopback (tests/dashboard/walk.py says each step). This
//! test prepares what the walk needs through the API, runs it and fails
//! with its output. Screenshots of every step land in
//! target/dashboard-screenshots/, and axe-core (from npm, run offline in
//! the page) finds no serious or critical accessibility violation on the
//! pages the walk checks.

mod common;

use common::Flotilla;
use serde_json::json;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Fast rounds, policies evaluated every second, VMs booting in a second.
const CONFIG: &str =
    "[engine]\ntick_ms = 100\npolicy_evaluation_seconds = 1\n\n[sim]\nboot_seconds = 1\n";

/// The whole walk, form filling included, takes about a minute.
const WALK_LIMIT: Duration = Duration::from_secs(300);

fn repository() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// A program on PATH (or at a Debian path), as an absolute path.
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/lib/chromium"),
        ])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// What the walk runs with.
struct Tools {
    python: PathBuf,
    chromium: PathBuf,
    chromedriver: PathBuf,
    /// axe-core's script, injected into each page checked.
    axe: PathBuf,
}

/// Chromium, chromedriver, the venv's Python with Selenium and axe-core,
/// or a panic that says how to get them: a missing browser fails this
/// test, it does not skip it.
fn tools() -> Tools {
    let python = repository().join("target/test-tools/bin/python");
    let axe = repository().join("tests/dashboard/node_modules/axe-core/axe.min.js");
    let chromium = program("chromium");
    let chromedriver = program("chromedriver");
    let selenium = python.is_file()
        && Command::new(&python)
            .args(["-c", "import selenium"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    let word = |found: bool| if found { "found" } else { "missing" };
    match (chromium, chromedriver, selenium, axe.is_file()) {
        (Some(chromium), Some(chromedriver), true, true) => Tools {
            python,
            chromium,
            chromedriver,
            axe,
        },
        (chromium, chromedriver, selenium, has_axe) => panic!(
            "the dashboard test needs Debian's chromium ({}) and chromium-driver ({}), \
             Selenium in target/test-tools ({}) and axe-core in tests/dashboard/node_modules \
             ({}): tests/all.sh installs them",
            word(chromium.is_some()),
            word(chromedriver.is_some()),
            word(selenium),
            word(has_axe),
        ),
    }
}

/// POST as oneadmin; the new object's id (`ID` under its one top-level key).
fn create(f: &Flotilla, path: &str, body: serde_json::Value) -> String {
    let (status, created) = f.call("POST", path, body);
    assert_eq!(status, 201, "POST {path}: {created}");
    let object = created.as_object().and_then(|o| o.values().next()).unwrap();
    object["ID"].as_str().unwrap().to_string()
}

#[test]
fn an_operator_walks_the_dashboard_in_a_real_browser() {
    let tools = tools();
    let f = Flotilla::options().config(CONFIG).start();

    // What the walk builds its template from.
    let busy = create(
        &f,
        "/vm_template",
        json!({"name": "busy", "template": {"CPU": "1", "MEMORY": "128", "SIM_LOAD": "constant:95"}}),
    );
    let idle = create(
        &f,
        "/vm_template",
        json!({"name": "idle", "template": {"CPU": "1", "MEMORY": "128", "SIM_LOAD": "constant:5",
            // Asked in the instantiate form's "Roles inputs", per role.
            "USER_INPUTS": {"GREETING": "O|text|Greeting||hello"}}}),
    );
    let vnet = create(
        &f,
        "/vnet",
        json!({"name": "public", "template": {
            "AR": [{"TYPE": "IP4", "IP": "10.0.0.1", "SIZE": "50"}], "GATEWAY": "10.0.0.254"}}),
    );
    // A user in the users group, with no rights on oneadmin's things.
    create(
        &f,
        "/user",
        json!({"name": "eve", "password": "eve-s3cret"}),
    );
    // A service of oneadmin's she must not see, and that a forged request
    // must not delete.
    let hidden = f.deploy(json!({"name": "private", "roles": [
        {"name": "app", "type": "vm", "cardinality": 1, "template_id": idle.parse::<u64>().unwrap()}]}));
    let _ = f.wait_state(hidden, 2);

    let shots = repository().join("target/dashboard-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let out = tempfile::NamedTempFile::new().unwrap();
    let started = std::time::Instant::now();
    let mut child = Command::new(&tools.python)
        .arg(repository().join("tests/dashboard/walk.py"))
        .args(["--url", &format!("http://127.0.0.1:{}", f.server.api)])
        .args(["--sim", &format!("http://127.0.0.1:{}", f.server.sim)])
        .args(["--admin-password", &f.password])
        .args(["--user", "eve", "--user-password", "eve-s3cret"])
        .args(["--busy", &busy, "--idle", &idle, "--vnet", &vnet])
        .args(["--hidden-service", &hidden.to_string()])
        .arg("--screenshots")
        .arg(&shots)
        .arg("--axe")
        .arg(&tools.axe)
        .arg("--chromium")
        .arg(&tools.chromium)
        .arg("--chromedriver")
        .arg(&tools.chromedriver)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(out.reopen().unwrap())
        // Its own process group: a walk past its limit is killed with its
        // chromedriver and browser.
        .process_group(0)
        .spawn()
        .expect("start the walk");
    let status = common::wait_for(WALK_LIMIT, || child.try_wait().ok().flatten());
    if status.is_none() {
        // SAFETY: kill(2) on the process group this test created.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.wait();
    }
    let output = std::fs::read_to_string(out.path()).unwrap_or_default();
    eprintln!("{output}");
    // The end of the server's log, cut at a character boundary.
    let server_log = || {
        let log = f.server.stderr();
        let mut from = log.len().saturating_sub(4000);
        while !log.is_char_boundary(from) {
            from += 1;
        }
        log[from..].to_string()
    };
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!(
            "the walk failed ({s}); screenshots in {}:\n{output}\nserver log (end):\n{}",
            shots.display(),
            server_log()
        ),
        None => panic!(
            "the walk did not end within {} s:\n{output}\nserver log (end):\n{}",
            WALK_LIMIT.as_secs(),
            server_log()
        ),
    }
    eprintln!(
        "dashboard walk: {:.0} s, screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
    // Every step left its screenshot.
    let saved = std::fs::read_dir(&shots).unwrap().count();
    assert!(saved >= 15, "{saved} screenshots in {}", shots.display());
}
