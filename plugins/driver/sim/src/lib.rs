//! The driver for Flotilla's simulated hypervisor.
//!
//! It reaches the hypervisor only over `wasi:http`, through the host's
//! allow-list, exactly as a driver for a real hypervisor API would. The
//! endpoint comes from the plugin's configuration (`endpoint`).

use flotilla_plugin_sdk::driver::*;
use flotilla_plugin_sdk::{config, http};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:2475";

pub struct SimDriver {
    endpoint: String,
}

#[derive(Serialize)]
struct CreateBody<'a> {
    operation_id: &'a str,
    service_id: u64,
    role_name: &'a str,
    name: &'a str,
    template: serde_json::Value,
    hold: bool,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Serialize)]
struct ActionBody<'a> {
    action: &'a str,
    args: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
struct PollBody<'a> {
    ids: &'a [String],
}

#[derive(Deserialize)]
struct Polled {
    vms: Vec<PolledVm>,
}

#[derive(Deserialize)]
struct PolledVm {
    id: String,
    state: String,
    #[serde(default)]
    monitoring: BTreeMap<String, f64>,
    #[serde(default)]
    user_attributes: BTreeMap<String, String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct Listed {
    vms: Vec<ListedVm>,
}

#[derive(Deserialize)]
struct ListedVm {
    id: String,
    operation_id: String,
    name: String,
    service_id: u64,
    role_name: String,
    state: String,
}

#[derive(Deserialize)]
struct ApiError {
    error: String,
}

impl SimDriver {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.endpoint, path)
    }

    /// Map a non-2xx answer of the hypervisor to an error.
    fn check(response: http::Response) -> Result<http::Response, Error> {
        if response.is_success() {
            return Ok(response);
        }
        let message = response
            .json::<ApiError>()
            .map(|e| e.error)
            .unwrap_or_else(|_| response.text());
        Err(match response.status {
            400 | 422 => Error::InvalidInput(message),
            404 => Error::NotFound(message),
            409 => Error::Denied(message),
            500..=599 => Error::Unavailable(message),
            _ => Error::Other(format!("HTTP {}: {message}", response.status)),
        })
    }
}

fn parse_state(name: &str) -> Result<VmState, Error> {
    VmState::parse(name).ok_or_else(|| Error::Other(format!("unknown VM state `{name}`")))
}

impl Driver for SimDriver {
    fn new() -> Self {
        let endpoint = config("endpoint").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        SimDriver {
            endpoint: endpoint.trim_end_matches('/').to_string(),
        }
    }

    fn info(&self) -> PluginInfo {
        PluginInfo::new(
            "sim",
            env!("CARGO_PKG_VERSION"),
            "Drives the simulated hypervisor over its HTTP API",
        )
    }

    fn create(&mut self, spec: VmSpec) -> Result<String, Error> {
        let template: serde_json::Value = serde_json::from_str(&spec.template)
            .map_err(|e| Error::InvalidInput(format!("template: not JSON: {e}")))?;
        if !template.is_object() {
            return Err(Error::InvalidInput(
                "template: must be a JSON object".into(),
            ));
        }
        if spec.operation_id.is_empty() {
            return Err(Error::InvalidInput(
                "operation-id: must not be empty".into(),
            ));
        }
        let body = CreateBody {
            operation_id: &spec.operation_id,
            service_id: spec.service_id,
            role_name: &spec.role_name,
            name: &spec.vm_name,
            template,
            hold: spec.hold,
        };
        let response = Self::check(http::post_json(&self.url("/vms"), &body)?)?;
        Ok(response.json::<Created>()?.id)
    }

    fn act(&mut self, vm_id: String, action: VmAction, args: Vec<KeyValue>) -> Result<(), Error> {
        let body = ActionBody {
            action: action.as_str(),
            args: args
                .iter()
                .map(|kv| (kv.key.as_str(), kv.value.as_str()))
                .collect(),
        };
        let url = self.url(&format!("/vms/{vm_id}/action"));
        Self::check(http::post_json(&url, &body)?)?;
        Ok(())
    }

    fn poll(&mut self, vm_ids: Vec<String>) -> Result<Vec<VmStatus>, Error> {
        let response = Self::check(http::post_json(
            &self.url("/vms/poll"),
            &PollBody { ids: &vm_ids },
        )?)?;
        let polled: Polled = response.json()?;
        polled
            .vms
            .into_iter()
            .map(|vm| {
                Ok(VmStatus {
                    state: parse_state(&vm.state)?,
                    id: vm.id,
                    monitoring: vm
                        .monitoring
                        .into_iter()
                        .map(|(name, value)| Metric { name, value })
                        .collect(),
                    user_attributes: vm
                        .user_attributes
                        .into_iter()
                        .map(|(key, value)| KeyValue { key, value })
                        .collect(),
                    reason: vm.reason,
                })
            })
            .collect()
    }

    fn list(&mut self) -> Result<Vec<ManagedVm>, Error> {
        let response = Self::check(http::get(&self.url("/vms"))?)?;
        let listed: Listed = response.json()?;
        listed
            .vms
            .into_iter()
            .map(|vm| {
                Ok(ManagedVm {
                    state: parse_state(&vm.state)?,
                    id: vm.id,
                    operation_id: vm.operation_id,
                    name: vm.name,
                    service_id: vm.service_id,
                    role_name: vm.role_name,
                })
            })
            .collect()
    }
}

flotilla_plugin_sdk::export_driver!(SimDriver);
