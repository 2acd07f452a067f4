//! Real libvirt: the `libvirt` driver plugin (the Wasm component, granted
//! virsh as `flotilla plugin grant libvirt` would) against two hosts, each
//! a network namespace running its own `libvirtd --listen` (TCP, no auth)
//! on a private underlay, with its own runtime, state, log and config
//! directories (a mount namespace per daemon). Domains are TCG guests
//! booting the kernel and initrd `examples/images/qemu/build.sh` makes.
//!
//! Needs root, libvirtd and virsh (Debian's libvirt-daemon-system,
//! libvirt-clients), qemu-system-x86_64 and iproute2; skips with a message
//! without them. Everything it makes (namespaces, veths, the bridge,
//! daemons, domains' QEMUs, files) is removed when it ends, pass or fail.

mod common;

use common::libvirt::{self, LibvirtHost, virsh, wait_until};
use flotilla::plugin::{Driver, Grant, HostProbe, Manifest, PluginHost, VmAction, VmSpec, VmState};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn spec(op: &str, host: &LibvirtHost) -> VmSpec {
    VmSpec {
        operation_id: op.into(),
        service_id: 9,
        role_name: "web".into(),
        vm_name: format!("web_{op}"),
        template: json!({
            "CPU": "1", "MEMORY": "128",
            "HOST": {"NAME": host.name, "ADDRESS": host.uri()},
            "CONTEXT": {"NETWORK": "YES", "SET_HOSTNAME": op},
        })
        .to_string(),
        hold: false,
    }
}

async fn poll(driver: &Driver, ids: &[&str]) -> Vec<(VmState, Option<String>)> {
    driver
        .poll(ids.iter().map(|s| s.to_string()).collect())
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.state, s.reason))
        .collect()
}

#[test]
fn two_libvirt_hosts_in_namespaces_run_the_drivers_domains() {
    libvirt::run_isolated(run);
}

fn run(img: PathBuf) {
    let started = Instant::now();
    let tag = format!("flv{}", std::process::id() % 100_000);
    let (hosts, _guard, root) = libvirt::fleet(&tag, 2, |i| format!("h{i}"));
    eprintln!("two libvirtd up after {:?}", started.elapsed());

    // The driver's grant, as `flotilla plugin grant libvirt` writes it,
    // read by the server's own configuration reader.
    let state = root.join("state");
    let consoles = root.join("consoles");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&consoles).unwrap();
    let grant_toml = |extra: &[&str]| libvirt::grant(&img, &state, &consoles, extra);
    let grant_of = |toml: &str| -> Grant {
        flotilla::config::Config::parse(toml)
            .unwrap_or_else(|e| panic!("the generated grant does not load: {e}\n{toml}"))
            .grant(&[], "libvirt")
    };
    let grant = grant_of(&grant_toml(&[]));
    let dist = flotilla::plugin::builtin::dist_path("libvirt");
    let manifest =
        Manifest::parse(&std::fs::read_to_string(dist.with_extension("toml")).unwrap()).unwrap();
    let wasm = std::fs::read(&dist).unwrap();
    let plugin_host = PluginHost::new(None).unwrap();
    let driver = Driver::start(
        plugin_host
            .load(manifest.clone(), &wasm, grant.clone())
            .unwrap(),
    )
    .unwrap();
    eprintln!("driver component loaded after {:?}", started.elapsed());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (h1, h2) = (&hosts[0], &hosts[1]);
    rt.block_on(async {
        // A VM without HOST is refused, naming it.
        let mut unplaced = spec("unplaced", h1);
        unplaced.template = json!({"CPU": "1"}).to_string();
        let refused = driver.create(unplaced).await.unwrap_err().to_string();
        assert!(refused.contains("HOST"), "{refused}");

        // A domain on each host, running.
        let a = driver.create(spec("a", h1)).await.unwrap();
        eprintln!("created {a} after {:?}", started.elapsed());
        let b = driver.create(spec("b", h2)).await.unwrap();
        assert!(a.starts_with("h1/flotilla-9-web-") && b.starts_with("h2/flotilla-9-web-"));
        assert_eq!(driver.create(spec("a", h1)).await.unwrap(), a, "idempotent");
        eprintln!("created {a} and {b} after {:?}", started.elapsed());
        assert_eq!(
            poll(&driver, &[&a, &b]).await,
            [(VmState::Running, None), (VmState::Running, None)]
        );
        let domain_a = a.split_once('/').unwrap().1.to_string();
        let listed = virsh(&h1.uri(), &["list", "--all", "--name"]);
        assert!(String::from_utf8_lossy(&listed.stdout).contains(&domain_a));
        assert!(
            !String::from_utf8_lossy(&virsh(&h2.uri(), &["list", "--all", "--name"]).stdout)
                .contains(&domain_a),
            "a is on h1 only"
        );
        // The guest really boots: its init speaks on the serial console.
        let console = consoles.join(format!("{domain_a}.log"));
        let booted = wait_until(Duration::from_secs(120), || {
            std::fs::read_to_string(&console)
                .is_ok_and(|t| t.contains("flotilla-guest: init started"))
        });
        assert!(
            booted,
            "no init on {}: {:?}",
            console.display(),
            std::fs::read_to_string(&console)
        );
        eprintln!("guest a booted after {:?}", started.elapsed());
        let xml = virsh(&h1.uri(), &["dumpxml", &domain_a]);
        let xml = String::from_utf8_lossy(&xml.stdout);
        assert!(xml.contains("<domain type='qemu'"), "TCG: {xml}");
        assert!(
            xml.contains("<flotilla:operation>a</flotilla:operation>"),
            "{xml}"
        );
        // The context is a read-only FAT disk of a directory in the state
        // directory (the same path on the hosts, as on shared storage).
        let context_dir = state.join("context").join(&domain_a);
        assert!(xml.contains("<disk type='dir' device='disk'>"), "{xml}");
        assert!(
            xml.contains(&format!("<source dir='{}'", context_dir.display())),
            "{xml}"
        );
        assert!(
            std::fs::read_to_string(context_dir.join("context.sh"))
                .is_ok_and(|t| t.contains(&format!("VMID='{a}'"))),
            "{}",
            context_dir.display()
        );

        let listed = driver.list().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().any(|v| v.id == a && v.operation_id == "a"));

        // Suspend and resume, through libvirt.
        driver
            .act(a.clone(), VmAction::Suspend, vec![])
            .await
            .unwrap();
        assert_eq!(poll(&driver, &[&a]).await[0].0, VmState::Suspended);
        driver
            .act(a.clone(), VmAction::Resume, vec![])
            .await
            .unwrap();
        assert_eq!(poll(&driver, &[&a]).await[0].0, VmState::Running);

        // Both hosts monitored in one call of the component's `hosts`.
        assert!(driver.manages_hosts());
        let fleet = || {
            hosts
                .iter()
                .map(|h| HostProbe {
                    name: h.name.clone(),
                    address: h.uri(),
                })
                .collect::<Vec<_>>()
        };
        let monitored = driver.monitor_hosts(fleet()).await.unwrap();
        for (h, m) in hosts.iter().zip(&monitored) {
            let m = m.as_ref().unwrap_or_else(|e| panic!("{}: {e:?}", h.name));
            assert!(
                m.cpu >= 1.0 && m.memory_mb > 0 && m.used_memory_mb > 0,
                "{m:?}"
            );
        }
        assert_eq!(
            monitored[0].as_ref().unwrap().vm_ids,
            std::slice::from_ref(&a)
        );
        assert_eq!(
            monitored[1].as_ref().unwrap().vm_ids,
            std::slice::from_ref(&b)
        );

        // h1's libvirtd dies: its VM is UNKNOWN naming it, its monitor
        // fails; h2 goes on.
        let pid = h1.daemon_pid().expect("libvirtd's pid file");
        // SAFETY: a plain system call on the daemon this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert!(wait_until(Duration::from_secs(10), || {
            !virsh(&h1.uri(), &["nodeinfo"]).status.success()
        }));
        let polled = poll(&driver, &[&a, &b]).await;
        assert_eq!(polled[0].0, VmState::Unknown, "{polled:?}");
        let reason = polled[0].1.clone().unwrap_or_default();
        assert!(reason.contains("host h1"), "{reason}");
        assert_eq!(polled[1], (VmState::Running, None));
        let monitored = driver.monitor_hosts(fleet()).await.unwrap();
        match &monitored[0] {
            Err(e) => assert!(format!("{e:?}").contains("host h1"), "{e:?}"),
            Ok(m) => panic!("a dead host monitored: {m:?}"),
        }
        assert!(monitored[1].is_ok());

        // Terminate b: gone from h2, DONE, its records gone.
        driver
            .act(b.clone(), VmAction::Terminate, vec![])
            .await
            .unwrap();
        assert_eq!(poll(&driver, &[&b]).await[0].0, VmState::Done);
        let domain_b = b.split_once('/').unwrap().1;
        assert!(
            !String::from_utf8_lossy(&virsh(&h2.uri(), &["list", "--all", "--name"]).stdout)
                .contains(domain_b)
        );
        eprintln!(
            "lost host and terminate checked after {:?}",
            started.elapsed()
        );

        // The conformance suite, on h2 (its VMs carry no HOST: the
        // default host is h2).
        let with_default = grant_toml(&["--default-host", &format!("h2={}", h2.uri())]);
        let file = flotilla::conformance::PluginFile {
            manifest: manifest.clone(),
            wasm: wasm.clone(),
            manifest_source: flotilla::conformance::ManifestSource::File(
                dist.with_extension("toml"),
            ),
        };
        let report = flotilla::conformance::check(
            &plugin_host,
            file,
            grant_of(&with_default),
            &flotilla::conformance::CheckOptions::default(),
        )
        .await
        .unwrap();
        assert!(report.passed(), "{}", report.render());
        eprintln!("conformance passed after {:?}", started.elapsed());
    });

    // The real server with the driver installed as its engine's: a
    // service deploys a domain on h2 (its default host) and its deletion
    // removes it.
    let data = tempfile::tempdir().unwrap();
    libvirt::install_driver(data.path());
    let config = format!(
        "[sim]\nenabled = false\n[engine]\ndriver = \"libvirt\"\ntick_ms = 500\n\n{}",
        grant_toml(&["--default-host", &format!("h2={}", h2.uri())])
    );
    let f = common::Flotilla::start_in(data, &config);
    let id = f.deploy(json!({
        "name": "on-libvirt", "deployment": "straight",
        "roles": [{"name": "web", "type": "vm", "cardinality": 1, "template_id": 0,
                   "template_contents": {"MEMORY": "128"}}]
    }));
    let body = f.wait_body(id, "RUNNING", 120, |b| b["state"] == 2);
    let vm = common::role_vms(&body, "web")[0].clone();
    let on_h2 = |name: &str| {
        String::from_utf8_lossy(&virsh(&h2.uri(), &["list", "--all", "--name"]).stdout)
            .lines()
            .any(|l| l.trim() == name)
    };
    let domain = vm.strip_prefix("h2/").map(str::to_string);
    assert!(
        domain.as_deref().is_some_and(on_h2),
        "the service's VM {vm} is not a domain of h2"
    );
    let (status, answer) = f.call("DELETE", &format!("/service/{id}"), serde_json::Value::Null);
    assert!(status < 300, "{answer}");
    assert!(
        wait_until(Duration::from_secs(120), || !on_h2(
            domain.as_deref().unwrap()
        )),
        "the deleted service's domain is still on h2"
    );
    eprintln!(
        "the server deployed and deleted on libvirt after {:?}",
        started.elapsed()
    );
}
