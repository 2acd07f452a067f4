//! The driver for Flotilla's simulated hypervisor.
//!
//! It reaches the hypervisor only over `wasi:http`, through the host's
//! allow-list, exactly as a driver for a real hypervisor API would. The
//! endpoint comes from the plugin's configuration (`endpoint`).
//!
//! It drives a fleet: the hypervisor's hosts are monitored through it
//! ([`Hosts`]), a host's address being the hypervisor's name for it, and
//! a VM placed on a host carries it in its template's `HOST`, which the
//! hypervisor reads itself.

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
struct BatchBody<'a> {
    vms: &'a [CreateBody<'a>],
}

#[derive(Deserialize)]
struct Batch {
    results: Vec<BatchResult>,
}

/// One VM of a batch: the status `POST /vms` would have answered, with
/// the VM's id or the error.
#[derive(Deserialize)]
struct BatchResult {
    status: u16,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    error: Option<String>,
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

#[derive(Serialize)]
struct MonitorBody<'a> {
    names: Vec<&'a str>,
}

#[derive(Deserialize)]
struct Monitored {
    results: Vec<MonitorResult>,
}

/// One host of `POST /hosts/monitor`: its monitoring, or the status and
/// error `GET /hosts/{name}` would answer.
#[derive(Deserialize)]
struct MonitorResult {
    status: u16,
    #[serde(default)]
    monitoring: Option<HostMonitoring>,
    #[serde(default)]
    error: Option<String>,
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
        Err(status_error(response.status, message))
    }

    /// What the hypervisor is sent for one VM, or why the spec is refused
    /// before anything is sent.
    fn create_body(spec: &VmSpec) -> Result<CreateBody<'_>, Error> {
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
        Ok(CreateBody {
            operation_id: &spec.operation_id,
            service_id: spec.service_id,
            role_name: &spec.role_name,
            name: &spec.vm_name,
            template,
            hold: spec.hold,
        })
    }

    /// `POST /hosts/monitor`: one outcome per host, in order.
    fn send_monitor(
        &self,
        hosts: &[HostProbe],
    ) -> Result<Vec<Result<HostMonitoring, Error>>, Error> {
        let body = MonitorBody {
            names: hosts.iter().map(|h| h.address.as_str()).collect(),
        };
        let response = Self::check(http::post_json(&self.url("/hosts/monitor"), &body)?)?;
        let monitored: Monitored = response.json()?;
        if monitored.results.len() != hosts.len() {
            return Err(Error::Other(format!(
                "the hypervisor answered {} of {} hosts",
                monitored.results.len(),
                hosts.len()
            )));
        }
        Ok(monitored
            .results
            .into_iter()
            .map(|r| match (r.monitoring, r.error) {
                (Some(monitoring), _) if (200..300).contains(&r.status) => Ok(monitoring),
                (_, error) => Err(status_error(
                    r.status,
                    error.unwrap_or_else(|| "no monitoring in the answer".into()),
                )),
            })
            .collect())
    }

    /// `POST /vms/batch`: one outcome per body, in order.
    fn send_batch(&self, bodies: &[CreateBody<'_>]) -> Result<Vec<Result<String, Error>>, Error> {
        let response = Self::check(http::post_json(
            &self.url("/vms/batch"),
            &BatchBody { vms: bodies },
        )?)?;
        let batch: Batch = response.json()?;
        if batch.results.len() != bodies.len() {
            return Err(Error::Other(format!(
                "the hypervisor answered {} of {} creates",
                batch.results.len(),
                bodies.len()
            )));
        }
        Ok(batch
            .results
            .into_iter()
            .map(|r| match (r.id, r.error) {
                (Some(id), _) if (200..300).contains(&r.status) => Ok(id),
                (_, error) => Err(status_error(
                    r.status,
                    error.unwrap_or_else(|| "no VM id in the answer".into()),
                )),
            })
            .collect())
    }
}

/// The error for a non-2xx status of the hypervisor.
fn status_error(status: u16, message: String) -> Error {
    match status {
        400 | 422 => Error::InvalidInput(message),
        404 => Error::NotFound(message),
        409 => Error::Denied(message),
        500..=599 => Error::Unavailable(message),
        _ => Error::Other(format!("HTTP {status}: {message}")),
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
        let body = Self::create_body(&spec)?;
        let response = Self::check(http::post_json(&self.url("/vms"), &body)?)?;
        Ok(response.json::<Created>()?.id)
    }

    /// One request for every spec that is valid; the others are refused
    /// here, as `create` refuses them, without failing the rest.
    fn create_many(&mut self, specs: Vec<VmSpec>) -> Vec<Result<String, Error>> {
        let (places, bodies) = precheck(&specs, Self::create_body);
        let sent = match bodies.as_slice() {
            [] => Vec::new(),
            bodies => match self.send_batch(bodies) {
                Ok(results) => results,
                // The request as a whole failed: so did each VM in it.
                Err(e) => vec![Err(e); bodies.len()],
            },
        };
        places.fill(sent, || Error::Other("no answer for this VM".into()))
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

impl Hosts for SimDriver {
    /// The hypervisor's hosts by their address (its name for them). When
    /// the hypervisor itself does not answer, no host does.
    fn monitor(&mut self, hosts: Vec<HostProbe>) -> Vec<Result<HostMonitoring, Error>> {
        if hosts.is_empty() {
            return Vec::new();
        }
        match self.send_monitor(&hosts) {
            Ok(outcomes) => outcomes,
            Err(e) => vec![Err(e); hosts.len()],
        }
    }
}

flotilla_plugin_sdk::export_fleet_driver!(SimDriver);
