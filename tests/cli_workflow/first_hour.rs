//! What a newcomer meets in the first hour: a deploy that waits for
//! READY says so, a configuration naming a plugin that is not there is
//! refused, policies naming a missing plugin or an unsimulated value are
//! warned of, names work where ids are taken, shell completion, addresses
//! in `-o wide`, commands that say what they did, and help that shows the
//! flags that mean something.

use crate::{CLEARED, Site, created_id, describe, fails, flotilla, ok, rows};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

/// A file in a fresh folder.
fn write(dir: &tempfile::TempDir, name: &str, contents: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn waiting_for_ready_and_for_parents_is_shown() {
    let site = Site::start();
    let env = site.admin();
    site.fast_vm_templates();
    let template = site.file(
        "gated.json",
        &json!({
            "name": "gated", "deployment": "straight", "ready_status_gate": true,
            "roles": [
                {"name": "db", "type": "vm", "cardinality": 1, "template_id": 1},
                {"name": "web", "type": "vm", "cardinality": 1, "template_id": 0, "parents": ["db"]}
            ]
        })
        .to_string(),
    );
    let tid = created_id(&ok(&env, &["template", "create", &template]));
    // The db VM runs but never reports READY=YES (its VM template sets no
    // SIM_ONEGATE): the role waits, and web waits for it.
    let args = ["template", "instantiate", &tid, "--wait", "--timeout", "3"];
    let out = flotilla(&env, &args);
    assert!(!out.status.success(), "{}", describe(&args, &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let db = stdout
        .lines()
        .rfind(|l| l.trim_start().starts_with("db "))
        .unwrap_or_else(|| panic!("{}", describe(&args, &out)));
    assert!(
        db.contains("1/1 VMs running, 0/1 ready (waiting for READY=YES through OneGate)"),
        "{}",
        describe(&args, &out)
    );
    let web = stdout
        .lines()
        .rfind(|l| l.trim_start().starts_with("web "))
        .unwrap();
    assert!(
        web.contains("0/1 VMs running, 0/1 ready (waiting for parents: db)"),
        "{}",
        describe(&args, &out)
    );

    let show = ok(&env, &["service", "show", "gated"]);
    // ROLE STATE CARDINALITY RUNNING READY PARENTS
    assert_eq!(
        rows(&show, "db"),
        [vec![
            "db",
            "DEPLOYING",
            "1",
            "1/1",
            "0/1",
            "-",
            "(waiting",
            "for",
            "READY=YES",
            "through",
            "OneGate)"
        ]],
        "{show}"
    );
    assert_eq!(
        rows(&show, "web")[0][..7],
        ["web", "PENDING", "1", "0/0", "0/0", "db", "(waiting"],
        "{show}"
    );
    assert!(show.contains("READY GATE"), "{show}");
}

#[test]
fn a_configuration_naming_a_plugin_that_is_not_there_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let env = [("FLOTILLA_DATA_DIR", data.path().to_str().unwrap())];

    let typo = write(&files, "typo.toml", "[engine]\ndriver = \"qemuu\"\n");
    let err = fails(&env, &["config", "check", &typo]);
    assert!(
        err.contains("engine.driver: no plugin \"qemuu\"; the drivers are: qemu, sim"),
        "{err}"
    );
    let kind = write(&files, "kind.toml", "[engine]\ndriver = \"threshold\"\n");
    let err = fails(&env, &["config", "check", &kind]);
    assert!(
        err.contains(
            "engine.driver: \"threshold\" is an elasticity plugin; the drivers are: qemu, sim"
        ),
        "{err}"
    );
    let grant = write(
        &files,
        "grant.toml",
        "[plugins.simm]\nallowed_outbound_hosts = [\"http://127.0.0.1:9\"]\n",
    );
    let err = fails(&env, &["config", "check", &grant]);
    assert!(
        err.contains("plugins.simm: no plugin \"simm\" to grant to; the plugins are: bridge, expression, qemu, sim, static, threshold, vxlan"),
        "{err}"
    );

    // A plugin installed in the data directory is one there is.
    let plugins = data.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let wasm = flotilla::plugin::builtin::dist_path("trap");
    std::fs::copy(&wasm, plugins.join("trap.wasm")).unwrap();
    std::fs::copy(wasm.with_extension("toml"), plugins.join("trap.toml")).unwrap();
    let installed = write(
        &files,
        "installed.toml",
        "[engine]\ndriver = \"trap\"\n\n[plugins.trap]\nlimits = { timeout_ms = 1000 }\n",
    );
    let said = ok(&env, &["config", "check", &installed]);
    assert!(said.contains("valid"), "{said}");
    let err = fails(&env, &["config", "check", &typo]);
    assert!(err.contains("the drivers are: qemu, sim, trap"), "{err}");

    // The server refuses to start with the same message, before it
    // listens on anything.
    std::fs::copy(&typo, data.path().join("flotilla.toml")).unwrap();
    let err = fails(
        &env,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--sim-listen",
            "127.0.0.1:0",
        ],
    );
    assert!(
        err.contains("engine.driver: no plugin \"qemuu\"; the drivers are: qemu, sim, trap"),
        "{err}"
    );
    assert!(!data.path().join("flotilla.db").exists());
}

#[test]
fn policies_naming_a_missing_plugin_or_an_unsimulated_value_are_warned_of() {
    let site = Site::start();
    let env = site.admin();
    site.fast_vm_templates();
    let template = site.file(
        "elastic.json",
        &json!({
            "name": "elastic",
            "roles": [{
                "name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
                "min_vms": 1, "max_vms": 4, "cooldown": 60,
                "elasticity_policies": [
                    {"plugin": "target-trackin", "params": {"metric": "CPU", "target": "50"}},
                    {"type": "CHANGE", "adjust": 1, "expression": "MEM_USED > 80"}
                ]
            }]
        })
        .to_string(),
    );
    let args = ["template", "create", &template];
    let out = flotilla(&env, &args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "warning: roles[0].elasticity_policies[0].plugin: policy plugin \"target-trackin\" is not installed"
        ),
        "{stderr}"
    );
    let id = created_id(&String::from_utf8_lossy(&out.stdout));
    // An update is warned of the same way.
    let args = ["template", "update", &id, &template];
    let out = flotilla(&env, &args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"target-trackin\" is not installed"),
        "{}",
        describe(&args, &out)
    );

    let args = [
        "policy",
        "simulate",
        &template,
        "--duration",
        "10m",
        "--boot",
        "0s",
    ];
    let out = flotilla(&env, &args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("policy plugin \"target-trackin\" is not installed")
            && stderr.contains("--plugin"),
        "{stderr}"
    );
    assert!(
        stderr.contains("role web's policies read MEM_USED, which this simulation does not report (only CPU, --metric)"),
        "{stderr}"
    );
}

#[test]
fn names_are_taken_where_ids_are() {
    let site = Site::start();
    let env = site.admin();
    site.fast_vm_templates();
    let template = site.file(
        "one.json",
        &json!({"name": "solo", "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0}]})
            .to_string(),
    );
    ok(&env, &["template", "create", &template]);
    let show = ok(&env, &["template", "show", "solo"]);
    assert!(show.contains("SERVICE TEMPLATE 0 INFORMATION"), "{show}");
    let show = ok(&env, &["vm-template", "show", "database"]);
    assert!(show.contains("VM TEMPLATE 1 INFORMATION"), "{show}");
    let lan = site.file(
        "lan.json",
        &json!({"name": "lan", "template": {"AR": [{"TYPE": "IP4", "IP": "10.7.0.1", "SIZE": "8"}]}})
            .to_string(),
    );
    ok(&env, &["vnet", "create", &lan]);
    let show = ok(&env, &["vnet", "show", "lan"]);
    assert!(show.lines().any(|l| l == "NAME         : lan"), "{show}");

    let first = created_id(&ok(
        &env,
        &[
            "template",
            "instantiate",
            "solo",
            "--name",
            "shop",
            "--wait",
            "--timeout",
            "60",
        ],
    ));
    let show = ok(&env, &["service", "show", "shop"]);
    assert!(
        show.lines().any(|l| l == format!("ID           : {first}")),
        "{show}"
    );

    // Two of a name: which is meant is the user's to say.
    let second = created_id(&ok(
        &env,
        &["template", "instantiate", "solo", "--name", "shop"],
    ));
    let err = fails(&env, &["service", "show", "shop"]);
    assert!(
        err.contains(&format!(
            "2 services are named `shop`: {first}, {second}; give the id"
        )),
        "{err}"
    );
    let err = fails(&env, &["service", "show", "nosuch"]);
    assert!(err.contains("no service named `nosuch`"), "{err}");
    // All digits is an id.
    ok(&env, &["service", "show", &second]);
}

#[test]
fn delete_and_action_say_what_they_did_and_wide_shows_addresses() {
    let site = Site::start();
    let env = site.admin();
    site.fast_vm_templates();
    let lan = site.file(
        "lan.json",
        &json!({"name": "lan", "template": {"AR": [{"TYPE": "IP4", "IP": "10.8.0.1", "SIZE": "8"}]}})
            .to_string(),
    );
    let vnet = created_id(&ok(&env, &["vnet", "create", &lan]));
    let template = site.file(
        "web.json",
        &json!({"name": "web", "roles": [{
            "name": "web", "type": "vm", "cardinality": 2, "template_id": 0,
            "template_contents": {"NIC": [{"NETWORK_ID": vnet}]}
        }]})
        .to_string(),
    );
    let tid = created_id(&ok(&env, &["template", "create", &template]));
    let id = created_id(&ok(
        &env,
        &["template", "instantiate", &tid, "--wait", "--timeout", "60"],
    ));

    // -o wide: each VM's address.
    let show = ok(&env, &["service", "show", &id, "-o", "wide"]);
    // VM NAME ROLE STATE IPS
    let ips: Vec<&str> = ["0", "1"]
        .iter()
        .flat_map(|vm| rows(&show, vm))
        .filter_map(|row| row.last().copied())
        .collect();
    assert_eq!(ips.len(), 2, "{show}");
    assert!(ips.iter().all(|ip| ip.starts_with("10.8.0.")), "{show}");
    assert_ne!(ips[0], ips[1], "{show}");
    let plain = ok(&env, &["service", "show", &id]);
    assert!(!plain.contains("10.8.0."), "{plain}");
    let list = ok(&env, &["service", "list", "-o", "wide"]);
    let row = rows(&list, &id);
    assert!(
        row[0].last().is_some_and(|c| c.contains("10.8.0.")),
        "{list}"
    );

    let said = ok(
        &env,
        &["service", "action", &id, "web", "poweroff", "--period", "0"],
    );
    assert_eq!(said.trim(), "role web: poweroff sent to 2 VMs", "{said}");
    let said = ok(&env, &["service", "action", &id, "web", "resume"]);
    assert!(
        said.trim()
            .starts_with("role web: resume sent to 1 VM, 1 more scheduled"),
        "{said}"
    );
    let help = ok(&env, &["service", "action", "--help"]);
    assert!(help.contains("default: 60"), "{help}");
    assert!(help.contains("default: 1"), "{help}");

    let said = ok(&env, &["service", "delete", &id]);
    assert_eq!(said.trim(), format!("service {id}: undeploying"));
    // Undeployed, the service is gone (it may be before a first look).
    let gone = crate::common::wait_for(Duration::from_secs(60), || {
        let out = flotilla(&env, &["service", "show", &id]);
        (!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("does not exist"))
            .then_some(())
    });
    assert!(gone.is_some(), "service {id} was never undeployed");
}

#[test]
fn completion_scripts_and_help_that_shows_what_matters() {
    let env = [];
    let bash = ok(&env, &["completion", "bash"]);
    assert!(
        bash.contains("_flotilla()") && bash.contains("vm-template"),
        "{bash}"
    );
    let zsh = ok(&env, &["completion", "zsh"]);
    assert!(zsh.starts_with("#compdef flotilla"), "{zsh}");
    let fish = ok(&env, &["completion", "fish"]);
    assert!(fish.contains("complete -c flotilla"), "{fish}");
    let err = fails(&env, &["completion", "tcsh"]);
    assert!(err.contains("bash"), "{err}");

    // bash takes the script and completes `flotilla` with it.
    let dir = tempfile::tempdir().unwrap();
    let script = write(&dir, "flotilla.bash", &bash);
    let mut check = Command::new("bash");
    for var in CLEARED {
        check.env_remove(var);
    }
    let out = check
        .args(["-c", &format!("source {script} && complete -p flotilla")])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("_flotilla"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for local in [
        vec!["completion", "--help"],
        vec!["config", "check", "--help"],
        vec!["serve", "--help"],
        vec!["plugin", "check", "--help"],
        vec!["backup", "--help"],
    ] {
        let help = ok(&env, &local);
        assert!(
            !help.contains("--url") && !help.contains("--json"),
            "`flotilla {}` shows the API flags: {help}",
            local.join(" ")
        );
    }
    for remote in [
        vec!["service", "list", "--help"],
        vec!["template", "create", "--help"],
        vec!["plugin", "list", "--help"],
    ] {
        let help = ok(&env, &remote);
        assert!(
            help.contains("--url") && help.contains("--json"),
            "`flotilla {}`: {help}",
            remote.join(" ")
        );
    }
    // The flags still work before the command.
    let out = flotilla(&env, &["--json", "completion", "bash"]);
    assert!(
        out.status.success(),
        "{}",
        describe(&["--json", "completion", "bash"], &out)
    );
}
