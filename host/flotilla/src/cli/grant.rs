//! `flotilla plugin grant qemu`: the operator's grant for a built-in
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
    let GrantCommand::Qemu(args) = cmd;
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
    // What a server would read: a block it refuses is never printed.
    crate::config::Config::parse(&block).map_err(|e| format!("the grant does not load: {e}"))?;
    let Some(file) = args.write else {
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
    if existing.plugins.contains_key("qemu") {
        return Err(CliError::Local(format!(
            "{}: already grants [plugins.qemu]; remove that block first",
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
    outln!("{}: added [plugins.qemu]", file.display());
    Ok(ExitCode::SUCCESS)
}
