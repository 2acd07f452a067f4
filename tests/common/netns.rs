//! A network namespace of the test's own, for tests that make bridges,
//! taps and VXLAN devices (and run QEMU on them): nothing they make can
//! touch the machine's interfaces, and the kernel removes every device of
//! the namespace once the last process in it is gone, even when the test
//! fails half-way.

use std::process::Command;

/// Run `f` on a thread of its own inside a fresh network namespace (with
/// `lo` up). Processes the closure starts (the server, `ip`, QEMU) are born
/// inside it; the test's other threads are not. Needs root (CAP_SYS_ADMIN),
/// as CI has.
pub fn isolated<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        // unshare(2) moves only the calling thread: the rest of the test
        // binary stays in the machine's namespace.
        // SAFETY: a plain system call with a constant flag.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {} (these tests need root)",
            std::io::Error::last_os_error()
        );
        ip(&["link", "set", "lo", "up"]);
        f()
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Run `ip` (iproute2) in the calling thread's namespace; panics with its
/// output when it fails.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {}: {e} (is iproute2 installed?)", args.join(" ")));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The names of the namespace's devices other than `lo`.
pub fn devices() -> Vec<String> {
    let listed: serde_json::Value =
        serde_json::from_str(&ip(&["-j", "link", "show"])).expect("ip -j prints JSON");
    listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["ifname"].as_str())
        .filter(|n| *n != "lo")
        .map(str::to_string)
        .collect()
}
