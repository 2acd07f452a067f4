//! The driver: VMs as QEMU processes, their state in files, their control
//! through QMP. Everything it asks of the host goes through [`Host`]. Its
//! logic is split by concern into the modules below, each adding methods
//! to [`QemuDriver`]; this module holds the driver's state and its entry
//! points, the calls of the `Driver` interface.

mod actions;
mod create;
mod disks;
mod exchange;
mod observe;
mod supervise;
mod terminate;

use crate::host::Host;
use crate::monitor::Sample;
use crate::settings::Settings;
use flotilla_plugin_sdk::driver::*;
use std::collections::HashMap;
use supervise::Starting;

pub const DESCRIPTION: &str =
    "Runs each VM as a QEMU process on this host (TCG, or KVM when /dev/kvm works), through QMP";

pub struct QemuDriver<H: Host> {
    host: H,
    /// The previous CPU sample of each VM, for the CPU percentage.
    cpu: HashMap<String, Sample>,
}

impl<H: Host> QemuDriver<H> {
    pub fn with_host(host: H) -> Self {
        QemuDriver {
            host,
            cpu: HashMap::new(),
        }
    }

    fn settings(&self) -> Result<Settings, Error> {
        Settings::from_lookup(|k| self.host.config(k))
    }

    fn now(&self) -> u64 {
        self.host.now_ms()
    }
}

impl<H: Host + Default + 'static> Driver for QemuDriver<H> {
    fn new() -> Self {
        QemuDriver::with_host(H::default())
    }

    fn info(&self) -> PluginInfo {
        PluginInfo::new("qemu", env!("CARGO_PKG_VERSION"), DESCRIPTION)
    }

    fn create(&mut self, spec: VmSpec) -> Result<String, Error> {
        self.create_vm(spec, Starting::Alone)
    }

    fn create_many(&mut self, specs: Vec<VmSpec>) -> Vec<Result<String, Error>> {
        self.create_batch(specs)
    }

    fn act(&mut self, vm_id: String, action: VmAction, args: Vec<KeyValue>) -> Result<(), Error> {
        self.act_on(&vm_id, action, &args)
    }

    fn poll(&mut self, vm_ids: Vec<String>) -> Result<Vec<VmStatus>, Error> {
        self.poll_vms(vm_ids)
    }

    fn list(&mut self) -> Result<Vec<ManagedVm>, Error> {
        self.list_vms()
    }
}
