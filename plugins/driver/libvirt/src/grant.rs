//! The operator's grant for this driver, written from the same lists the
//! driver's command lines come from (`crate::virsh::COMMANDS`, the
//! transports' URI patterns): the `[plugins.libvirt]` block of
//! flotilla.toml. Pure.

use crate::settings::{ConfigError, Settings, Transport};
use crate::virsh::COMMANDS;
use flotilla_model::FieldError;

/// What the grant is written for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    /// The read-write state directory (`dirs`, `{state}`): records and
    /// the domain XML files virsh reads.
    pub state_dir: String,
    /// How virsh may reach hosts.
    pub transports: Vec<Transport>,
    /// virsh's absolute path on this machine.
    pub virsh: String,
    /// Further `[plugins.libvirt.config]` values (`kernel`, `accel`, …),
    /// checked as the driver checks them.
    pub config: Vec<(String, String)>,
}

/// virsh's argument groups: `-q`, `-c` with each URI pattern, each
/// command with its arguments, and a lone domain name (`domstats` asks
/// about several domains at once).
pub fn virsh_groups(settings: &Settings) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = vec![vec!["-q".into()]];
    for pattern in settings.uri_patterns() {
        groups.push(vec!["-c".into(), pattern]);
    }
    for command in COMMANDS {
        groups.push(command.iter().map(|s| s.to_string()).collect());
    }
    groups.push(vec!["flotilla-*".into()]);
    groups
}

impl GrantRequest {
    /// The driver's configuration this grant goes with, checked as the
    /// driver will check it.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        if !self.virsh.starts_with('/') {
            return Err(ConfigError::Value(FieldError::new(
                "--virsh",
                format!("`{}` must be an absolute path", self.virsh),
            )));
        }
        let transports = self
            .transports
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(",");
        Settings::read(|key| match key {
            "state_dir" => Some(self.state_dir.clone()),
            "transports" => Some(transports.clone()),
            other => self
                .config
                .iter()
                .find(|(k, _)| k == other)
                .map(|(_, v)| v.clone()),
        })
    }

    /// The `[plugins.libvirt]` block.
    pub fn toml(&self) -> Result<String, ConfigError> {
        let s = self.settings()?;
        let mut config = vec![
            ("state_dir".to_string(), s.state_dir.clone()),
            (
                "transports".to_string(),
                s.transports
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ];
        for (k, v) in &self.config {
            if k != "state_dir" && k != "transports" {
                config.push((k.clone(), v.clone()));
            }
        }
        let mut out = String::new();
        out.push_str(
            "# The libvirt driver's grant, written by `flotilla plugin grant libvirt`: the\n\
             # state directory (read-write, {state}: records and the domain XML virsh\n\
             # reads) and virsh's argument groups: -q, -c with the hosts' URIs, and the\n\
             # commands the driver runs, on domains named flotilla-* only.\n",
        );
        out.push_str("[plugins.libvirt]\n");
        out.push_str(&format!("dirs = [{}]\n", quote(&s.state_dir)));
        out.push_str(&format!(
            "config = {{ {} }}\n",
            config
                .iter()
                .map(|(k, v)| format!("{k} = {}", quote(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        out.push_str(&format!(
            "\n[plugins.libvirt.exec.{}]\nargs = [\n",
            quote(&self.virsh)
        ));
        for group in virsh_groups(&s) {
            let items: Vec<String> = group.iter().map(|a| quote(a)).collect();
            out.push_str(&format!("    [{}],\n", items.join(", ")));
        }
        out.push_str("]\n");
        Ok(out)
    }
}

/// A TOML basic string: JSON's string escapes are TOML's.
fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virsh;
    use flotilla_model::pattern::{STATE_DIR, glob, match_groups};

    /// The example of README.md.
    fn example() -> GrantRequest {
        GrantRequest {
            state_dir: "/var/lib/flotilla/libvirt".into(),
            transports: vec![Transport::Tcp, Transport::Ssh],
            virsh: "/usr/bin/virsh".into(),
            config: Vec::new(),
        }
    }

    #[test]
    fn the_readme_grant_is_the_derived_one() {
        let readme = include_str!("../README.md");
        let grant = example().toml().unwrap();
        assert!(
            readme.contains(&grant),
            "README.md's grant should be:\n{grant}"
        );
    }

    /// Every command line the driver makes is a run of the grant's
    /// groups; others are not.
    #[test]
    fn the_drivers_command_lines_are_granted_and_others_are_not() {
        let s = example().settings().unwrap();
        let groups = virsh_groups(&s);
        let state = &s.state_dir;
        let matches = |p: &str, a: &str| glob(&p.replace(STATE_DIR, state), a);
        let granted = |args: Vec<String>| match_groups(&groups, &args, matches).is_ok();
        let uri = "qemu+tcp://10.77.0.11/system";
        let d = "flotilla-7-web-0123456789ab";
        let xml = format!("{state}/domains/{d}.xml");
        for command in [
            vec!["define", xml.as_str()],
            vec!["start", d],
            vec!["destroy", d],
            vec!["undefine", d],
            vec!["domstate", d],
            vec!["list", "--all"],
            vec!["list", "--all", "--name"],
            vec!["domstats", "--state", "--cpu-total", "--balloon", d, d],
            vec!["nodeinfo"],
        ] {
            assert!(granted(virsh::args(uri, &command)), "{command:?}");
        }
        assert!(granted(virsh::args(
            "qemu+ssh://root@node-1/system",
            &["nodeinfo"]
        )));
        for (u, command) in [
            (uri, vec!["undefine", "web-db"]),
            (uri, vec!["define", "/etc/passwd"]),
            (uri, vec!["start", "flotilla-a;shutdown"]),
            (uri, vec!["qemu-monitor-command", d, "info"]),
            ("qemu+tcp://h/system?command=sh", vec!["nodeinfo"]),
            ("qemu+tls://h/system", vec!["nodeinfo"]),
            ("qemu:///system", vec!["nodeinfo"]),
        ] {
            assert!(!granted(virsh::args(u, &command)), "{u} {command:?}");
        }
    }

    #[test]
    fn a_relative_virsh_or_a_bad_config_is_refused() {
        let relative = GrantRequest {
            virsh: "virsh".into(),
            ..example()
        };
        assert!(
            relative
                .toml()
                .unwrap_err()
                .to_string()
                .starts_with("--virsh:")
        );
        let bad = GrantRequest {
            config: vec![("accel".into(), "hvf".into())],
            ..example()
        };
        assert!(bad.toml().unwrap_err().to_string().starts_with("accel:"));
    }
}
