//! The simulated hypervisor's HTTP API.
//!
//! | route | |
//! |---|---|
//! | `POST /vms` | create (idempotent on `operation_id`): 201 new, 200 existing |
//! | `POST /vms/batch` | `{"vms": [..]}`: many creates in one call, one outcome each |
//! | `GET /vms` | every VM (for a driver's `list`) |
//! | `GET /vms/{id}` | one VM; a `SIM_ONEGATE` VM's has `onegate: {"sent": n, "failed": n, "last_error": ..}` |
//! | `POST /vms/{id}/action` | `{"action": "poweroff", "args": {}}` |
//! | `POST /vms/poll` | `{"ids": [..]}`: many VMs in one call |
//! | `PUT /vms/{id}/monitoring` | set monitoring values, e.g. `{"CPU": 90}` |
//! | `PUT /vms/{id}/user-attributes` | set user attributes, e.g. `{"READY": "YES"}` |
//! | `PUT /vms/{id}/state` | force a state, e.g. `{"state": "FAILED", "reason": "disk"}` |
//! | `POST /hosts` | `{"name": "sim-host-1", "cpu": 8, "memory_mb": 16384}`: add a host (idempotent on `name`): 201 new, 200 existing |
//! | `GET /hosts` | every host, with what its VMs use |
//! | `GET /hosts/{name}` | one host |
//! | `PUT /hosts/{name}/reachable` | `{"reachable": false}`: cut the host off (a lost host), or `true` to let it answer again |
//! | `POST /hosts/monitor` | `{"names": [..]}`: each host's monitoring (`cpu`, `memory_mb`, `used_cpu`, `used_memory_mb`, `vm_ids`) or its error (404 unknown, 503 `host <name> does not answer`), in order |
//! | `GET /health` | liveness, with `vms`, `hosts` and the OneGate reports sent and failed (`onegate_sent`, `onegate_failed`) |
//!
//! A VM whose template has `HOST` (`{"NAME": .., "ADDRESS": ..}`) runs on
//! that host; see [`crate::model::hosts`] for what a host that does not
//! answer does to its VMs.
//!
//! VMs with `SIM_ONEGATE=YES` report to the OneGate endpoint in their
//! template's `CONTEXT` (`PUT {ONEGATE_ENDPOINT}/vm`, as a VM's start
//! script would) from a background task, started by [`spawn`], by
//! [`SimHypervisor::open`] inside a tokio runtime, or by
//! [`SimHypervisor::start_onegate`]; it ends when the hypervisor is
//! dropped. See [`crate::model::onegate`] for what is sent when.

use super::model::{CreateRequest, HostUsage, HostView, Hypervisor, SimError, VmView};
use super::store::VmStore;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use flotilla_core::clock::{SharedClock, SystemClock};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

mod onegate;

pub struct SimOptions {
    /// SQLite file for the VMs; `None` keeps them in memory.
    pub database: Option<std::path::PathBuf>,
    pub default_boot_ms: u64,
    pub clock: SharedClock,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            database: None,
            default_boot_ms: 0,
            clock: Arc::new(SystemClock),
        }
    }
}

/// The hypervisor with its persistence: every change is written before the
/// API answers.
pub struct SimHypervisor {
    state: Mutex<(Hypervisor, VmStore)>,
    clock: SharedClock,
    /// The OneGate reporting task, once started.
    onegate_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl SimHypervisor {
    /// Open the hypervisor; inside a tokio runtime, this also starts its
    /// OneGate reporting (see [`SimHypervisor::start_onegate`]).
    pub fn open(options: SimOptions) -> anyhow::Result<Arc<SimHypervisor>> {
        let store = match &options.database {
            Some(path) => VmStore::open(path)?,
            None => VmStore::in_memory()?,
        };
        let hypervisor = Hypervisor::restore(options.default_boot_ms, store.load()?)
            .with_hosts(store.load_hosts()?);
        let sim = Arc::new(SimHypervisor {
            state: Mutex::new((hypervisor, store)),
            clock: options.clock,
            onegate_task: Mutex::new(None),
        });
        sim.start_onegate();
        Ok(sim)
    }

    /// Start sending the OneGate reports of `SIM_ONEGATE` VMs in the
    /// background, on the current tokio runtime; the task holds the
    /// hypervisor weakly and ends once it is dropped. Returns whether the
    /// task runs: false outside a runtime. Starting it again does nothing
    /// while it runs (it is started anew if its runtime went away).
    pub fn start_onegate(self: &Arc<Self>) -> bool {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let mut task = self.onegate_task.lock().unwrap_or_else(|e| e.into_inner());
        if task.as_ref().is_none_or(|t| t.is_finished()) {
            // Reports a dead task had in flight are due again.
            self.lock().0.onegate_forget_in_flight();
            *task = Some(runtime.spawn(onegate::run(Arc::downgrade(self))));
        }
        true
    }

    /// The OneGate reports due now, then in flight.
    fn onegate_due(&self) -> Vec<crate::model::OneGateReport> {
        let now = self.clock.now_ms();
        self.lock().0.onegate_due(now)
    }

    fn onegate_record(
        &self,
        report: &crate::model::OneGateReport,
        outcome: crate::model::Delivery,
    ) {
        let now = self.clock.now_ms();
        self.lock().0.onegate_record(report, outcome, now);
    }

    /// OneGate reports sent and failed, over all VMs.
    pub fn onegate_totals(&self) -> crate::model::OneGateTotals {
        self.lock().0.onegate_totals()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Hypervisor, VmStore)> {
        // A panic while holding the lock cannot leave the model half
        // written (every mutation is one assignment), so keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn vm_count(&self) -> usize {
        self.lock().0.len()
    }

    /// Create a VM directly (benchmarks and tests seed the hypervisor this
    /// way); returns its id.
    pub fn create(&self, req: CreateRequest) -> Result<String, SimError> {
        let now = self.clock.now_ms();
        let mut guard = self.lock();
        let (hypervisor, store) = &mut *guard;
        let (vm, new) = hypervisor.create(req, now)?;
        if new {
            store
                .save(vm)
                .map_err(|e| SimError::Conflict(format!("storage: {e:#}")))?;
        }
        Ok(vm.id.to_string())
    }

    /// Put a VM in a state (`PUT /vms/{id}/state`): a host failure, or an
    /// operator's repair.
    pub fn force_state(
        &self,
        id: &str,
        state: super::model::State,
        reason: Option<String>,
    ) -> Result<VmView, SimError> {
        let now = self.clock.now_ms();
        let mut guard = self.lock();
        let (hypervisor, store) = &mut *guard;
        let vm = hypervisor.force_state(id, state, reason, now)?;
        let id = vm.id;
        store
            .save(vm)
            .map_err(|e| SimError::Conflict(format!("storage: {e:#}")))?;
        view(hypervisor, id, now)
    }

    /// Pin (or, with `None`, unpin) monitoring values of one VM, as
    /// `PUT /vms/{id}/monitoring` does.
    pub fn set_monitoring(
        &self,
        id: &str,
        values: BTreeMap<String, Option<f64>>,
    ) -> Result<VmView, SimError> {
        let now = self.clock.now_ms();
        let mut guard = self.lock();
        let (hypervisor, store) = &mut *guard;
        let vm = hypervisor.set_monitoring(id, values)?;
        let id = vm.id;
        store
            .save(vm)
            .map_err(|e| SimError::Conflict(format!("storage: {e:#}")))?;
        view(hypervisor, id, now)
    }

    /// Every VM as the API shows it now.
    pub fn views(&self) -> Vec<VmView> {
        let now = self.clock.now_ms();
        let guard = self.lock();
        guard.0.vms().map(|vm| guard.0.view(vm, now)).collect()
    }

    /// Add a host (idempotent on its name; one already there is returned
    /// as it is), as `POST /hosts` does.
    pub fn add_host(&self, name: &str, cpu: f64, memory_mb: u64) -> Result<HostView, SimError> {
        let now = self.clock.now_ms();
        let mut guard = self.lock();
        let (hypervisor, store) = &mut *guard;
        let (host, new) = hypervisor.add_host(name, cpu, memory_mb)?;
        if new {
            store
                .save_host(host)
                .map_err(|e| SimError::Conflict(format!("storage: {e:#}")))?;
        }
        hypervisor.host_view(name, now)
    }

    /// Cut a host off (`false`) or let it answer again, as
    /// `PUT /hosts/{name}/reachable` does.
    pub fn set_host_reachable(&self, name: &str, reachable: bool) -> Result<HostView, SimError> {
        let now = self.clock.now_ms();
        let mut guard = self.lock();
        let (hypervisor, store) = &mut *guard;
        let host = hypervisor.set_reachable(name, reachable)?;
        store
            .save_host(host)
            .map_err(|e| SimError::Conflict(format!("storage: {e:#}")))?;
        hypervisor.host_view(name, now)
    }

    /// Every host as the API shows it now.
    pub fn host_views(&self) -> Vec<HostView> {
        let now = self.clock.now_ms();
        let guard = self.lock();
        guard
            .0
            .hosts()
            .filter_map(|h| guard.0.host_view(&h.name, now).ok())
            .collect()
    }

    /// Each host's monitoring, or why there is none, in the order asked
    /// (`POST /hosts/monitor`).
    pub fn monitor_hosts(&self, names: &[String]) -> Vec<Result<HostUsage, SimError>> {
        let now = self.clock.now_ms();
        let guard = self.lock();
        names
            .iter()
            .map(|name| guard.0.monitor_host(name, now))
            .collect()
    }
}

/// A VM as the API shows it, by id (one just made or changed: the VM is
/// looked up again once the change is written, its host's answer applied).
fn view(hypervisor: &Hypervisor, id: u64, now: u64) -> Result<VmView, SimError> {
    hypervisor
        .view_of(id, now)
        .ok_or_else(|| SimError::NotFound(format!("VM {id} does not exist")))
}

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<SimError> for ApiError {
    fn from(e: SimError) -> Self {
        let status = match e {
            SimError::Invalid(_) => StatusCode::BAD_REQUEST,
            SimError::NotFound(_) => StatusCode::NOT_FOUND,
            SimError::Conflict(_) => StatusCode::CONFLICT,
            SimError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError(status, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("request body: {}", e.body_text()),
        )
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("storage: {e:#}"))
    }
}

type Sim = State<Arc<SimHypervisor>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    operation_id: String,
    #[serde(default)]
    service_id: u64,
    #[serde(default)]
    role_name: String,
    name: String,
    template: serde_json::Value,
    #[serde(default)]
    hold: bool,
}

async fn create(
    State(sim): Sim,
    body: Result<Json<CreateBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let now = sim.clock.now_ms();
    let mut guard = sim.lock();
    let (hypervisor, store) = &mut *guard;
    let (vm, new) = hypervisor.create(
        CreateRequest {
            operation_id: body.operation_id,
            service_id: body.service_id,
            role_name: body.role_name,
            name: body.name,
            template: body.template,
            hold: body.hold,
        },
        now,
    )?;
    let id = vm.id;
    if new {
        store.save(vm)?;
    }
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(hypervisor, id, now)?)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    vms: Vec<CreateBody>,
}

/// Many creates in one call, written in one transaction. Each VM is on its
/// own, as with `POST /vms`: its outcome carries the status that route
/// would answer (201 new, 200 existing, 4xx refused) with the VM's `id` or
/// an `error`, in the order asked; one refused VM does not fail the others.
async fn create_batch(
    State(sim): Sim,
    body: Result<Json<BatchBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body?;
    let now = sim.clock.now_ms();
    let mut guard = sim.lock();
    let (hypervisor, store) = &mut *guard;
    let outcomes: Vec<Result<(u64, bool), SimError>> = body
        .vms
        .into_iter()
        .map(|vm| {
            hypervisor
                .create(
                    CreateRequest {
                        operation_id: vm.operation_id,
                        service_id: vm.service_id,
                        role_name: vm.role_name,
                        name: vm.name,
                        template: vm.template,
                        hold: vm.hold,
                    },
                    now,
                )
                .map(|(vm, new)| (vm.id, new))
        })
        .collect();
    let new = outcomes
        .iter()
        .filter_map(|o| match o {
            Ok((id, true)) => hypervisor.get(*id),
            _ => None,
        })
        .collect::<Vec<_>>();
    store.save_all(new)?;
    let results: Vec<serde_json::Value> = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok((id, new)) => {
                let status = if new {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                json!({ "status": status.as_u16(), "id": id.to_string() })
            }
            Err(e) => {
                let ApiError(status, error) = e.into();
                json!({ "status": status.as_u16(), "error": error })
            }
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

async fn list(State(sim): Sim) -> Json<serde_json::Value> {
    Json(json!({ "vms": sim.views() }))
}

async fn show(State(sim): Sim, Path(id): Path<String>) -> Result<Json<VmView>, ApiError> {
    let now = sim.clock.now_ms();
    let guard = sim.lock();
    id.parse::<u64>()
        .ok()
        .and_then(|id| guard.0.view_of(id, now))
        .map(Json)
        .ok_or_else(|| SimError::NotFound(format!("VM {id} does not exist")).into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    action: String,
    #[serde(default)]
    args: BTreeMap<String, String>,
}

async fn action(
    State(sim): Sim,
    Path(id): Path<String>,
    body: Result<Json<ActionBody>, JsonRejection>,
) -> Result<Json<VmView>, ApiError> {
    let Json(body) = body?;
    let now = sim.clock.now_ms();
    let mut guard = sim.lock();
    let (hypervisor, store) = &mut *guard;
    let vm = hypervisor.act(&id, &body.action, &body.args, now)?;
    let id = vm.id;
    store.save(vm)?;
    Ok(Json(view(hypervisor, id, now)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PollBody {
    ids: Vec<String>,
}

/// Many VMs in one call, in the order asked; an unknown id is reported as
/// DONE with a reason, as a VM that is gone.
async fn poll(
    State(sim): Sim,
    body: Result<Json<PollBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body?;
    let now = sim.clock.now_ms();
    let guard = sim.lock();
    let vms: Vec<serde_json::Value> = body
        .ids
        .iter()
        .map(
            |id| match id.parse::<u64>().ok().and_then(|n| guard.0.view_of(n, now)) {
                Some(v) => {
                    json!({
                        "id": v.id,
                        "state": v.state,
                        "monitoring": v.monitoring,
                        "user_attributes": v.user_attributes,
                        "reason": v.reason,
                    })
                }
                None => json!({
                    "id": id,
                    "state": "DONE",
                    "reason": format!("VM {id} does not exist on this hypervisor"),
                }),
            },
        )
        .collect();
    Ok(Json(json!({ "vms": vms })))
}

async fn set_monitoring(
    State(sim): Sim,
    Path(id): Path<String>,
    body: Result<Json<BTreeMap<String, Option<f64>>>, JsonRejection>,
) -> Result<Json<VmView>, ApiError> {
    let Json(values) = body?;
    Ok(Json(sim.set_monitoring(&id, values)?))
}

async fn set_user_attributes(
    State(sim): Sim,
    Path(id): Path<String>,
    body: Result<Json<BTreeMap<String, Option<String>>>, JsonRejection>,
) -> Result<Json<VmView>, ApiError> {
    let Json(values) = body?;
    let now = sim.clock.now_ms();
    let mut guard = sim.lock();
    let (hypervisor, store) = &mut *guard;
    let vm = hypervisor.set_user_attributes(&id, values)?;
    let id = vm.id;
    store.save(vm)?;
    Ok(Json(view(hypervisor, id, now)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    state: super::model::State,
    #[serde(default)]
    reason: Option<String>,
}

async fn force_state(
    State(sim): Sim,
    Path(id): Path<String>,
    body: Result<Json<StateBody>, JsonRejection>,
) -> Result<Json<VmView>, ApiError> {
    let Json(body) = body?;
    Ok(Json(sim.force_state(&id, body.state, body.reason)?))
}

async fn health(State(sim): Sim) -> Json<serde_json::Value> {
    let (vms, hosts, onegate) = {
        let guard = sim.lock();
        (
            guard.0.len(),
            guard.0.hosts().count(),
            guard.0.onegate_totals(),
        )
    };
    Json(json!({
        "status": "ok",
        "service": "flotilla-sim-hypervisor",
        "vms": vms,
        "hosts": hosts,
        "onegate_sent": onegate.sent,
        "onegate_failed": onegate.failed,
    }))
}

/// `POST /hosts`'s body, read field by field so a mistake is a 400 that
/// names the field.
fn host_body(body: &serde_json::Value) -> Result<(String, f64, u64), SimError> {
    let invalid = |m: String| SimError::Invalid(m);
    let object = body.as_object().ok_or_else(|| {
        invalid("request body: must be an object with name, cpu, memory_mb".into())
    })?;
    if let Some(other) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "name" | "cpu" | "memory_mb"))
    {
        return Err(invalid(format!(
            "{other}: not a field of a host (name, cpu, memory_mb)"
        )));
    }
    let name = match object.get("name") {
        Some(serde_json::Value::String(name)) => name.clone(),
        Some(_) => return Err(invalid("name: must be a string".into())),
        None => return Err(invalid("name: required".into())),
    };
    let cpu = match object.get("cpu") {
        Some(v) => v
            .as_f64()
            .ok_or_else(|| invalid("cpu: must be a number of CPUs".into()))?,
        None => return Err(invalid("cpu: required".into())),
    };
    let memory_mb = match object.get("memory_mb") {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid("memory_mb: must be a whole number of MiB".into()))?,
        None => return Err(invalid("memory_mb: required".into())),
    };
    Ok((name, cpu, memory_mb))
}

async fn add_host(
    State(sim): Sim,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let (name, cpu, memory_mb) = host_body(&body)?;
    let now = sim.clock.now_ms();
    let mut guard = sim.lock();
    let (hypervisor, store) = &mut *guard;
    let (host, new) = hypervisor.add_host(&name, cpu, memory_mb)?;
    let status = if new {
        store.save_host(host)?;
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(hypervisor.host_view(&name, now)?)).into_response())
}

async fn list_hosts(State(sim): Sim) -> Json<serde_json::Value> {
    Json(json!({ "hosts": sim.host_views() }))
}

async fn show_host(State(sim): Sim, Path(name): Path<String>) -> Result<Json<HostView>, ApiError> {
    let now = sim.clock.now_ms();
    Ok(Json(sim.lock().0.host_view(&name, now)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReachableBody {
    reachable: bool,
}

async fn set_reachable(
    State(sim): Sim,
    Path(name): Path<String>,
    body: Result<Json<ReachableBody>, JsonRejection>,
) -> Result<Json<HostView>, ApiError> {
    let Json(body) = body?;
    Ok(Json(sim.set_host_reachable(&name, body.reachable)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorBody {
    names: Vec<String>,
}

/// Many hosts in one call, in the order asked: each one's monitoring, or
/// its error with the status `GET /hosts/{name}` would answer (404 for a
/// host that does not exist, 503 for one that does not answer).
async fn monitor_hosts(
    State(sim): Sim,
    body: Result<Json<MonitorBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body?;
    let results: Vec<serde_json::Value> = sim
        .monitor_hosts(&body.names)
        .into_iter()
        .zip(&body.names)
        .map(|(outcome, name)| match outcome {
            Ok(usage) => json!({ "name": name, "status": 200, "monitoring": usage }),
            Err(e) => {
                let ApiError(status, error) = e.into();
                json!({ "name": name, "status": status.as_u16(), "error": error })
            }
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

pub fn router(sim: Arc<SimHypervisor>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/vms", post(create).get(list))
        .route("/vms/poll", post(poll))
        .route("/vms/batch", post(create_batch))
        .route("/vms/{id}", get(show))
        .route("/vms/{id}/action", post(action))
        .route("/vms/{id}/monitoring", put(set_monitoring))
        .route("/vms/{id}/user-attributes", put(set_user_attributes))
        .route("/vms/{id}/state", put(force_state))
        .route("/hosts", post(add_host).get(list_hosts))
        .route("/hosts/monitor", post(monitor_hosts))
        .route("/hosts/{name}", get(show_host))
        .route("/hosts/{name}/reachable", put(set_reachable))
        .with_state(sim)
}

/// Serve the hypervisor on `listener` in the background, and send its
/// VMs' OneGate reports; returns the address it listens on. Must be
/// called inside a tokio runtime.
pub fn spawn(
    sim: Arc<SimHypervisor>,
    listener: tokio::net::TcpListener,
) -> std::io::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    sim.start_onegate();
    let app = router(sim);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("simulated hypervisor stopped: {e}");
        }
    });
    Ok(addr)
}
