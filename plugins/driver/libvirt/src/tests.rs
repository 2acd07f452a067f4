//! The driver against a fake virsh: hosts (by URI) with their domains,
//! every command line recorded.

use crate::driver::LibvirtDriver;
use crate::host::Host;
use crate::virsh::DomState;
use flotilla_plugin_sdk::driver::HostProbe;
use flotilla_plugin_sdk::driver::*;
use flotilla_plugin_sdk::process::Finished;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};

const H1: &str = "qemu+tcp://10.77.0.11/system";
const H2: &str = "qemu+tcp://10.77.0.12/system";

struct TempDir(String);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "flotilla-libvirt-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir.to_str().unwrap().to_string())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Default)]
struct FakeHost {
    down: bool,
    /// The daemon drops every connection mid-command: virsh says so and
    /// exits 0, as it does when libvirtd is killed under it.
    dropping: bool,
    domains: BTreeMap<String, (DomState, String)>,
}

#[derive(Default)]
struct Fake {
    config: HashMap<String, String>,
    hosts: HashMap<String, FakeHost>,
    /// Every command line: `<uri> <command…>`.
    calls: Vec<String>,
    now: u64,
}

fn ok(output: impl Into<String>) -> Result<Finished, Error> {
    Ok(Finished {
        exit_code: 0,
        output: output.into(),
    })
}

fn fail(output: impl Into<String>) -> Result<Finished, Error> {
    Ok(Finished {
        exit_code: 1,
        output: output.into(),
    })
}

impl Host for Fake {
    fn run(&mut self, program: &str, args: &[String], _timeout_ms: u32) -> Result<Finished, Error> {
        assert_eq!(program, "virsh");
        assert_eq!(&args[..2], ["-q", "-c"]);
        let uri = args[2].clone();
        let command: Vec<&str> = args[3..].iter().map(String::as_str).collect();
        self.calls.push(format!("{uri} {}", command.join(" ")));
        let host = self.hosts.entry(uri.clone()).or_default();
        if host.down {
            return fail(format!(
                "error: failed to connect to the hypervisor\nerror: unable to connect to server at '{uri}': Connection refused\n"
            ));
        }
        if host.dropping {
            return ok(format!(
                "error: Disconnected from {uri} due to end of file\n"
            ));
        }
        let missing = |d: &str| fail(format!("error: failed to get domain '{d}'\n"));
        match command.as_slice() {
            ["define", path] => {
                let xml = std::fs::read_to_string(path).unwrap();
                let name = xml
                    .split("<name>")
                    .nth(1)
                    .and_then(|r| r.split("</name>").next())
                    .unwrap()
                    .to_string();
                let entry = host
                    .domains
                    .entry(name.clone())
                    .or_insert((DomState::ShutOff, String::new()));
                entry.1 = xml;
                ok(format!("Domain '{name}' defined from {path}\n"))
            }
            ["list", "--all"] => ok(host
                .domains
                .iter()
                .map(|(n, (s, _))| format!(" -    {n}   {}\n", s.words()))
                .collect::<String>()),
            ["list", "--all", "--name"] => ok(host
                .domains
                .keys()
                .map(|n| format!("{n}\n"))
                .collect::<String>()),
            ["nodeinfo"] => ok(
                "CPU model:           x86_64\nCPU(s):              4\nMemory size:         8388608 KiB\n",
            ),
            ["nodememstats"] => ok(
                "total  :              8388608 KiB\nfree   :              4194304 KiB\nbuffers:                    0 KiB\ncached :              1048576 KiB\n",
            ),
            ["nodecpustats"] => {
                ok("user:        300\nsystem:      100\nidle:        600\niowait:      0\n")
            }
            [
                "domstats",
                "--state",
                "--cpu-total",
                "--balloon",
                names @ ..,
            ] => {
                let mut out = String::new();
                for n in names {
                    if !host.domains.contains_key(*n) {
                        return missing(n);
                    }
                    out.push_str(&format!(
                        "Domain: '{n}'\n  state.state=1\n  cpu.time=1000000000\n  balloon.current=262144\n  balloon.rss=50000\n\n"
                    ));
                }
                ok(out)
            }
            [verb, d] => {
                let Some((state, _)) = host.domains.get_mut(*d) else {
                    return missing(d);
                };
                let not_running =
                    "error: Requested operation is not valid: domain is not running\n";
                match (*verb, *state) {
                    ("domstate", s) => ok(format!("{}\n\n", s.words())),
                    ("start", DomState::ShutOff) => {
                        *state = DomState::Running;
                        ok("")
                    }
                    ("start", _) => {
                        fail("error: Requested operation is not valid: domain is already running\n")
                    }
                    ("destroy" | "shutdown", DomState::Running | DomState::Paused) => {
                        *state = DomState::ShutOff;
                        ok("")
                    }
                    ("destroy" | "shutdown", _) => fail(not_running),
                    ("suspend", DomState::Running) => {
                        *state = DomState::Paused;
                        ok("")
                    }
                    ("resume", DomState::Paused) => {
                        *state = DomState::Running;
                        ok("")
                    }
                    ("reboot" | "reset", DomState::Running) => ok(""),
                    ("undefine", _) => {
                        host.domains.remove(*d);
                        ok("")
                    }
                    (verb, s) => fail(format!("error: cannot {verb} a domain {}\n", s.words())),
                }
            }
            other => panic!("unexpected virsh command {other:?}"),
        }
    }

    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }

    fn now_ms(&self) -> u64 {
        self.now
    }
}

fn driver(dir: &TempDir) -> LibvirtDriver<Fake> {
    let mut fake = Fake::default();
    fake.config.insert("state_dir".into(), dir.0.clone());
    fake.config.insert("kernel".into(), "/img/vmlinuz".into());
    fake.now = 1_000;
    LibvirtDriver::with_host(fake)
}

fn spec(op: &str, host: Option<(&str, &str)>, extra: Value) -> VmSpec {
    let mut template = json!({"CPU": "1", "MEMORY": "128", "CONTEXT": {"NETWORK": "YES"}});
    if let Some((name, uri)) = host {
        template["HOST"] = json!({"NAME": name, "ADDRESS": uri});
    }
    if let (Some(t), Value::Object(e)) = (template.as_object_mut(), extra) {
        t.extend(e);
    }
    VmSpec {
        operation_id: op.into(),
        service_id: 3,
        role_name: "web".into(),
        vm_name: format!("web_{op}"),
        template: template.to_string(),
        hold: false,
    }
}

fn states(d: &mut LibvirtDriver<Fake>, ids: &[&str]) -> Vec<(VmState, Option<String>)> {
    d.poll_vms(ids.iter().map(|s| s.to_string()).collect())
        .unwrap()
        .into_iter()
        .map(|s| (s.state, s.reason))
        .collect()
}

#[test]
fn create_defines_and_starts_the_domain_on_the_templates_host() {
    let dir = TempDir::new();
    let mut d = driver(&dir);
    let id = d
        .create_vm(spec("op-1", Some(("h1", H1)), json!({})))
        .unwrap();
    let (host, domain) = id.split_once('/').unwrap();
    assert_eq!(host, "h1");
    assert!(domain.starts_with("flotilla-3-web-"), "{id}");
    let xml_path = format!("{}/domains/{domain}.xml", dir.0);
    assert_eq!(
        d.host().calls,
        [
            format!("{H1} define {xml_path}"),
            format!("{H1} start {domain}")
        ]
    );
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    assert!(
        xml.contains("<flotilla:operation>op-1</flotilla:operation>"),
        "{xml}"
    );
    assert!(xml.contains("<kernel>/img/vmlinuz</kernel>"));
    // The context is a directory the domain sees as a read-only FAT disk.
    let context_dir = format!("{}/context/{domain}", dir.0);
    assert!(
        xml.contains(&format!(
            "<disk type='dir' device='disk'>\n      <driver name='qemu' type='fat'/>\n      \
             <source dir='{context_dir}'/>\n      <target dev='vda' bus='virtio'/>\n      <readonly/>"
        )),
        "{xml}"
    );
    assert!(!xml.contains("sysinfo"), "{xml}");
    let context_sh = std::fs::read_to_string(format!("{context_dir}/context.sh")).unwrap();
    assert!(context_sh.contains("NETWORK='YES'\n"), "{context_sh}");
    assert!(
        context_sh.contains(&format!("VMID='{id}'\n")),
        "{context_sh}"
    );
    assert!(!std::path::Path::new(&format!("{context_dir}/token.txt")).exists());
    assert_eq!(
        std::fs::read_to_string(format!("{}/hosts/h1.json", dir.0)).unwrap(),
        "{\n  \"name\": \"h1\",\n  \"uri\": \"qemu+tcp://10.77.0.11/system\"\n}"
    );
    assert_eq!(states(&mut d, &[&id]), [(VmState::Running, None)]);

    // The same operation again: the same VM, nothing defined again.
    d.host().calls.clear();
    assert_eq!(
        d.create_vm(spec("op-1", Some(("h1", H1)), json!({})))
            .unwrap(),
        id
    );
    assert_eq!(d.host().calls, [format!("{H1} domstate {domain}")]);
    // A crash lost the domain and its context: both made again, and the
    // domain started.
    d.host().hosts.get_mut(H1).unwrap().domains.clear();
    std::fs::remove_dir_all(&context_dir).unwrap();
    assert_eq!(
        d.create_vm(spec("op-1", Some(("h1", H1)), json!({})))
            .unwrap(),
        id
    );
    assert_eq!(states(&mut d, &[&id]), [(VmState::Running, None)]);
    assert_eq!(
        std::fs::read_to_string(format!("{context_dir}/context.sh")).unwrap(),
        context_sh
    );
}

#[test]
fn the_context_disk_holds_the_token_and_goes_with_the_vm() {
    let dir = TempDir::new();
    let mut d = driver(&dir);
    let id = d
        .create_vm(spec(
            "op-1",
            Some(("h1", H1)),
            json!({"CONTEXT": {"ONEGATE_TOKEN": "t0k"}, "DISK": {"SOURCE": "/img/a.qcow2"}}),
        ))
        .unwrap();
    let domain = id.split_once('/').unwrap().1;
    let context_dir = format!("{}/context/{domain}", dir.0);
    assert_eq!(
        std::fs::read_to_string(format!("{context_dir}/token.txt")).unwrap(),
        "t0k"
    );
    let xml = std::fs::read_to_string(format!("{}/domains/{domain}.xml", dir.0)).unwrap();
    assert!(
        xml.contains(&format!(
            "<source dir='{context_dir}'/>\n      <target dev='vdb' bus='virtio'/>"
        )),
        "the context disk comes after the VM's disks: {xml}"
    );
    d.act_on(&id, VmAction::Terminate, &[]).unwrap();
    assert!(!std::path::Path::new(&context_dir).exists());

    // A VM without CONTEXT has no context disk.
    let id = d
        .create_vm(spec("op-2", Some(("h1", H1)), json!({"CONTEXT": null})))
        .unwrap();
    let domain = id.split_once('/').unwrap().1;
    let xml = std::fs::read_to_string(format!("{}/domains/{domain}.xml", dir.0)).unwrap();
    assert!(!xml.contains("<disk"), "{xml}");
    assert!(!std::path::Path::new(&format!("{}/context/{domain}", dir.0)).exists());
}

#[test]
fn a_vm_without_a_host_is_refused_naming_host() {
    let dir = TempDir::new();
    let mut d = driver(&dir);
    match d.create_vm(spec("op-1", None, json!({}))) {
        Err(Error::InvalidInput(m)) => assert!(m.starts_with("HOST: missing"), "{m}"),
        other => panic!("{other:?}"),
    }
    match d.create_vm(spec("op-1", Some(("h1", "qemu:///system")), json!({}))) {
        Err(Error::InvalidInput(m)) => assert!(m.starts_with("HOST.ADDRESS:"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(d.host().calls.is_empty());
    // With a default host configured, it goes there.
    d.host()
        .config
        .insert("default_host".into(), format!("solo={H2}"));
    let id = d.create_vm(spec("op-1", None, json!({}))).unwrap();
    assert!(id.starts_with("solo/flotilla-"), "{id}");
}

#[test]
fn a_failed_create_leaves_nothing() {
    let dir = TempDir::new();
    let mut d = driver(&dir);
    d.host().hosts.entry(H1.into()).or_default().down = true;
    match d.create_vm(spec("op-1", Some(("h1", H1)), json!({}))) {
        Err(Error::Unavailable(m)) => assert!(
            m.contains("host h1") && m.contains("does not answer"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(d.list_vms().unwrap().is_empty());
    assert!(
        std::fs::read_dir(format!("{}/context", dir.0))
            .unwrap()
            .next()
            .is_none(),
        "no context disk stays"
    );
    d.host().hosts.get_mut(H1).unwrap().down = false;
    let id = d
        .create_vm(spec("op-1", Some(("h1", H1)), json!({})))
        .unwrap();
    assert_eq!(states(&mut d, &[&id]), [(VmState::Running, None)]);
}

#[test]
fn hold_release_and_the_actions() {
    let dir = TempDir::new();
    let mut d = driver(&dir);
    let mut held = spec("op-1", Some(("h1", H1)), json!({}));
    held.hold = true;
    let id = d.create_vm(held).unwrap();
    assert!(!d.host().calls.iter().any(|c| c.contains(" start ")));
    assert_eq!(states(&mut d, &[&id]), [(VmState::Hold, None)]);
    d.act_on(&id, VmAction::Release, &[]).unwrap();
    assert_eq!(states(&mut d, &[&id]), [(VmState::Running, None)]);
    for (action, state) in [
        (VmAction::Suspend, VmState::Suspended),
        (VmAction::Suspend, VmState::Suspended),
        (VmAction::Resume, VmState::Running),
        (VmAction::Reboot, VmState::Running),
        (VmAction::RebootHard, VmState::Running),
        (VmAction::Poweroff, VmState::Poweroff),
        (VmAction::Poweroff, VmState::Poweroff),
        (VmAction::PoweroffHard, VmState::Poweroff),
        (VmAction::Resume, VmState::Running),
        (VmAction::PoweroffHard, VmState::Poweroff),
        (VmAction::Release, VmState::Running),
        (VmAction::Hold, VmState::Hold),
        (VmAction::Release, VmState::Running),
    ] {
        d.act_on(&id, action, &[])
            .unwrap_or_else(|e| panic!("{action:?}: {e:?}"));
        assert_eq!(states(&mut d, &[&id])[0].0, state, "after {action:?}");
    }
    assert!(matches!(
        d.act_on(&id, VmAction::SnapshotCreate, &[]),
        Err(Error::Unsupported(_))
    ));
    d.act_on(&id, VmAction::Terminate, &[]).unwrap();
    assert_eq!(
        states(&mut d, &[&id]),
        [(VmState::Done, Some("not found".into()))]
    );
    assert!(d.host().hosts[H1].domains.is_empty());
    assert!(matches!(
        d.act_on(&id, VmAction::Terminate, &[]),
        Err(Error::NotFound(_))
    ));
    assert!(
        std::fs::read_dir(format!("{}/domains", dir.0))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn a_daemon_dropping_the_connection_loses_no_vm() {
    let dir = TempDir::new();
    let mut d = driver(&dir);
    let id = d
        .create_vm(spec("op-1", Some(("h1", H1)), json!({})))
        .unwrap();
    d.host().hosts.get_mut(H1).unwrap().dropping = true;
    let (state, reason) = states(&mut d, &[&id]).remove(0);
    assert_eq!(state, VmState::Unknown, "{reason:?}");
    let reason = reason.unwrap_or_default();
    assert!(
        reason.contains("host h1") && reason.contains("Disconnected"),
        "{reason}"
    );
    // Nor is a terminate taken as done while the domain may still run.
    assert!(matches!(
        d.act_on(&id, VmAction::Terminate, &[]),
        Err(Error::Unavailable(_))
    ));
    d.host().hosts.get_mut(H1).unwrap().dropping = false;
    assert_eq!(states(&mut d, &[&id]), [(VmState::Running, None)]);
}

#[test]
fn terminating_a_domain_already_gone_succeeds() {
    let dir = TempDir::new();
    let mut d = driver(&dir);
    let id = d
        .create_vm(spec("op-1", Some(("h1", H1)), json!({})))
        .unwrap();
    d.host().hosts.get_mut(H1).unwrap().domains.clear();
    let (state, reason) = states(&mut d, &[&id]).remove(0);
    assert_eq!(state, VmState::Done);
    assert_eq!(reason.as_deref(), Some("not found on host h1"));
    assert!(matches!(
        d.act_on(&id, VmAction::Poweroff, &[]),
        Err(Error::NotFound(_))
    ));
    d.act_on(&id, VmAction::TerminateHard, &[]).unwrap();
    assert!(d.list_vms().unwrap().is_empty());
}

#[test]
fn a_poll_asks_each_host_once_and_a_silent_host_leaves_its_vms_unknown() {
    let dir = TempDir::new();
    let mut d = driver(&dir);
    let a = d.create_vm(spec("a", Some(("h1", H1)), json!({}))).unwrap();
    let b = d.create_vm(spec("b", Some(("h1", H1)), json!({}))).unwrap();
    let c = d.create_vm(spec("c", Some(("h2", H2)), json!({}))).unwrap();
    d.host().calls.clear();
    let polled = d
        .poll_vms(vec![c.clone(), "h1/not-ours".into(), a.clone(), b.clone()])
        .unwrap();
    let ids: Vec<&str> = polled.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [c.as_str(), "h1/not-ours", &a, &b]);
    assert_eq!(polled[1].state, VmState::Done);
    let lists = d
        .host()
        .calls
        .iter()
        .filter(|c| c.ends_with("list --all"))
        .count();
    assert_eq!(lists, 2, "{:?}", d.host().calls);
    assert!(!d.host().calls.iter().any(|c| c.contains("domstate")));
    let cpu = |s: &VmStatus| {
        s.monitoring
            .iter()
            .find(|m| m.name == "CPU")
            .map(|m| m.value)
    };
    assert_eq!(cpu(&polled[2]), Some(0.0));
    assert!(
        polled[2]
            .monitoring
            .iter()
            .any(|m| m.name == "MEMORY" && m.value == 50000.0)
    );

    d.host().hosts.get_mut(H1).unwrap().down = true;
    let polled = d.poll_vms(vec![a.clone(), c.clone()]).unwrap();
    assert_eq!(polled[0].state, VmState::Unknown);
    let reason = polled[0].reason.clone().unwrap();
    assert!(
        reason.contains("host h1") && reason.contains("Connection refused"),
        "{reason}"
    );
    assert_eq!(polled[1].state, VmState::Running);

    let listed = d.list_vms().unwrap();
    assert_eq!(listed.len(), 3);
    let of = |id: &str| listed.iter().find(|v| v.id == id).unwrap();
    assert_eq!(of(&a).state, VmState::Unknown);
    assert_eq!(of(&c).state, VmState::Running);
    assert_eq!((of(&a).operation_id.as_str(), of(&a).service_id), ("a", 3));
}

#[test]
fn monitor_reports_each_host_and_fails_a_silent_one_alone() {
    let dir = TempDir::new();
    let mut d = driver(&dir);
    let a = d.create_vm(spec("a", Some(("h1", H1)), json!({}))).unwrap();
    d.host().hosts.entry(H2.into()).or_default().down = true;
    let out = d.monitor_hosts(vec![
        HostProbe {
            name: "h1".into(),
            address: H1.into(),
        },
        HostProbe {
            name: "h2".into(),
            address: H2.into(),
        },
        HostProbe {
            name: "h3".into(),
            address: "qemu:///system".into(),
        },
    ]);
    let m = out[0].as_ref().unwrap();
    assert_eq!((m.cpu, m.memory_mb, m.used_memory_mb), (4.0, 8192, 3072));
    assert_eq!(m.used_cpu, 1.6);
    assert_eq!(m.vm_ids, [a]);
    match &out[1] {
        Err(Error::Unavailable(m)) => assert!(m.contains("host h2"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(&out[2], Err(Error::InvalidInput(_))));
}

#[test]
fn a_batch_asks_a_silent_host_once() {
    let dir = TempDir::new();
    let mut d = driver(&dir);
    d.host().hosts.entry(H1.into()).or_default().down = true;
    let out = d.create_batch(vec![
        spec("a", Some(("h1", H1)), json!({})),
        spec("b", Some(("h2", H2)), json!({})),
        spec("c", Some(("h1", H1)), json!({})),
    ]);
    assert!(matches!(&out[0], Err(Error::Unavailable(_))));
    assert!(out[1].as_ref().is_ok_and(|id| id.starts_with("h2/")));
    assert!(matches!(&out[2], Err(Error::Unavailable(_))));
    let asked_h1 = d.host().calls.iter().filter(|c| c.starts_with(H1)).count();
    assert_eq!(asked_h1, 1, "{:?}", d.host().calls);
}
