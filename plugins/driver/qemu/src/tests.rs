//! The driver against a fake host: QEMU processes that answer QMP as QEMU
//! does (for what the driver asks), a clock the test moves, and a real
//! state directory in the system's temporary directory.

use crate::driver::QemuDriver;
use crate::host::Host;
use crate::store::tests::TempDir;
use flotilla_plugin_sdk::driver::*;
use flotilla_plugin_sdk::process::{Exchange, Finished, Stats};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::rc::Rc;

struct FakeQemu {
    socket: String,
    alive: bool,
    status: String,
    cpu_ms: u64,
    rss_kib: u64,
    args: Vec<String>,
}

#[derive(Default)]
struct World {
    config: HashMap<String, String>,
    now: u64,
    next_pid: u32,
    procs: HashMap<u32, FakeQemu>,
    spawns: Vec<Vec<String>>,
    runs: Vec<(String, Vec<String>)>,
    kills: Vec<(u32, bool)>,
    /// Every QMP command received, with the pid that got it.
    commands: Vec<(u32, String)>,
    spawn_error: Option<Error>,
    img_failure: Option<String>,
    exit_at_start: bool,
    /// The guest ignores the ACPI power button.
    deaf_guest: bool,
    /// QMP of this socket never answers.
    hung_socket: Option<String>,
    /// The sockets of each `exchange-many` call, in order.
    exchange_many_calls: Vec<Vec<String>>,
}

#[derive(Clone, Default)]
struct FakeHost(Rc<RefCell<World>>);

impl FakeHost {
    fn new(state_dir: &str) -> FakeHost {
        let host = FakeHost::default();
        {
            let mut w = host.0.borrow_mut();
            w.now = 1_700_000_000_000;
            w.next_pid = 4000;
            for (k, v) in [
                ("state_dir", state_dir),
                ("kernel", "/img/vmlinuz"),
                ("initrd", "/img/initrd.img"),
                ("image_dirs", "/img"),
                ("tap_prefixes", "fl-"),
            ] {
                w.config.insert(k.into(), v.into());
            }
        }
        host
    }

    fn w(&self) -> std::cell::RefMut<'_, World> {
        self.0.borrow_mut()
    }

    fn pid_of(&self, id: &str) -> u32 {
        let w = self.0.borrow();
        let mut alive: Vec<u32> = w
            .procs
            .iter()
            .filter(|(_, p)| p.alive && p.args.contains(&format!("guest={id}")))
            .map(|(pid, _)| *pid)
            .collect();
        alive.sort();
        *alive.last().unwrap_or_else(|| panic!("no QEMU runs {id}"))
    }

    fn advance(&self, ms: u64) {
        self.w().now += ms;
    }

    fn commands_to(&self, pid: u32) -> Vec<String> {
        self.0
            .borrow()
            .commands
            .iter()
            .filter(|(p, c)| *p == pid && c != "qmp_capabilities" && c != "query-status")
            .map(|(_, c)| c.clone())
            .collect()
    }
}

fn socket_of(args: &[String]) -> String {
    let at = args.iter().position(|a| a == "-qmp").expect("-qmp");
    let value = &args[at + 1];
    value
        .strip_prefix("unix:")
        .and_then(|v| v.split(',').next())
        .expect("unix:…")
        .to_string()
}

impl Host for FakeHost {
    fn spawn(&mut self, program: &str, args: &[String]) -> Result<u32, Error> {
        assert_eq!(program, "qemu-system-x86_64");
        let mut w = self.w();
        if let Some(e) = w.spawn_error.clone() {
            return Err(e);
        }
        w.next_pid += 1;
        let pid = w.next_pid;
        let socket = socket_of(args);
        fs::write(&socket, "").expect("the socket's directory exists");
        let paused = args.iter().any(|a| a == "-S");
        let alive = !w.exit_at_start;
        w.procs.insert(
            pid,
            FakeQemu {
                socket,
                alive,
                status: if paused { "prelaunch" } else { "running" }.into(),
                cpu_ms: 0,
                rss_kib: 131_072,
                args: args.to_vec(),
            },
        );
        w.spawns.push(args.to_vec());
        Ok(pid)
    }

    fn run(&mut self, program: &str, args: &[String], _timeout_ms: u32) -> Result<Finished, Error> {
        let mut w = self.w();
        w.runs.push((program.to_string(), args.to_vec()));
        match program {
            "qemu-img" => match &w.img_failure {
                Some(output) => Ok(Finished {
                    exit_code: 1,
                    output: output.clone(),
                }),
                None => {
                    fs::write(args.last().expect("the overlay"), "QFI\u{fb}").unwrap();
                    Ok(Finished {
                        exit_code: 0,
                        output: String::new(),
                    })
                }
            },
            _ => Ok(Finished {
                exit_code: 1,
                output: "qemu-system-x86_64: -machine q35,accel=kvm: failed to initialize kvm: \
                         Permission denied\n"
                    .into(),
            }),
        }
    }

    fn stats(&mut self, pid: u32) -> Result<Stats, Error> {
        match self.0.borrow().procs.get(&pid) {
            Some(p) if p.alive => Ok(Stats {
                alive: true,
                cpu_ms: p.cpu_ms,
                rss_kib: p.rss_kib,
            }),
            _ => Err(Error::NotFound(format!("process {pid}: not found"))),
        }
    }

    fn kill(&mut self, pid: u32, force: bool) -> Result<(), Error> {
        let mut w = self.w();
        w.kills.push((pid, force));
        if let Some(p) = w.procs.get_mut(&pid) {
            p.alive = false;
        }
        Ok(())
    }

    fn exchange(
        &mut self,
        socket: &str,
        requests: &[String],
        _timeout_ms: u32,
    ) -> Result<Vec<String>, Error> {
        let mut w = self.w();
        if w.hung_socket.as_deref() == Some(socket) {
            return Err(Error::Unavailable(format!(
                "reading {socket}: Resource temporarily unavailable"
            )));
        }
        let Some(pid) = w
            .procs
            .iter()
            .find(|(_, p)| p.alive && p.socket == socket)
            .map(|(pid, _)| *pid)
        else {
            return Err(Error::NotFound(format!(
                "connecting to {socket}: Connection refused (os error 111)"
            )));
        };
        let deaf = w.deaf_guest;
        let mut answers = Vec::new();
        for request in requests {
            let r: Value = serde_json::from_str(request).expect("QMP requests are JSON");
            let command = r["execute"].as_str().expect("execute").to_string();
            let line = if command == "human-monitor-command" {
                r["arguments"]["command-line"].as_str().unwrap().to_string()
            } else {
                command.clone()
            };
            w.commands.push((pid, line));
            let p = w.procs.get_mut(&pid).unwrap();
            let answer = match command.as_str() {
                "qmp_capabilities" | "human-monitor-command" => json!({"return": {}}),
                "query-status" => {
                    json!({"return": {"status": p.status, "running": p.status == "running"}})
                }
                "stop" => {
                    p.status = "paused".into();
                    json!({"return": {}})
                }
                "cont" if p.status == "shutdown" => json!({"error": {
                    "class": "GenericError",
                    "desc": "Resetting the Virtual Machine is required"}}),
                "cont" => {
                    p.status = "running".into();
                    json!({"return": {}})
                }
                "system_powerdown" => {
                    if !deaf && p.status == "running" {
                        p.status = "shutdown".into();
                    }
                    json!({"return": {}})
                }
                "system_reset" => {
                    if p.status == "shutdown" {
                        p.status = "prelaunch".into();
                    }
                    json!({"return": {}})
                }
                "quit" => {
                    p.alive = false;
                    json!({"return": {}})
                }
                other => json!({"error": {"class": "CommandNotFound", "desc": other}}),
            };
            answers.push(answer.to_string());
        }
        Ok(answers)
    }

    fn exchange_many(
        &mut self,
        exchanges: &[Exchange],
        timeout_ms: u32,
    ) -> Vec<Result<Vec<String>, Error>> {
        self.w()
            .exchange_many_calls
            .push(exchanges.iter().map(|e| e.socket.clone()).collect());
        exchanges
            .iter()
            .map(|e| self.exchange(&e.socket, &e.requests, timeout_ms))
            .collect()
    }

    fn config(&self, key: &str) -> Option<String> {
        self.0.borrow().config.get(key).cloned()
    }

    fn now_ms(&self) -> u64 {
        self.0.borrow().now
    }

    fn sleep_ms(&mut self, ms: u64) {
        self.w().now += ms;
    }
}

fn setup() -> (TempDir, FakeHost, QemuDriver<FakeHost>) {
    let dir = TempDir::new();
    let host = FakeHost::new(&dir.0);
    let driver = QemuDriver::with_host(host.clone());
    (dir, host, driver)
}

fn spec(op: &str, template: Value, hold: bool) -> VmSpec {
    VmSpec {
        operation_id: op.into(),
        service_id: 7,
        role_name: "web".into(),
        vm_name: format!("web_{op}"),
        template: template.to_string(),
        hold,
    }
}

fn basic() -> Value {
    json!({"CPU": "1", "MEMORY": "512", "CONTEXT": {"NETWORK": "YES"}})
}

fn poll_one(d: &mut QemuDriver<FakeHost>, id: &str) -> VmStatus {
    let mut all = d.poll(vec![id.to_string()]).expect("poll");
    assert_eq!(all.len(), 1);
    all.remove(0)
}

fn state(d: &mut QemuDriver<FakeHost>, id: &str) -> VmState {
    poll_one(d, id).state
}

fn metric(s: &VmStatus, name: &str) -> f64 {
    s.monitoring
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name} in {s:?}"))
        .value
}

#[test]
fn create_is_idempotent_and_poll_reports_running_with_monitoring() {
    let (dir, host, mut d) = setup();
    let template = json!({
        "CPU": "0.5", "VCPU": "2", "MEMORY": "512",
        "NIC": [{"NETWORK": "a"}],
        "CONTEXT": {
            "ONEGATE_ENDPOINT": "http://127.0.0.1:5030",
            "ONEGATE_TOKEN": "tok",
            "BURN_CPU": "YES",
        },
    });
    let id = d.create(spec("op-1", template.clone(), false)).unwrap();
    assert_eq!(id, "q0");
    assert_eq!(
        d.create(spec("op-1", template.clone(), false)).unwrap(),
        "q0"
    );
    assert_eq!(
        host.0.borrow().spawns.len(),
        1,
        "a repeated create starts nothing"
    );
    assert_eq!(d.create(spec("op-2", basic(), false)).unwrap(), "q1");

    let args = host.0.borrow().spawns[0].clone();
    for expected in [
        "guest=q0",
        "size=512M",
        "cpus=2",
        "/img/vmlinuz",
        "/img/initrd.img",
        "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:5030-cmd:socat STDIO TCP:127.0.0.1:5030",
    ] {
        assert!(
            args.contains(&expected.to_string()),
            "{expected} in {args:?}"
        );
    }
    assert!(!args.contains(&"-S".to_string()));
    let context = fs::read_to_string(format!("{}/vms/q0/context/context.sh", dir.0)).unwrap();
    assert!(
        context.contains("ONEGATE_ENDPOINT='http://10.0.2.100:5030'\n"),
        "{context}"
    );
    assert!(context.contains("BURN_CPU='YES'\n") && context.contains("VMID='q0'\n"));
    let record: Value =
        serde_json::from_str(&fs::read_to_string(format!("{}/vms/q0/vm.json", dir.0)).unwrap())
            .unwrap();
    assert_eq!(record["operation_id"], "op-1");
    assert_eq!(record["template"]["memory_mb"], 512);

    let s = poll_one(&mut d, &id);
    assert_eq!(s.state, VmState::Running);
    assert_eq!((metric(&s, "CPU"), metric(&s, "MEMORY")), (0.0, 131_072.0));
    let pid = host.pid_of("q0");
    host.w().procs.get_mut(&pid).unwrap().cpu_ms = 5_000;
    host.advance(10_000);
    let s = poll_one(&mut d, &id);
    assert_eq!(metric(&s, "CPU"), 50.0);
}

#[test]
fn bad_templates_and_config_are_refused_before_anything_is_made() {
    let (dir, host, mut d) = setup();
    for (template, field) in [
        (json!([1, 2, 3]), "template"),
        (json!({"MEMORY": "lots"}), "MEMORY"),
        (json!({"DISK": {"IMAGE_ID": 1}}), "DISK"),
        // Another VM's disk, in the state directory: not an image.
        (
            json!({"DISK": {"PATH": format!("{}/vms/q0/disk.qcow2", dir.0), "FORMAT": "raw"}}),
            "DISK.PATH",
        ),
        (json!({"CONTEXT": {"A;reboot": "x"}}), "CONTEXT.A;reboot"),
    ] {
        match d.create(spec("bad", template.clone(), false)) {
            Err(Error::InvalidInput(m)) => assert!(m.starts_with(&format!("{field}:")), "{m}"),
            other => panic!("{template}: {other:?}"),
        }
    }
    let mut empty_op = spec("", basic(), false);
    empty_op.operation_id = " ".into();
    assert!(matches!(d.create(empty_op), Err(Error::InvalidInput(_))));
    assert!(!fs::exists(format!("{}/next_id", dir.0)).unwrap());
    assert!(host.0.borrow().spawns.is_empty());

    host.w().config.remove("state_dir");
    assert_eq!(
        d.create(spec("x", basic(), false)),
        Err(Error::InvalidInput(
            "config: state_dir is not set; grant a directory and set [plugins.qemu.config] state_dir"
                .into()
        ))
    );
    assert!(matches!(
        d.poll(vec!["q0".into()]),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(d.list(), Err(Error::InvalidInput(_))));
}

#[test]
fn hold_release_suspend_and_resume() {
    let (_dir, host, mut d) = setup();
    let id = d.create(spec("held", basic(), true)).unwrap();
    assert!(host.0.borrow().spawns[0].contains(&"-S".to_string()));
    assert_eq!(state(&mut d, &id), VmState::Hold);
    d.act(id.clone(), VmAction::Release, vec![]).unwrap();
    assert_eq!(state(&mut d, &id), VmState::Running);
    d.act(id.clone(), VmAction::Suspend, vec![]).unwrap();
    assert_eq!(state(&mut d, &id), VmState::Suspended);
    d.act(id.clone(), VmAction::Resume, vec![]).unwrap();
    assert_eq!(state(&mut d, &id), VmState::Running);
    d.act(id.clone(), VmAction::Hold, vec![]).unwrap();
    assert_eq!(state(&mut d, &id), VmState::Hold);
    d.act(id.clone(), VmAction::Release, vec![]).unwrap();
    d.act(id.clone(), VmAction::Stop, vec![]).unwrap();
    assert_eq!(state(&mut d, &id), VmState::Suspended);
    d.act(id.clone(), VmAction::RebootHard, vec![]).unwrap();
    let pid = host.pid_of(&id);
    assert_eq!(
        host.commands_to(pid),
        [
            "cont",
            "stop",
            "cont",
            "stop",
            "cont",
            "stop",
            "system_reset"
        ]
    );
}

#[test]
fn a_soft_terminate_waits_for_the_guest_then_cleans_up() {
    let (dir, host, mut d) = setup();
    let id = d.create(spec("t1", basic(), false)).unwrap();
    let pid = host.pid_of(&id);
    d.act(id.clone(), VmAction::Terminate, vec![]).unwrap();
    // The guest powered off on the ACPI button: the next poll quits QEMU.
    assert_eq!(state(&mut d, &id), VmState::Done);
    assert_eq!(host.commands_to(pid), ["system_powerdown", "quit"]);
    // Nothing of it is left: not its directory, not its operation.
    let vm_dir = format!("{}/vms/{id}", dir.0);
    assert!(!fs::exists(&vm_dir).unwrap());
    assert!(
        fs::read_dir(format!("{}/ops", dir.0))
            .unwrap()
            .next()
            .is_none()
    );
    // Again, and of a VM already gone: done, or not found (the contract
    // allows both; the host polls and takes DONE).
    for action in [VmAction::Terminate, VmAction::TerminateHard] {
        let again = d.act(id.clone(), action, vec![]);
        assert!(
            matches!(again, Ok(()) | Err(Error::NotFound(_))),
            "{again:?}"
        );
    }
    assert!(d.list().unwrap().is_empty());
    assert_eq!(state(&mut d, &id), VmState::Done);
    assert!(matches!(
        d.act(id.clone(), VmAction::Resume, vec![]),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn a_guest_that_ignores_the_power_button_is_quit_after_the_grace() {
    let (_dir, host, mut d) = setup();
    host.w().deaf_guest = true;
    let id = d.create(spec("t2", basic(), false)).unwrap();
    let pid = host.pid_of(&id);
    d.act(id.clone(), VmAction::Terminate, vec![]).unwrap();
    let s = poll_one(&mut d, &id);
    assert_eq!(s.state, VmState::Running);
    assert!(s.reason.unwrap().starts_with("terminating"));
    host.advance(5_000);
    assert_eq!(state(&mut d, &id), VmState::Running);
    // A repeated terminate keeps the first deadline.
    d.act(id.clone(), VmAction::Terminate, vec![]).unwrap();
    host.advance(6_000);
    assert_eq!(state(&mut d, &id), VmState::Done);
    assert_eq!(
        host.commands_to(pid),
        ["system_powerdown", "system_powerdown", "quit"]
    );
}

#[test]
fn terminate_hard_ends_the_vm_at_once_and_kills_a_hung_qemu() {
    let (dir, host, mut d) = setup();
    let id = d.create(spec("h1", basic(), false)).unwrap();
    d.act(id.clone(), VmAction::TerminateHard, vec![]).unwrap();
    assert_eq!(state(&mut d, &id), VmState::Done);
    assert!(host.0.borrow().kills.is_empty(), "quit was enough");

    let id = d.create(spec("h2", basic(), true)).unwrap();
    let pid = host.pid_of(&id);
    host.w().hung_socket = Some(format!("{}/vms/{id}/qmp.sock", dir.0));
    d.act(id.clone(), VmAction::TerminateHard, vec![]).unwrap();
    assert_eq!(host.0.borrow().kills, [(pid, true)]);
    assert_eq!(state(&mut d, &id), VmState::Done);
}

#[test]
fn poweroff_keeps_the_files_and_resume_starts_qemu_again() {
    let (dir, host, mut d) = setup();
    let id = d.create(spec("p1", basic(), false)).unwrap();
    let first = host.pid_of(&id);
    d.act(id.clone(), VmAction::PoweroffHard, vec![]).unwrap();
    assert_eq!(state(&mut d, &id), VmState::Poweroff);
    assert!(fs::exists(format!("{}/vms/{id}/context/context.sh", dir.0)).unwrap());
    d.act(id.clone(), VmAction::PoweroffHard, vec![]).unwrap();
    assert!(matches!(
        d.act(id.clone(), VmAction::Suspend, vec![]),
        Err(Error::Denied(_))
    ));
    d.act(id.clone(), VmAction::Resume, vec![]).unwrap();
    let second = host.pid_of(&id);
    assert_ne!(first, second);
    assert_eq!(state(&mut d, &id), VmState::Running);
    assert_eq!(host.0.borrow().spawns[0], host.0.borrow().spawns[1]);

    // A soft power-off: the guest powers off, the poll lets QEMU go.
    d.act(id.clone(), VmAction::Poweroff, vec![]).unwrap();
    assert_eq!(state(&mut d, &id), VmState::Poweroff);
    assert_eq!(host.commands_to(second), ["system_powerdown", "quit"]);
    assert_eq!(state(&mut d, &id), VmState::Poweroff);
    d.act(id.clone(), VmAction::Resume, vec![]).unwrap();
    assert_eq!(state(&mut d, &id), VmState::Running);
    assert_eq!(host.0.borrow().spawns.len(), 3);
}

#[test]
fn a_dead_qemu_is_failed_with_its_last_console_line() {
    let (dir, host, mut d) = setup();
    let id = d.create(spec("f1", basic(), false)).unwrap();
    fs::write(
        format!("{}/vms/{id}/console.log", dir.0),
        "flotilla-guest: idle\nKernel panic - not syncing: oops\n",
    )
    .unwrap();
    let pid = host.pid_of(&id);
    host.w().procs.get_mut(&pid).unwrap().alive = false;
    let s = poll_one(&mut d, &id);
    assert_eq!(s.state, VmState::Failed);
    assert_eq!(
        s.reason.as_deref(),
        Some("QEMU process exited; console: Kernel panic - not syncing: oops")
    );
    assert!(s.monitoring.is_empty());
    assert!(matches!(
        d.act(id.clone(), VmAction::Reboot, vec![]),
        Err(Error::Denied(_))
    ));
    // A retried create of the same operation starts it again.
    assert_eq!(d.create(spec("f1", basic(), false)).unwrap(), id);
    assert_eq!(state(&mut d, &id), VmState::Running);
}

#[test]
fn a_create_that_failed_before_qemu_ran_is_finished_by_its_retry() {
    let (_dir, host, mut d) = setup();
    host.w().spawn_error = Some(Error::Denied(
        "argument 3 `size=512M` of /usr/bin/qemu-system-x86_64: matches no pattern of the grant"
            .into(),
    ));
    // The host's refusal passes through as it is.
    assert_eq!(
        d.create(spec("r1", basic(), false)),
        Err(host.0.borrow().spawn_error.clone().unwrap())
    );
    assert_eq!(state(&mut d, "q0"), VmState::Pending);
    host.w().spawn_error = None;
    assert_eq!(d.create(spec("r1", basic(), false)).unwrap(), "q0");
    assert_eq!(host.0.borrow().spawns.len(), 1);
    assert_eq!(state(&mut d, "q0"), VmState::Running);
    // A create that never got that far is FAILED after a minute.
    host.w().spawn_error = Some(Error::Unavailable("no".into()));
    assert!(d.create(spec("r2", basic(), false)).is_err());
    host.advance(61_000);
    assert_eq!(state(&mut d, "q1"), VmState::Failed);
    // Resume starts it.
    host.w().spawn_error = None;
    d.act("q1".into(), VmAction::Resume, vec![]).unwrap();
    assert_eq!(state(&mut d, "q1"), VmState::Running);
}

#[test]
fn a_qemu_left_running_by_a_crashed_create_is_replaced() {
    let (dir, host, mut d) = setup();
    let id = d.create(spec("o1", basic(), false)).unwrap();
    let orphan = host.pid_of(&id);
    // The record lost its pid, as if the call crashed right after spawn.
    let path = format!("{}/vms/{id}/vm.json", dir.0);
    let mut record: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    record["pid"] = Value::Null;
    fs::write(&path, record.to_string()).unwrap();
    assert_eq!(d.create(spec("o1", basic(), false)).unwrap(), id);
    assert_eq!(host.commands_to(orphan), ["quit"]);
    assert_ne!(host.pid_of(&id), orphan);
    assert_eq!(state(&mut d, &id), VmState::Running);
}

#[test]
fn a_qemu_that_exits_at_once_says_why() {
    let (_dir, host, mut d) = setup();
    host.w().config.insert("accel".into(), "kvm".into());
    host.w().exit_at_start = true;
    match d.create(spec("k1", basic(), false)) {
        Err(Error::Unavailable(m)) => {
            assert!(
                m.contains("failed to initialize kvm: Permission denied"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(host.0.borrow().spawns[0].contains(&"q35,accel=kvm".to_string()));
    assert_eq!(state(&mut d, "q0"), VmState::Failed);
}

#[test]
fn a_batch_starts_every_qemu_then_waits_once() {
    let (_dir, host, mut d) = setup();
    let before = host.0.borrow().now;
    let specs = || {
        (1..=3)
            .map(|i| spec(&format!("b{i}"), basic(), false))
            .collect()
    };
    let ids: Vec<String> = d
        .create_many(specs())
        .into_iter()
        .map(|r| r.expect("created"))
        .collect();
    assert_eq!(ids, ["q0", "q1", "q2"]);
    // No QEMU was asked anything: one wait of the whole batch, no more.
    assert!(host.0.borrow().commands.is_empty());
    assert_eq!(host.0.borrow().now - before, 300);
    for id in &ids {
        assert_eq!(state(&mut d, id), VmState::Running);
    }
    // Repeated, the batch is the same VMs, their QEMUs left alone.
    let again: Vec<String> = d.create_many(specs()).into_iter().flatten().collect();
    assert_eq!(again, ids);
    assert_eq!(host.0.borrow().spawns.len(), 3);
}

#[test]
fn a_qemu_of_a_batch_that_exits_at_once_fails_its_own_create() {
    let (_dir, host, mut d) = setup();
    host.w().config.insert("accel".into(), "kvm".into());
    host.w().exit_at_start = true;
    let created = d.create_many(vec![
        spec("e1", basic(), false),
        spec("", basic(), false),
        spec("e2", basic(), false),
    ]);
    assert_eq!(created.len(), 3);
    assert!(
        matches!(&created[1], Err(Error::InvalidInput(m)) if m.contains("operation-id")),
        "{created:?}"
    );
    for outcome in [&created[0], &created[2]] {
        match outcome {
            Err(Error::Unavailable(m)) => {
                assert!(m.contains("failed to initialize kvm"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(host.0.borrow().spawns.len(), 2);
}

#[test]
fn a_new_instance_finds_every_vm_from_the_files() {
    let (_dir, host, mut d) = setup();
    let a = d.create(spec("l1", basic(), false)).unwrap();
    let b = d.create(spec("l2", basic(), true)).unwrap();
    let c = d.create(spec("l3", basic(), false)).unwrap();
    d.act(c.clone(), VmAction::TerminateHard, vec![]).unwrap();
    d.act(a.clone(), VmAction::PoweroffHard, vec![]).unwrap();
    drop(d);

    let mut fresh = QemuDriver::with_host(host.clone());
    let listed: Vec<(String, String, VmState)> = fresh
        .list()
        .unwrap()
        .into_iter()
        .map(|vm| (vm.id, vm.operation_id, vm.state))
        .collect();
    assert_eq!(
        listed,
        [
            (a.clone(), "l1".into(), VmState::Poweroff),
            (b.clone(), "l2".into(), VmState::Hold)
        ]
    );
    assert_eq!(fresh.create(spec("l2", basic(), true)).unwrap(), b);
    let states: Vec<VmState> = fresh
        .poll(vec![a, b, c, "q99".into(), "987654321".into()])
        .unwrap()
        .into_iter()
        .map(|s| s.state)
        .collect();
    use VmState::*;
    assert_eq!(states, [Poweroff, Hold, Done, Done, Done]);
}

#[test]
fn one_vm_whose_qmp_hangs_does_not_fail_the_others() {
    let (dir, host, mut d) = setup();
    let a = d.create(spec("u1", basic(), false)).unwrap();
    let b = d.create(spec("u2", basic(), false)).unwrap();
    host.w().hung_socket = Some(format!("{}/vms/{a}/qmp.sock", dir.0));
    let polled = d.poll(vec![a, b]).unwrap();
    assert_eq!(polled[0].state, VmState::Unknown);
    assert!(polled[0].reason.as_deref().unwrap().starts_with("QMP:"));
    assert_eq!(polled[1].state, VmState::Running);
}

#[test]
fn a_poll_asks_every_running_qemu_in_one_exchange_many_and_keeps_the_order() {
    let (dir, host, mut d) = setup();
    let ids: Vec<String> = (0..5)
        .map(|i| d.create(spec(&format!("m{i}"), basic(), i == 2)).unwrap())
        .collect();
    // One QEMU gone, one never made: their processes say enough.
    let gone = ids[3].clone();
    let pid = host
        .w()
        .procs
        .iter()
        .find(|(_, p)| p.socket.contains(&format!("/{gone}/")))
        .map(|(pid, _)| *pid)
        .unwrap();
    host.w().procs.get_mut(&pid).unwrap().alive = false;
    host.w().exchange_many_calls.clear();
    let mut asked = ids.clone();
    asked.push("q404".into());
    let polled = d.poll(asked.clone()).unwrap();
    let got: Vec<(String, VmState)> = polled.iter().map(|s| (s.id.clone(), s.state)).collect();
    use VmState::*;
    assert_eq!(
        got,
        [
            (ids[0].clone(), Running),
            (ids[1].clone(), Running),
            (ids[2].clone(), Hold),
            (ids[3].clone(), Failed),
            (ids[4].clone(), Running),
            ("q404".into(), Done),
        ]
    );
    let socket = |id: &str| format!("{}/vms/{id}/qmp.sock", dir.0);
    assert_eq!(
        host.w().exchange_many_calls,
        [vec![
            socket(&ids[0]),
            socket(&ids[1]),
            socket(&ids[2]),
            socket(&ids[4])
        ]]
    );
}

#[test]
fn disks_get_an_overlay_and_snapshots() {
    let (dir, host, mut d) = setup();
    let template = json!({"MEMORY": "256", "DISK": [
        {"PATH": "/img/base.qcow2"},
        {"SOURCE": "/img/data.raw", "IMAGE_ID": "3", "FORMAT": "raw"},
    ]});
    let id = d.create(spec("d1", template, false)).unwrap();
    let vm_dir = format!("{}/vms/{id}", dir.0);
    let runs = host.0.borrow().runs.clone();
    let img = |format: &str, base: &str, overlay: &str| {
        (
            "qemu-img".to_string(),
            [
                "create",
                "-f",
                "qcow2",
                "-F",
                format,
                "-b",
                base,
                &format!("{vm_dir}/{overlay}"),
            ]
            .map(String::from)
            .to_vec(),
        )
    };
    assert_eq!(
        runs,
        [
            img("qcow2", "/img/base.qcow2", "disk.qcow2"),
            img("raw", "/img/data.raw", "disk1.qcow2")
        ]
    );
    let args = host.0.borrow().spawns[0].clone();
    let drives: Vec<&String> = args
        .iter()
        .zip(args.iter().skip(1))
        .filter(|(flag, _)| *flag == "-drive")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(drives.len(), 3, "two disks and the context: {drives:?}");
    assert_eq!(
        drives[..2],
        [
            &format!("file={vm_dir}/disk.qcow2,format=qcow2,if=virtio"),
            &format!("file={vm_dir}/disk1.qcow2,format=qcow2,if=virtio")
        ]
    );
    assert!(!args.contains(&"-kernel".to_string()));

    let name = |n: &str| vec![KeyValue::new("name", n)];
    d.act(id.clone(), VmAction::SnapshotCreate, name("before-upgrade"))
        .unwrap();
    d.act(id.clone(), VmAction::SnapshotRevert, name("before-upgrade"))
        .unwrap();
    d.act(id.clone(), VmAction::SnapshotDelete, name("before-upgrade"))
        .unwrap();
    assert!(matches!(
        d.act(id.clone(), VmAction::SnapshotCreate, name("a b; quit")),
        Err(Error::InvalidInput(m)) if m.starts_with("name:")
    ));
    assert!(matches!(
        d.act(id.clone(), VmAction::SnapshotRevert, vec![]),
        Err(Error::InvalidInput(m)) if m.starts_with("name:")
    ));
    let pid = host.pid_of(&id);
    assert_eq!(
        host.commands_to(pid),
        [
            "savevm before-upgrade",
            "loadvm before-upgrade",
            "delvm before-upgrade"
        ]
    );
    // Terminated: the overlays go.
    d.act(id.clone(), VmAction::TerminateHard, vec![]).unwrap();
    assert!(!fs::exists(format!("{vm_dir}/disk.qcow2")).unwrap());
    assert!(!fs::exists(format!("{vm_dir}/disk1.qcow2")).unwrap());

    host.w().img_failure = Some("qemu-img: Could not open '/img/nope.qcow2': No such file".into());
    match d.create(spec(
        "d2",
        json!({"DISK": {"PATH": "/img/nope.qcow2"}}),
        false,
    )) {
        Err(Error::InvalidInput(m)) => {
            assert!(
                m.starts_with("DISK[0]:") && m.contains("No such file"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_vms_and_unsupported_actions() {
    let (_dir, _host, mut d) = setup();
    assert!(matches!(
        d.act("987654321".into(), VmAction::Terminate, vec![]),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        d.act("q5".into(), VmAction::Terminate, vec![]),
        Err(Error::NotFound(_))
    ));
    let id = d.create(spec("n1", basic(), false)).unwrap();
    for action in [
        VmAction::Undeploy,
        VmAction::UndeployHard,
        VmAction::DiskSnapshotCreate,
        VmAction::DiskSnapshotRevert,
        VmAction::DiskSnapshotDelete,
    ] {
        match d.act(id.clone(), action, vec![]) {
            Err(Error::Unsupported(m)) => {
                assert!(m.starts_with(&format!("{}:", action.as_str())), "{m}")
            }
            other => panic!("{action:?}: {other:?}"),
        }
    }
    match d.act(id.clone(), VmAction::SnapshotCreate, vec![]) {
        Err(Error::Unsupported(m)) => assert!(m.contains("no qcow2 disk"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.info().name, "qemu");
    assert_eq!(d.info().description, crate::driver::DESCRIPTION);
}

/// info() says what plugin.toml says.
#[test]
fn info_matches_the_manifest() {
    let manifest = include_str!("../plugin.toml");
    let (_dir, _host, d) = setup();
    let info = d.info();
    assert!(manifest.contains(&format!("id = {:?}", info.name)));
    assert!(manifest.contains(&format!("version = {:?}", info.version)));
    assert!(manifest.contains(&format!("description = {:?}", info.description)));
}

/// A VM's NICs as QEMU gets them: each `-netdev` and `-device` with its
/// value, in order.
fn nic_args(args: &[String]) -> Vec<(String, String)> {
    args.iter()
        .zip(args.iter().skip(1))
        .filter(|(flag, _)| *flag == "-netdev" || *flag == "-device")
        .map(|(flag, value)| (flag.clone(), value.clone()))
        .collect()
}

fn nic_pair(flag: &str, value: &str) -> (String, String) {
    (flag.to_string(), value.to_string())
}

fn tap(nic_id: u32, ifname: &str, mac: &str) -> [(String, String); 2] {
    [
        nic_pair(
            "-netdev",
            &format!("tap,id=nic{nic_id},ifname={ifname},script=no,downscript=no"),
        ),
        nic_pair(
            "-device",
            &format!("virtio-net-pci,netdev=nic{nic_id},mac={mac}"),
        ),
    ]
}

const FWD: &str = "tcp:10.0.2.100:5030-cmd:socat STDIO TCP:127.0.0.1:5030";

/// The grant `flotilla plugin grant qemu --tap-prefix fl-` writes for the
/// test host's settings, and the host's matcher with the state directory
/// put in lexically (the host also resolves it on disk).
fn granted_by_the_generated_grant(state_dir: &str, args: &[String]) -> Result<(), usize> {
    use flotilla_plugin_sdk::pattern::{IMAGE_DIR, STATE_DIR, glob, match_groups};
    let boot = crate::template::KernelBoot {
        kernel: "/img/vmlinuz".into(),
        initrd: Some("/img/initrd.img".into()),
        append: crate::settings::DEFAULT_APPEND.into(),
    };
    let groups = crate::args::qemu_groups("tcg", &[boot], &[FWD.to_string()], &["fl-".into()]);
    match_groups(&groups, args, |p, arg| {
        !arg.contains("..")
            && glob(
                &p.replace(STATE_DIR, state_dir).replace(IMAGE_DIR, "/img"),
                arg,
            )
    })
}

fn onegate_context() -> Value {
    json!({"NETWORK": "YES", "ONEGATE_ENDPOINT": "http://127.0.0.1:5030", "ONEGATE_TOKEN": "t"})
}

#[test]
fn a_nic_with_a_target_is_a_tap_before_the_onegate_nic() {
    let (dir, host, mut d) = setup();
    let template = json!({
        "MEMORY": "256",
        "NIC": {"NIC_ID": "0", "NETWORK_ID": "3", "TARGET": "fl-0a1b2c3d4e",
                "MAC": "02:00:0A:00:00:05", "IP": "10.0.0.5"},
        "CONTEXT": onegate_context(),
    });
    d.create(spec("one", template, false)).unwrap();
    let args = host.0.borrow().spawns[0].clone();
    let [netdev, device] = tap(0, "fl-0a1b2c3d4e", "02:00:0a:00:00:05");
    assert_eq!(
        nic_args(&args),
        [
            netdev,
            device,
            nic_pair("-netdev", &format!("user,id=n0,restrict=on,guestfwd={FWD}")),
            nic_pair("-device", "virtio-net-pci,netdev=n0"),
        ],
        "the OneGate NIC comes last: {args:?}"
    );
    assert_eq!(granted_by_the_generated_grant(&dir.0, &args), Ok(()));
    // vm.json keeps the taps: a restart runs the same machine.
    let record: Value =
        serde_json::from_str(&fs::read_to_string(format!("{}/vms/q0/vm.json", dir.0)).unwrap())
            .unwrap();
    assert_eq!(
        record["template"]["taps"],
        json!([{"nic_id": 0, "ifname": "fl-0a1b2c3d4e", "mac": "02:00:0a:00:00:05"}])
    );
}

#[test]
fn three_nics_are_attached_in_nic_id_order_and_aliases_get_no_device() {
    let (dir, host, mut d) = setup();
    // Listed out of order, one NIC without a TARGET (no device of its
    // own) and two aliases: three taps, by NIC_ID; without OneGate and
    // with taps, no user network.
    let template = json!({
        "MEMORY": "256",
        "NIC": [
            {"NIC_ID": "2", "TARGET": "fl-c", "MAC": "02:00:0a:00:02:01"},
            {"NIC_ID": "0", "TARGET": "fl-a", "MAC": "02:00:0a:00:00:01"},
            {"NIC_ID": "3", "NETWORK": "elsewhere", "MAC": "02:00:0a:00:03:01"},
            {"NIC_ID": "1", "TARGET": "fl-b", "MAC": "02:00:0a:00:01:01"},
        ],
        "NIC_ALIAS": [
            {"PARENT": "NIC0", "IP": "10.0.0.9", "MAC": "02:00:0a:00:00:09"},
            {"PARENT": "NIC1", "IP": "10.1.0.9", "TARGET": "fl-alias"},
        ],
        "CONTEXT": {"NETWORK": "YES"},
    });
    d.create(spec("three", template, false)).unwrap();
    let args = host.0.borrow().spawns[0].clone();
    let expected: Vec<(String, String)> = [
        tap(0, "fl-a", "02:00:0a:00:00:01"),
        tap(1, "fl-b", "02:00:0a:00:01:01"),
        tap(2, "fl-c", "02:00:0a:00:02:01"),
    ]
    .concat();
    assert_eq!(nic_args(&args), expected);
    assert_eq!(granted_by_the_generated_grant(&dir.0, &args), Ok(()));

    // An alias alone, with OneGate: one tap, then the OneGate NIC.
    let alias = json!({
        "MEMORY": "256",
        "NIC": [{"TARGET": "fl-a", "MAC": "02:00:0a:00:00:01"}],
        "NIC_ALIAS": {"PARENT": "NIC0", "IP": "10.0.0.9"},
        "CONTEXT": onegate_context(),
    });
    d.create(spec("alias", alias, false)).unwrap();
    let args = host.0.borrow().spawns[1].clone();
    let netdevs: Vec<String> = nic_args(&args)
        .into_iter()
        .filter(|(flag, _)| flag == "-netdev")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        netdevs,
        [
            "tap,id=nic0,ifname=fl-a,script=no,downscript=no".to_string(),
            format!("user,id=n0,restrict=on,guestfwd={FWD}")
        ]
    );
    assert_eq!(granted_by_the_generated_grant(&dir.0, &args), Ok(()));

    // NICs without a TARGET, as before: the user network's one NIC.
    let plain = json!({"MEMORY": "256", "NIC": [{"NETWORK": "a"}, {"NETWORK": "b"}]});
    d.create(spec("plain", plain, false)).unwrap();
    let args = host.0.borrow().spawns[2].clone();
    assert_eq!(
        nic_args(&args),
        [
            nic_pair("-netdev", "user,id=n0,restrict=on"),
            nic_pair("-device", "virtio-net-pci,netdev=n0")
        ]
    );
}

#[test]
fn a_bad_target_or_mac_refuses_the_vm_naming_the_nic() {
    let (dir, host, mut d) = setup();
    let good = json!({"TARGET": "fl-a", "MAC": "02:00:0a:00:00:01"});
    let cases = [
        (
            json!({"TARGET": "fl-a,script=/bin/sh", "MAC": "02:00:0a:00:00:02"}),
            "NIC[1].TARGET: `fl-a,script=/bin/sh` is not a network device name",
        ),
        (
            json!({"TARGET": "fl-0123456789abc", "MAC": "02:00:0a:00:00:02"}),
            "NIC[1].TARGET: `fl-0123456789abc` is not a network device name",
        ),
        (
            json!({"TARGET": "../tap", "MAC": "02:00:0a:00:00:02"}),
            "NIC[1].TARGET: `../tap` is not",
        ),
        (
            json!({"TARGET": "eth0", "MAC": "02:00:0a:00:00:02"}),
            "NIC[1].TARGET: `eth0` does not start with a tap prefix (tap_prefixes: fl-)",
        ),
        (
            json!({"TARGET": "fl-b", "MAC": "01:00:5e:00:00:01"}),
            "NIC[1].MAC: `01:00:5e:00:00:01` is not a unicast MAC address",
        ),
        (
            json!({"TARGET": "fl-b", "MAC": "02:00:0a:00:00"}),
            "NIC[1].MAC: `02:00:0a:00:00` is not",
        ),
        (
            json!({"TARGET": "fl-b", "MAC": "02:00:0a:00:00:02,romfile=/x"}),
            "NIC[1].MAC: `02:00:0a:00:00:02,romfile=/x` is not",
        ),
        (
            json!({"TARGET": "fl-b", "MAC": "00:00:00:00:00:00"}),
            "NIC[1].MAC: `00:00:00:00:00:00` is not",
        ),
        (
            json!({"TARGET": "fl-b"}),
            "NIC[1].MAC: missing: NIC 1 has a TARGET (`fl-b`)",
        ),
        (
            json!({"TARGET": "fl-b", "MAC": "02:00:0A:00:00:01"}),
            "NIC[1].MAC: `02:00:0a:00:00:01` is also NIC[0]'s",
        ),
        (
            json!({"TARGET": "fl-a", "MAC": "02:00:0a:00:00:02"}),
            "NIC[1].TARGET: `fl-a` is also NIC[0]'s",
        ),
        (
            json!({"NIC_ID": "0", "TARGET": "fl-b", "MAC": "02:00:0a:00:00:02"}),
            "NIC[1].NIC_ID: `0` is also NIC[0]'s",
        ),
        (
            json!({"NIC_ID": "-1", "TARGET": "fl-b", "MAC": "02:00:0a:00:00:02"}),
            "NIC[1].NIC_ID: `-1` is not a whole number",
        ),
        (
            json!({"TARGET": ["fl-b"], "MAC": "02:00:0a:00:00:02"}),
            "NIC[1].TARGET: must be a value",
        ),
    ];
    for (second, reason) in cases {
        let template = json!({"MEMORY": "256", "NIC": [good.clone(), second.clone()]});
        match d.create(spec("bad-nic", template, false)) {
            Err(Error::InvalidInput(m)) => assert!(m.starts_with(reason), "{second}: {m}"),
            other => panic!("{second}: {other:?}"),
        }
    }
    let nine: Vec<Value> = (0..9)
        .map(|i| json!({"TARGET": format!("fl-{i}"), "MAC": format!("02:00:0a:00:00:1{i}")}))
        .collect();
    match d.create(spec("nine", json!({"NIC": nine}), false)) {
        Err(Error::InvalidInput(m)) => assert!(m.starts_with("NIC: more than 8"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Without tap prefixes configured, no NIC gets a tap.
    host.w().config.remove("tap_prefixes");
    match d.create(spec("no-prefix", json!({"NIC": good}), false)) {
        Err(Error::InvalidInput(m)) => {
            assert!(
                m.starts_with(
                    "NIC.TARGET: `fl-a` does not start with a tap prefix (none is configured"
                ),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(host.0.borrow().spawns.is_empty(), "no QEMU started");
    assert!(
        !fs::exists(format!("{}/next_id", dir.0)).unwrap(),
        "no VM made"
    );
}

#[test]
fn the_generated_grant_refuses_a_tap_with_other_options() {
    let (dir, host, mut d) = setup();
    let template = json!({
        "MEMORY": "256",
        "NIC": {"TARGET": "fl-a", "MAC": "02:00:0a:00:00:01"},
        "CONTEXT": onegate_context(),
    });
    d.create(spec("tap", template, false)).unwrap();
    let args = host.0.borrow().spawns[0].clone();
    assert_eq!(granted_by_the_generated_grant(&dir.0, &args), Ok(()));
    let netdev = "tap,id=nic0,ifname=fl-a,script=no,downscript=no";
    let device = "virtio-net-pci,netdev=nic0,mac=02:00:0a:00:00:01";
    for (granted, forged) in [
        (
            netdev,
            "tap,id=nic0,ifname=fl-a,script=/bin/sh,downscript=no",
        ),
        (
            netdev,
            "tap,id=nic0,ifname=fl-a,script=no,downscript=/bin/sh",
        ),
        (
            netdev,
            "tap,id=nic0,ifname=fl-a,script=no,downscript=no,vhost=on",
        ),
        (
            netdev,
            "tap,id=nic0,ifname=fl-a,fd=3,script=no,downscript=no",
        ),
        (netdev, "tap,id=nic0,fd=3"),
        (netdev, "tap,id=nic0,ifname=eth0,script=no,downscript=no"),
        (netdev, "tap,id=n0,ifname=fl-a,script=no,downscript=no"),
        (netdev, "bridge,id=nic0,br=br0"),
        (
            device,
            "virtio-net-pci,netdev=nic0,mac=02:00:0a:00:00:01,romfile=/x",
        ),
        (device, "virtio-net-pci,netdev=n0,mac=02:00:0a:00:00:01"),
        (device, "e1000,netdev=nic0,mac=02:00:0a:00:00:01"),
    ] {
        let at = args.iter().position(|a| a == granted).unwrap();
        let mut changed = args.clone();
        changed[at] = forged.to_string();
        assert!(
            granted_by_the_generated_grant(&dir.0, &changed).is_err(),
            "{forged} is granted"
        );
    }
}
