//! OpenNebula contextualisation: the template's CONTEXT as `context.sh`
//! (`KEY='value'` lines the guest sources), on a read-only FAT drive, with
//! OneGate made reachable from QEMU's user network. Pure.

use serde::{Deserialize, Serialize};

/// Where the guest reaches OneGate: an address of QEMU's user network
/// (10.0.2.0/24) that `guestfwd` connects to the host's loopback.
pub const GUEST_ONEGATE_ADDR: &str = "10.0.2.100";

/// OneGate's port as the guest dials it and as the host listens on it
/// (loopback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    pub guest_port: u16,
    pub host_port: u16,
}

impl Forward {
    /// The `guestfwd=` value of the user netdev. A `cmd:` relay, one per
    /// connection: the `tcp:` form connects once when QEMU starts and
    /// carries only the first of the guest's connections.
    pub fn guestfwd(&self) -> String {
        format!(
            "tcp:{GUEST_ONEGATE_ADDR}:{}-cmd:socat STDIO TCP:127.0.0.1:{}",
            self.guest_port, self.host_port
        )
    }
}

/// `KEY='value'`, safe to source: inside single quotes only `'` is
/// special, written `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// An `http://host[:port][/path]` URL split, host lower-cased.
fn split_http(url: &str) -> Option<(String, u16, &str)> {
    let rest = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..])?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok().filter(|p| *p > 0)?),
        None => (authority, 80),
    };
    Some((host.to_ascii_lowercase(), port, path))
}

/// The endpoint the guest is given for OneGate, and the forward that
/// makes it reach the host's loopback. A loopback endpoint
/// (`http://127.0.0.1:<port>`, `localhost`, `0.0.0.0`) is rewritten to
/// `http://10.0.2.100:<port>` forwarded to `127.0.0.1:<port>`. Another
/// http endpoint is rewritten the same way only when `onegate_port` (the
/// loopback port OneGate listens on) is configured; otherwise it is left
/// alone (`None`): the guest's restricted user network cannot reach it.
pub fn onegate_forward(endpoint: &str, onegate_port: Option<u16>) -> Option<(String, Forward)> {
    let (host, port, path) = split_http(endpoint.trim())?;
    let loopback = matches!(host.as_str(), "127.0.0.1" | "localhost" | "0.0.0.0");
    let host_port = if loopback { port } else { onegate_port? };
    let forward = Forward {
        guest_port: port,
        host_port,
    };
    Some((format!("http://{GUEST_ONEGATE_ADDR}:{port}{path}"), forward))
}

/// What goes on the context drive, and the forward OneGate needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// `context.sh`.
    pub script: String,
    /// `token.txt` (ONEGATE_TOKEN), as OpenNebula writes it.
    pub token: Option<String>,
    pub onegate: Option<Forward>,
}

/// The context of VM `vm_id` from the template's CONTEXT pairs: a
/// repeated key keeps its last value, `VMID` is the VM's id (OneGate
/// checks `X-ONEGATE-VMID` against it) and a loopback ONEGATE_ENDPOINT is
/// rewritten (see [`onegate_forward`]).
pub fn build(pairs: &[(String, String)], vm_id: &str, onegate_port: Option<u16>) -> Context {
    let mut vars: Vec<(String, String)> = Vec::with_capacity(pairs.len() + 1);
    let mut set = |key: &str, value: String| match vars.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => vars.push((key.to_string(), value)),
    };
    for (key, value) in pairs {
        set(key, value.clone());
    }
    set("VMID", vm_id.to_string());
    let mut onegate = None;
    if let Some(slot) = vars.iter_mut().find(|(k, _)| k == "ONEGATE_ENDPOINT")
        && let Some((endpoint, forward)) = onegate_forward(&slot.1, onegate_port)
    {
        slot.1 = endpoint;
        onegate = Some(forward);
    }
    let token = vars
        .iter()
        .find(|(k, _)| k == "ONEGATE_TOKEN")
        .map(|(_, v)| v.clone());
    let mut script =
        format!("# Context variables of VM {vm_id}, written by Flotilla's qemu driver\n");
    for (key, value) in &vars {
        script.push_str(key);
        script.push('=');
        script.push_str(&shell_quote(value));
        script.push('\n');
    }
    Context {
        script,
        token,
        onegate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_are_single_quoted_for_sh() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("''"), r"''\'''\'''");
        assert_eq!(
            shell_quote("$(reboot) `id` \"x\" \\n"),
            "'$(reboot) `id` \"x\" \\n'"
        );
        assert_eq!(shell_quote("two\nlines"), "'two\nlines'");
    }

    #[test]
    fn context_sh_has_every_pair_and_the_vm_id() {
        let c = build(
            &pairs(&[
                ("NETWORK", "YES"),
                ("MOTD", "it's up"),
                ("VMID", "7"),
                ("BURN_CPU", "1"),
                ("NETWORK", "NO"),
            ]),
            "q3",
            None,
        );
        assert_eq!(
            c.script,
            "# Context variables of VM q3, written by Flotilla's qemu driver\n\
             NETWORK='NO'\n\
             MOTD='it'\\''s up'\n\
             VMID='q3'\n\
             BURN_CPU='1'\n"
        );
        assert_eq!((c.token, c.onegate), (None, None));
    }

    #[test]
    fn a_loopback_onegate_endpoint_is_forwarded() {
        let c = build(
            &pairs(&[
                ("ONEGATE_ENDPOINT", "http://127.0.0.1:5030"),
                ("ONEGATE_TOKEN", "tok"),
            ]),
            "q1",
            None,
        );
        assert!(
            c.script
                .contains("ONEGATE_ENDPOINT='http://10.0.2.100:5030'\n"),
            "{}",
            c.script
        );
        assert!(c.script.contains("ONEGATE_TOKEN='tok'\n"));
        assert_eq!(c.token.as_deref(), Some("tok"));
        let fwd = c.onegate.unwrap();
        assert_eq!(
            fwd.guestfwd(),
            "tcp:10.0.2.100:5030-cmd:socat STDIO TCP:127.0.0.1:5030"
        );

        let (endpoint, fwd) = onegate_forward("HTTP://LocalHost:8080/base/", None).unwrap();
        assert_eq!(endpoint, "http://10.0.2.100:8080/base/");
        assert_eq!((fwd.guest_port, fwd.host_port), (8080, 8080));
        let (endpoint, _) = onegate_forward("http://0.0.0.0", None).unwrap();
        assert_eq!(endpoint, "http://10.0.2.100:80");
    }

    #[test]
    fn other_endpoints_are_forwarded_only_to_a_configured_port() {
        assert_eq!(onegate_forward("http://gate.example:5030", None), None);
        let (endpoint, fwd) = onegate_forward("http://gate.example:5030/", Some(5031)).unwrap();
        assert_eq!(endpoint, "http://10.0.2.100:5030/");
        assert_eq!(
            fwd.guestfwd(),
            "tcp:10.0.2.100:5030-cmd:socat STDIO TCP:127.0.0.1:5031"
        );
        for not_forwarded in [
            "https://127.0.0.1:5030",
            "http://127.0.0.1:0",
            "http://127.0.0.1:port",
            "http://user@127.0.0.1:5030",
            "http://",
            "127.0.0.1:5030",
        ] {
            assert_eq!(
                onegate_forward(not_forwarded, Some(5030)),
                None,
                "{not_forwarded}"
            );
        }
        let c = build(
            &pairs(&[("ONEGATE_ENDPOINT", "https://gate:443")]),
            "q2",
            None,
        );
        assert!(c.script.contains("ONEGATE_ENDPOINT='https://gate:443'\n"));
        assert_eq!(c.onegate, None);
    }
}
