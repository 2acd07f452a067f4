//! Hosts of a fleet for the libvirt tests: each a named network namespace
//! on an underlay bridge in the test's own namespace (`netns::isolated`),
//! running its own `libvirtd --listen` (TCP, no auth, on that private
//! underlay) with its own runtime, state, log and config directories (a
//! mount namespace per daemon). [`Guard`] removes them, pass or fail.

use super::netns::ip;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const LIBVIRTD: &str = "/usr/sbin/libvirtd";
pub const VIRSH: &str = "/usr/bin/virsh";
pub const QEMU: &str = "/usr/bin/qemu-system-x86_64";

/// Run `test` with the guest image's directory inside a network
/// namespace of its own (`netns::isolated`); on a machine that cannot run
/// it, say why and pass.
pub fn run_isolated(test: fn(PathBuf)) {
    if let Some(why) = missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let img = super::guest_image();
    super::netns::isolated(move || test(img));
}

/// The driver's grant as `flotilla plugin grant libvirt` writes it (TCP
/// transport, domains booting the test image, consoles logged), with
/// `extra` arguments.
pub fn grant(img: &Path, state: &Path, consoles: &Path, extra: &[&str]) -> String {
    let out = Command::new(super::BIN)
        .args(["plugin", "grant", "libvirt", "--transport", "tcp"])
        .arg("--state-dir")
        .arg(state)
        .arg("--kernel")
        .arg(img.join("vmlinuz"))
        .arg("--initrd")
        .arg(img.join("initrd.img"))
        .arg("--console-dir")
        .arg(consoles)
        .args(extra)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "plugin grant libvirt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Install the libvirt driver (built beside the built-in plugins, not in
/// them) in a server's data directory, as an operator places it.
pub fn install_driver(data: &Path) {
    let plugins = data.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let dist = flotilla::plugin::builtin::dist_path("libvirt");
    for ext in ["wasm", "toml"] {
        std::fs::copy(
            dist.with_extension(ext),
            plugins.join(format!("libvirt.{ext}")),
        )
        .unwrap();
    }
}

/// Why this machine cannot run the test, if it cannot.
pub fn missing() -> Option<String> {
    // SAFETY: a plain system call.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network and mount namespaces need it)".into());
    }
    for (tool, package) in [
        (LIBVIRTD, "libvirt-daemon-system"),
        (VIRSH, "libvirt-clients"),
        (QEMU, "qemu-system-x86"),
        ("/usr/bin/unshare", "util-linux"),
    ] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is missing (apt-get install {package})"));
        }
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("ip is missing (apt-get install iproute2)".into());
    }
    None
}

/// One host: a named network namespace on the underlay, running its own
/// libvirtd.
pub struct LibvirtHost {
    pub name: String,
    pub netns: String,
    pub addr: String,
    pub dir: PathBuf,
}

impl LibvirtHost {
    pub fn uri(&self) -> String {
        format!("qemu+tcp://{}/system", self.addr)
    }

    pub fn daemon_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("libvirtd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// Removes everything the test made when dropped: every process in the
/// hosts' namespaces (libvirtd, the domains' QEMUs) killed, the
/// namespaces deleted (their veths go with them; the bridge and the
/// test's own namespace go when its thread ends), the files removed.
pub struct Guard {
    pub namespaces: Vec<String>,
    /// The daemons' launchers (`ip netns exec` becomes libvirtd), reaped.
    pub daemons: Vec<std::process::Child>,
    pub _dir: tempfile::TempDir,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            for _ in 0..50 {
                let pids = Command::new("ip")
                    .args(["netns", "pids", ns])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                let pids: Vec<&str> = pids.split_whitespace().collect();
                if pids.is_empty() {
                    break;
                }
                for pid in pids {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        for daemon in &mut self.daemons {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }
}

/// Start libvirtd in `host`'s namespace, in a mount namespace of its own
/// where /run (a tmpfs), /run/libvirt, /var/lib/libvirt, /var/log/libvirt,
/// /var/cache/libvirt and /etc/libvirt are the host's own directories.
pub fn start_daemon(host: &LibvirtHost) -> std::process::Child {
    let d = &host.dir;
    for sub in ["run", "lib", "log", "cache", "etc"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let copied = Command::new("cp")
        .arg("-a")
        .arg("/etc/libvirt/.")
        .arg(d.join("etc"))
        .status()
        .unwrap();
    assert!(copied.success());
    // No network of libvirt's own (the default network would start
    // dnsmasq and touch the firewall).
    let _ = std::fs::remove_dir_all(d.join("etc/qemu/networks/autostart"));
    std::fs::write(
        d.join("etc/libvirtd.conf"),
        format!(
            "listen_tls = 0\nlisten_tcp = 1\nlisten_addr = \"{}\"\nauth_tcp = \"none\"\n\
             auth_unix_rw = \"none\"\nunix_sock_group = \"root\"\n",
            host.addr
        ),
    )
    .unwrap();
    // No virtlogd, cgroups, per-domain namespaces or security labels:
    // none of them works in a bare namespace without systemd.
    std::fs::write(
        d.join("etc/qemu.conf"),
        "stdio_handler = \"file\"\nuser = \"root\"\ngroup = \"root\"\n\
         security_driver = \"none\"\ncgroup_controllers = [ ]\nnamespaces = [ ]\n\
         remember_owner = 0\n",
    )
    .unwrap();
    let dir = d.display();
    let script = format!(
        "set -e; mount -t tmpfs tmpfs /run; mkdir -p /run/libvirt; \
         mount --bind {dir}/run /run/libvirt; mount --bind {dir}/lib /var/lib/libvirt; \
         mount --bind {dir}/log /var/log/libvirt; mount --bind {dir}/cache /var/cache/libvirt; \
         mount --bind {dir}/etc /etc/libvirt; exec {LIBVIRTD} --listen -p {dir}/libvirtd.pid"
    );
    let log = std::fs::File::create(d.join("libvirtd.log")).unwrap();
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &host.netns,
            "unshare",
            "-m",
            "--propagation",
            "private",
        ])
        .args(["sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("ip netns exec starts libvirtd")
}

pub fn virsh(uri: &str, args: &[&str]) -> std::process::Output {
    Command::new(VIRSH)
        .args(["-q", "-c", uri])
        .args(args)
        .output()
        .unwrap()
}

pub fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    ok()
}

/// `n` hosts on the underlay 10.77.0.0/24 (the test's namespace is
/// 10.77.0.1 on the bridge `flvbr0`, host `i` is 10.77.0.1`i` on its
/// `eth0`), their libvirtd answering; `name(i)` names host `i` (from 1).
/// Multicast is flooded on the bridge (no snooping), as VXLAN segments
/// between the hosts need. Call inside `netns::isolated`.
pub fn fleet(
    tag: &str,
    n: usize,
    name: impl Fn(usize) -> String,
) -> (Vec<LibvirtHost>, Guard, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix("flotilla-libvirt-")
        .tempdir()
        .unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let hosts: Vec<LibvirtHost> = (1..=n)
        .map(|i| LibvirtHost {
            name: name(i),
            netns: format!("{tag}h{i}"),
            addr: format!("10.77.0.1{i}"),
            dir: root.join(format!("h{i}")),
        })
        .collect();
    let mut guard = Guard {
        namespaces: hosts.iter().map(|h| h.netns.clone()).collect(),
        daemons: Vec::new(),
        _dir: tmp,
    };
    // The underlay: a bridge in the test's own namespace, each host's
    // namespace on it through a veth pair.
    ip(&["link", "add", "flvbr0", "type", "bridge"]);
    ip(&["addr", "add", "10.77.0.1/24", "dev", "flvbr0"]);
    ip(&[
        "link",
        "set",
        "flvbr0",
        "type",
        "bridge",
        "mcast_snooping",
        "0",
    ]);
    ip(&["link", "set", "flvbr0", "up"]);
    for (i, h) in hosts.iter().enumerate() {
        let veth = uplink(i + 1);
        ip(&["netns", "add", &h.netns]);
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &h.netns,
        ]);
        ip(&["link", "set", &veth, "master", "flvbr0", "up"]);
        ip(&["-n", &h.netns, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &h.netns,
            "addr",
            "add",
            &format!("{}/24", h.addr),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &h.netns, "link", "set", "eth0", "up"]);
        guard.daemons.push(start_daemon(h));
    }
    for h in &hosts {
        let up = wait_until(Duration::from_secs(30), || {
            virsh(&h.uri(), &["nodeinfo"]).status.success()
        });
        assert!(
            up,
            "libvirtd on {} did not answer: {}",
            h.name,
            std::fs::read_to_string(h.dir.join("libvirtd.log")).unwrap_or_default()
        );
    }
    (hosts, guard, root)
}

/// The veth of host `i` (from 1) in the test's namespace: down, the host
/// is cut off the underlay.
pub fn uplink(i: usize) -> String {
    format!("flvh{i}")
}
