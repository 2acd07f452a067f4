//! A VM's disks: a qcow2 overlay per DISK on its base image, made with
//! `qemu-img` in the VM's directory before its QEMU first starts (and
//! again when a start failed before they were all made), so the images
//! themselves are never written.

use super::QemuDriver;
use super::supervise::tail;
use crate::args::{self, QEMU_IMG};
use crate::host::Host;
use crate::store::{Store, VmRecord};
use flotilla_plugin_sdk::driver::Error;

const QEMU_IMG_TIMEOUT_MS: u32 = 20_000;

impl<H: Host> QemuDriver<H> {
    /// Make the VM's overlays, one per disk, unless they are made.
    pub(super) fn prepare_disks(&mut self, store: &Store, rec: &mut VmRecord) -> Result<(), Error> {
        if rec.template.disks.is_empty() || rec.disk_ready {
            return Ok(());
        }
        store.remove_overlays(&rec.id)?;
        let vm_dir = store.vm_dir(&rec.id);
        for (i, disk) in rec.template.disks.clone().iter().enumerate() {
            let img_args = args::qemu_img_args(disk.format, &disk.base, &vm_dir, i);
            let out = self.host.run(QEMU_IMG, &img_args, QEMU_IMG_TIMEOUT_MS)?;
            if out.exit_code != 0 {
                return Err(Error::InvalidInput(format!(
                    "DISK[{i}]: qemu-img could not make an overlay on `{}` ({}): {}",
                    disk.base,
                    disk.format.as_str(),
                    tail(&out.output)
                )));
            }
        }
        rec.disk_ready = true;
        store.save(rec)
    }
}
