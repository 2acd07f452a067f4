//! `flotilla plugin grant qemu|libvirt`: the operator's grant for a
//! plugin that starts host processes, written from the plugin's own
//! command lines for this site's directories, instead of copied by hand.

use super::error::{CliError, Result};
use flotilla_driver_qemu::grant::{GrantRequest, default_programs};
use flotilla_driver_qemu::settings::Accel;
use std::path::PathBuf;
use std::process::ExitCode;

/// Print (or add to flotilla.toml) a plugin's `[plugins.<id>]` grant.
#[derive(clap::Subcommand)]
pub enum GrantCommand {
    /// The qemu driver's grant: its state directory, the image
    /// directories disks come from, and the argument groups of
    /// qemu-system-x86_64 and qemu-img.
    Qemu(QemuGrant),
    /// The libvirt driver's grant: its state directory and virsh's
    /// argument groups (the hosts' URIs of the given transports, the
    /// commands the driver runs on flotilla-* domains).
    Libvirt(LibvirtGrant),
}

#[derive(clap::Args)]
pub struct LibvirtGrant {
    /// The directory the driver's records and domain XML live in
    /// (granted read-write).
    #[arg(long)]
    state_dir: String,
    /// How virsh reaches the hosts: tcp, tls or ssh; repeat for more
    /// (default tcp and ssh).
    #[arg(long = "transport", value_parser = ["tcp", "tls", "ssh"])]
    transports: Vec<String>,
    /// The kernel a VM without DISK boots (its path on the hosts).
    #[arg(long)]
    kernel: Option<String>,
    /// The initrd that goes with --kernel (its path on the hosts).
    #[arg(long)]
    initrd: Option<String>,
    /// A directory on the hosts the domains' serial consoles are logged in.
    #[arg(long)]
    console_dir: Option<String>,
    /// `<name>=<URI>`: the host of VMs whose template has no HOST.
    #[arg(long)]
    default_host: Option<String>,
    /// tcg, or kvm on hosts with /dev/kvm.
    #[arg(long, default_value = "tcg", value_parser = ["tcg", "kvm"])]
    accel: String,
    /// virsh's path.
    #[arg(long, default_value = "/usr/bin/virsh")]
    virsh: String,
    /// Append the block to this flotilla.toml instead of printing it.
    #[arg(long)]
    write: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct QemuGrant {
    /// The directory the VMs' files live in (granted read-write).
    #[arg(long)]
    state_dir: String,
    /// A directory disk images come from (granted read-only); repeat for more.
    #[arg(long = "image-dir", required = true)]
    image_dirs: Vec<String>,
    /// The kernel a VM without DISK boots.
    #[arg(long)]
    kernel: Option<String>,
    /// The initrd that goes with --kernel.
    #[arg(long)]
    initrd: Option<String>,
    /// The loopback port OneGate listens on, forwarded into the guests.
    #[arg(long)]
    onegate_port: Option<u16>,
    /// The name prefix of the tap devices the network plumbing makes for
    /// NICs (as its own grant has it); repeat for more. Without it, no NIC
    /// gets a tap.
    #[arg(long = "tap-prefix")]
    tap_prefixes: Vec<String>,
    /// tcg, or kvm where the server's user can open /dev/kvm.
    #[arg(long, default_value = "tcg", value_parser = ["tcg", "kvm"])]
    accel: String,
    /// qemu-system-x86_64's path.
    #[arg(long)]
    qemu: Option<String>,
    /// qemu-img's path.
    #[arg(long)]
    qemu_img: Option<String>,
    /// Append the block to this flotilla.toml instead of printing it.
    #[arg(long)]
    write: Option<PathBuf>,
}

pub fn run(cmd: GrantCommand) -> Result<ExitCode> {
    match cmd {
        GrantCommand::Qemu(args) => qemu(args),
        GrantCommand::Libvirt(args) => libvirt(args),
    }
}

fn libvirt(args: LibvirtGrant) -> Result<ExitCode> {
    use flotilla_driver_libvirt::grant::GrantRequest;
    use flotilla_driver_libvirt::settings::Transport;
    let mut transports: Vec<Transport> = args
        .transports
        .iter()
        .filter_map(|t| Transport::parse(t))
        .collect();
    if transports.is_empty() {
        transports = vec![Transport::Tcp, Transport::Ssh];
    }
    let mut config = Vec::new();
    for (key, value) in [
        ("kernel", args.kernel),
        ("initrd", args.initrd),
        ("console_dir", args.console_dir),
        ("default_host", args.default_host),
        ("accel", Some(args.accel).filter(|a| a != "tcg")),
    ] {
        if let Some(value) = value {
            config.push((key.to_string(), value));
        }
    }
    let request = GrantRequest {
        state_dir: args.state_dir,
        transports,
        virsh: args.virsh,
        config,
    };
    let block = request.toml().map_err(CliError::local)?;
    emit("libvirt", block, args.write)
}

fn qemu(args: QemuGrant) -> Result<ExitCode> {
    let (qemu, qemu_img) = default_programs();
    let request = GrantRequest {
        state_dir: args.state_dir,
        image_dirs: args.image_dirs,
        kernel: args.kernel,
        initrd: args.initrd,
        accel: if args.accel == "kvm" {
            Accel::Kvm
        } else {
            Accel::Tcg
        },
        onegate_port: args.onegate_port,
        tap_prefixes: args.tap_prefixes,
        qemu: args.qemu.unwrap_or(qemu),
        qemu_img: args.qemu_img.unwrap_or(qemu_img),
    };
    let block = request.toml().map_err(CliError::local)?;
    emit("qemu", block, args.write)
}

/// Print the block, or append it to `write` (refusing a file that already
/// grants the plugin, or one the result would not load from).
fn emit(id: &str, block: String, write: Option<PathBuf>) -> Result<ExitCode> {
    // What a server would read: a block it refuses is never printed.
    crate::config::Config::parse(&block).map_err(|e| format!("the grant does not load: {e}"))?;
    let Some(file) = write else {
        out!("{block}");
        return Ok(ExitCode::SUCCESS);
    };
    let current = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(CliError::Local(format!("{}: {e}", file.display()))),
    };
    let existing =
        crate::config::Config::parse(&current).map_err(|e| format!("{}: {e}", file.display()))?;
    if existing.plugins.contains_key(id) {
        return Err(CliError::Local(format!(
            "{}: already grants [plugins.{id}]; remove that block first",
            file.display()
        )));
    }
    let separator = match current.as_str() {
        "" => "",
        text if text.ends_with('\n') => "\n",
        _ => "\n\n",
    };
    let next = format!("{current}{separator}{block}");
    crate::config::Config::parse(&next).map_err(|e| format!("{}: {e}", file.display()))?;
    // Written beside, then renamed: a server reloading meanwhile reads the
    // old file or the new one.
    let tmp = file.with_extension("toml.tmp");
    std::fs::write(&tmp, &next)
        .and_then(|()| std::fs::rename(&tmp, &file))
        .map_err(|e| format!("{}: {e}", file.display()))?;
    outln!("{}: added [plugins.{id}]", file.display());
    Ok(ExitCode::SUCCESS)
}
