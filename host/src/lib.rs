//! Flotilla: an orchestrator of multi-tier VM applications whose
//! hypervisor drivers, elasticity policies and network modes are sandboxed
//! WebAssembly components.

pub mod clock;
pub mod plugin;
pub mod sim;
