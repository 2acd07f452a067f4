//! Types shared by every plugin kind (`flotilla:types@0.1.0`), from
//! `flotilla-model`, the crate the host uses too.

pub use flotilla_model::{KeyValue, Metric, PluginError as Error, PluginInfo, VmState, lookup};
