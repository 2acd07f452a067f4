//! The README walked in order, as a newcomer does: its quick start, the
//! users and sharing, the REST API and the networks, each shell block run
//! as written against a fresh server (only its address and data directory
//! are this test's). A block that names an id the walk never made fails.

use crate::Site;
use std::process::Command;
use std::time::{Duration, Instant};

const README: &str = include_str!("../../README.md");

/// The shell blocks (```sh) of the README section under `heading`.
fn shell_blocks(heading: &str) -> Vec<String> {
    let start = README
        .find(&format!("\n## {heading}"))
        .unwrap_or_else(|| panic!("the README has a section `{heading}`"));
    let rest = &README[start + 4..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```sh" {
            let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            blocks.push(block.join("\n"));
        }
    }
    blocks
}

#[test]
fn the_readme_walked_in_order_works() {
    let site = Site::start();
    let home = tempfile::tempdir().unwrap();
    // `~/.local/share/flotilla` is the default data directory the README
    // reads oneadmin's credentials from.
    std::fs::create_dir_all(home.path().join(".local/share")).unwrap();
    std::os::unix::fs::symlink(
        site.server.data.path(),
        home.path().join(".local/share/flotilla"),
    )
    .unwrap();
    // The user's folder, with the repository's examples where the README
    // expects them; files the walk writes stay here.
    let work = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(crate::example(""), work.path().join("examples")).unwrap();

    let mut script = String::from("set -euo pipefail\n");
    for heading in ["Quickstart", "The REST API", "Networks"] {
        let blocks = shell_blocks(heading);
        assert!(!blocks.is_empty(), "no shell block under {heading}");
        for block in blocks {
            script.push_str(&block.replace("http://127.0.0.1:2474", &site.url));
            script.push('\n');
        }
    }
    let bin_dir = std::path::Path::new(crate::BIN).parent().unwrap();
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .env_clear()
        .env("HOME", home.path())
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.display()),
        )
        .env("FLOTILLA_URL", &site.url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(240) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the README's commands failed ({:?}):\n{}\n--- stderr ---\n{}\n--- script ---\n{script}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // curl does not fail on an error answer: the REST example's ids and the
    // service's state must have been read from real documents.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        !said.lines().any(|l| l.trim() == "null"),
        "a REST call answered an error:\n{said}"
    );
}
