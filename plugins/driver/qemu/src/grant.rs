//! The operator's grant for this driver, written from the same functions
//! that build its command lines (`crate::args`): the `[plugins.qemu]`
//! block of flotilla.toml that `flotilla plugin grant qemu` prints. Pure.

use crate::args::{QEMU, QEMU_IMG, qemu_groups, qemu_img_groups};
use crate::context::Forward;
use crate::settings::{Accel, ConfigError, DEFAULT_APPEND, Settings};
use crate::template::KernelBoot;
use flotilla_model::FieldError;

/// What the grant is written for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    /// The read-write state directory (`dirs`, `{state}`).
    pub state_dir: String,
    /// The read-only directories disks come from (`image_dirs`, `{image}`).
    pub image_dirs: Vec<String>,
    /// The kernel and initrd a VM without DISK boots.
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub accel: Accel,
    /// The loopback port OneGate listens on: the guests' forward to it.
    pub onegate_port: Option<u16>,
    /// The name prefixes of the tap devices the host's network plumbing
    /// makes (the prefixes its own grant has): NICs attach to those only.
    pub tap_prefixes: Vec<String>,
    /// The programs' absolute paths on this host.
    pub qemu: String,
    pub qemu_img: String,
}

impl GrantRequest {
    /// The driver's configuration this grant goes with, checked as the
    /// driver will check it (a state directory too long for QMP's socket,
    /// image directories that overlap it, relative paths).
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        // The configuration lists them comma-separated: a comma inside one
        // would read as two.
        if let Some(p) = self.tap_prefixes.iter().find(|p| p.contains(',')) {
            return Err(ConfigError::Value(FieldError::new(
                "--tap-prefix",
                format!("`{p}` is not the start of a network device name (it has a `,`)"),
            )));
        }
        let image_dirs = self.image_dirs.join(",");
        let tap_prefixes = self.tap_prefixes.join(",");
        let accel = self.accel.as_str().to_string();
        let s = Settings::read(|key| match key {
            "state_dir" => Some(self.state_dir.clone()),
            "image_dirs" => Some(image_dirs.clone()),
            "kernel" => self.kernel.clone(),
            "initrd" => self.initrd.clone(),
            "accel" => Some(accel.clone()),
            "tap_prefixes" => Some(tap_prefixes.clone()),
            _ => None,
        })
        .map_err(|e| match e {
            // Named as the command's options are: `image_dirs` is
            // `--image-dir`, `tap_prefixes` `--tap-prefix`.
            ConfigError::Value(e) => ConfigError::Value(FieldError::new(
                format!(
                    "--{}",
                    e.field
                        .replace("_dirs", "_dir")
                        .replace("_prefixes", "_prefix")
                        .replace('_', "-")
                ),
                e.reason,
            )),
            other => other,
        })?;
        for (what, path) in [("qemu", &self.qemu), ("qemu-img", &self.qemu_img)] {
            if !path.starts_with('/') {
                return Err(ConfigError::Value(FieldError::new(
                    what,
                    format!("`{path}` must be an absolute path"),
                )));
            }
        }
        if self.initrd.is_some() && self.kernel.is_none() {
            return Err(ConfigError::Value(FieldError::new(
                "initrd",
                "given without a kernel",
            )));
        }
        Ok(s)
    }

    /// The `[plugins.qemu]` block: the directories, the driver's config
    /// and both programs with their argument groups.
    pub fn toml(&self) -> Result<String, ConfigError> {
        let s = self.settings()?;
        let boots: Vec<KernelBoot> = s
            .kernel
            .iter()
            .map(|kernel| KernelBoot {
                kernel: kernel.clone(),
                initrd: s.initrd.clone(),
                append: DEFAULT_APPEND.to_string(),
            })
            .collect();
        let onegate: Vec<String> = self
            .onegate_port
            .map(|port| {
                Forward {
                    guest_port: port,
                    host_port: port,
                }
                .guestfwd()
            })
            .into_iter()
            .collect();
        let mut config = vec![
            ("state_dir", s.state_dir.clone()),
            ("image_dirs", s.image_dirs.join(",")),
        ];
        if let Some(kernel) = &s.kernel {
            config.push(("kernel", kernel.clone()));
        }
        if let Some(initrd) = &s.initrd {
            config.push(("initrd", initrd.clone()));
        }
        if s.accel != Accel::Tcg {
            config.push(("accel", s.accel.as_str().to_string()));
        }
        if !s.tap_prefixes.is_empty() {
            config.push(("tap_prefixes", s.tap_prefixes.join(",")));
        }
        let mut out = String::new();
        out.push_str(
            "# The qemu driver's grant, written by `flotilla plugin grant qemu`: the state\n\
             # directory (read-write, {state}), the image directories disks come from\n\
             # (read-only, {image}), and each program's argument groups: an option with\n\
             # its values, matched in place. Make the driver the engine's with\n\
             # [engine] driver = \"qemu\".\n",
        );
        out.push_str("[plugins.qemu]\n");
        out.push_str(&format!("dirs = [{}]\n", quote(&s.state_dir)));
        out.push_str(&format!(
            "image_dirs = [{}]\n",
            s.image_dirs
                .iter()
                .map(|d| quote(d))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        out.push_str(&format!(
            "config = {{ {} }}\n",
            config
                .iter()
                .map(|(k, v)| format!("{k} = {}", quote(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let qemu = qemu_groups(s.accel.as_str(), &boots, &onegate, &s.tap_prefixes);
        for (program, groups) in [(&self.qemu, qemu), (&self.qemu_img, qemu_img_groups())] {
            out.push_str(&format!(
                "\n[plugins.qemu.exec.{}]\nargs = [\n",
                quote(program)
            ));
            for group in groups {
                let items: Vec<String> = group.iter().map(|a| quote(a)).collect();
                out.push_str(&format!("    [{}],\n", items.join(", ")));
            }
            out.push_str("]\n");
        }
        Ok(out)
    }
}

/// A TOML basic string: JSON's string escapes are TOML's.
fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// The programs by their usual Debian paths.
pub fn default_programs() -> (String, String) {
    (format!("/usr/bin/{QEMU}"), format!("/usr/bin/{QEMU_IMG}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of README.md.
    fn example() -> GrantRequest {
        let (qemu, qemu_img) = default_programs();
        GrantRequest {
            state_dir: "/var/lib/flotilla/qemu".into(),
            image_dirs: vec!["/var/lib/flotilla/images".into()],
            kernel: Some("/var/lib/flotilla/images/vmlinuz".into()),
            initrd: Some("/var/lib/flotilla/images/initrd.img".into()),
            accel: Accel::Tcg,
            onegate_port: Some(5030),
            tap_prefixes: vec!["fb".into()],
            qemu,
            qemu_img,
        }
    }

    /// README.md shows the grant the driver's code derives, line for line.
    #[test]
    fn the_readme_grant_is_the_derived_one() {
        let readme = include_str!("../README.md");
        let grant = example().toml().unwrap();
        assert!(
            readme.contains(&grant),
            "README.md's grant should be:\n{grant}"
        );
    }

    #[test]
    fn the_grant_names_both_kinds_of_directory_and_refuses_overlaps() {
        let grant = example().toml().unwrap();
        assert!(grant.contains("\"-b\", \"{image}/*\", \"{state}/vms/q*/disk*.qcow2\""));
        assert!(grant.contains("image_dirs = \"/var/lib/flotilla/images\""));
        let overlap = GrantRequest {
            image_dirs: vec!["/var/lib/flotilla".into()],
            ..example()
        };
        let err = overlap.toml().unwrap_err().to_string();
        assert!(
            err.starts_with("--image-dir: `/var/lib/flotilla` overlaps"),
            "{err}"
        );
        for bad in ["a,script=/bin/sh", "a b", "fifteen-bytes-x"] {
            let prefix = GrantRequest {
                tap_prefixes: vec!["fl-".into(), bad.into()],
                ..example()
            };
            let err = prefix.toml().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("--tap-prefix: `{bad}` is not")),
                "{err}"
            );
        }
        let relative = GrantRequest {
            qemu: "qemu-system-x86_64".into(),
            ..example()
        };
        assert!(
            relative
                .toml()
                .unwrap_err()
                .to_string()
                .starts_with("qemu:")
        );
    }
}
