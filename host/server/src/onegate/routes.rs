//! OneGate's routes, as OpenNebula's `onegate-server` serves them:
//!
//! | route | |
//! |---|---|
//! | `GET /` | where the VM and service routes are |
//! | `GET /vm` | the VM itself: state, `USER_TEMPLATE` (what it reported), NICs |
//! | `PUT /vm` | report attributes: `KEY=VALUE` lines, or form `data=…&type=1` (`type=2`: erase `data`); a literal `\n` separates lines, as OneGate reads it |
//! | `GET /vms/{id}`, `PUT /vms/{id}` | the same for a VM of the same service |
//! | `POST /vms/{id}/action` | `{"action": {"perform": …, "params": …}}` on the VM or one of the same service (`actions.rs`) |
//! | `GET /service` | the VM's service, its roles and their VMs; `extended=true` (query or form body) adds each VM's owner |
//! | `PUT /service/role/{role}` | `{"cardinality": N}` (or `"N"`): scale a role of the VM's own service |
//! | `GET /vrouter` | the virtual router of the VM's role |
//! | `GET /vnet/{id}` | a network the VM's virtual router routes (`vnets.rs`) |
//!
//! Every request carries `X-ONEGATE-TOKEN` (and may carry
//! `X-ONEGATE-VMID`); a missing, tampered or expired token, or one of a VM
//! that left its service, gets 401 and nothing else, before any body is
//! read: a client without a token cannot hold a connection by sending a
//! body slowly. `POST` is taken for `PUT` (busybox's wget cannot send a
//! PUT). Errors are plain text.

use super::gate::OneGate;
use super::rendered::{Variant, Version};
use crate::engine::{Engine, EngineError};
use crate::service::lifecycle::{Node, Service, VmState};
use crate::store::Lease;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A report is a few attributes; a megabyte is a mistake.
const BODY_LIMIT: usize = 64 * 1024;

#[derive(Clone)]
struct Gate {
    gate: Arc<OneGate>,
    engine: Engine,
}

type St = State<Gate>;

/// A plain-text error, as OneGate answers.
#[derive(Debug)]
struct GateError(StatusCode, String);

impl IntoResponse for GateError {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.1,
        )
            .into_response()
    }
}

fn unauthorized() -> GateError {
    GateError(StatusCode::UNAUTHORIZED, "Not authorized".into())
}

fn bad_request(m: impl Into<String>) -> GateError {
    GateError(StatusCode::BAD_REQUEST, m.into())
}

impl From<EngineError> for GateError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::Invalid(_)
            | EngineError::Lifecycle(crate::service::lifecycle::LifecycleError::Invalid(_)) => {
                StatusCode::BAD_REQUEST
            }
            EngineError::Lifecycle(crate::service::lifecycle::LifecycleError::WrongState(_)) => {
                StatusCode::CONFLICT
            }
            EngineError::NotFound(_)
            | EngineError::Lifecycle(crate::service::lifecycle::LifecycleError::NotFound(_)) => {
                StatusCode::NOT_FOUND
            }
            EngineError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        GateError(status, e.to_string())
    }
}

fn json_response(v: Value) -> Response {
    json_bytes(Bytes::from(v.to_string()))
}

fn json_bytes(body: Bytes) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The request's body, read only once its token passed.
async fn read_body(body: Body) -> Result<Bytes, GateError> {
    axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        GateError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {} KiB", BODY_LIMIT / 1024),
        )
    })
}

pub fn router(gate: Arc<OneGate>, engine: Engine) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/vm", get(show_vm).put(update_vm).post(update_vm))
        .route(
            "/vms/{id}",
            get(show_sibling).put(update_sibling).post(update_sibling),
        )
        .route("/vms/{id}/action", post(vm_action))
        .route("/service", get(show_service))
        .route("/service/role/{role}", put(scale_role).post(scale_role))
        .route("/vrouter", get(show_vrouter))
        .route("/vnet/{id}", get(show_vnet))
        .fallback(|| async { bad_request("OneGate server doesn't support this feature") })
        .with_state(Gate { gate, engine })
}

/// The VM a request speaks for, with its service (as the store has it).
struct Caller {
    /// Shared with the store's cache: a report costs no copy of a
    /// service of thousands of VMs.
    service: Arc<Service>,
    role: usize,
    node: usize,
}

impl Caller {
    fn node(&self) -> &Node {
        &self.service.roles[self.role].nodes[self.node]
    }
}

async fn authenticate(g: &Gate, headers: &HeaderMap) -> Result<Caller, GateError> {
    g.gate.requests.fetch_add(1, Ordering::Relaxed);
    let token = headers
        .get("x-onegate-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let claims = g
        .gate
        .signer
        .verify(token, g.gate.now_s())
        .map_err(|_| unauthorized())?;
    let service = g
        .engine
        .store()
        .shared_service(claims.service_id)
        .ok()
        .flatten()
        .ok_or_else(unauthorized)?;
    // A VM that left its service (scaled in, replaced) speaks for nothing.
    let (role, node) = service
        .roles
        .iter()
        .enumerate()
        .find_map(|(i, r)| {
            let j = r
                .nodes
                .iter()
                .position(|n| n.operation_id == claims.operation_id && !n.terminating)?;
            Some((i, j))
        })
        .ok_or_else(unauthorized)?;
    let caller = Caller {
        service,
        role,
        node,
    };
    if let Some(claimed) = headers.get("x-onegate-vmid").and_then(|v| v.to_str().ok())
        && let Some(vm_id) = &caller.node().vm_id
        && claimed.trim() != vm_id
    {
        return Err(unauthorized());
    }
    if !g
        .gate
        .limiter
        .allow(caller.service.id, &claims.operation_id)
    {
        return Err(GateError(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests from this VM; slow down".into(),
        ));
    }
    Ok(caller)
}

/// OpenNebula's (STATE, LCM_STATE) numbers for a VM state.
fn one_states(state: Option<VmState>) -> (&'static str, &'static str) {
    match state {
        None | Some(VmState::Pending) => ("1", "0"),
        Some(VmState::Hold) => ("2", "0"),
        Some(VmState::Running) => ("3", "3"),
        Some(VmState::Stopped) => ("4", "0"),
        Some(VmState::Suspended) => ("5", "0"),
        Some(VmState::Done) => ("6", "0"),
        Some(VmState::Failed) => ("3", "36"),
        Some(VmState::Poweroff) => ("8", "0"),
        Some(VmState::Undeployed) => ("9", "0"),
        Some(VmState::Unknown) => ("3", "16"),
    }
}

fn nics(leases: &[Lease]) -> (Vec<Value>, Vec<Value>) {
    let (mut nics, mut aliases) = (Vec::new(), Vec::new());
    for l in leases {
        let (_, which) = l.holder.split_once('/').unwrap_or_default();
        let mac =
            l.ip.parse()
                .map(flotilla_core::network::mac_for)
                .unwrap_or_default();
        let mut nic = json!({"IP": l.ip, "MAC": mac, "NETWORK_ID": l.vnet_id.to_string()});
        if let Some(n) = which.strip_prefix("NIC_ALIAS") {
            nic["NIC_ID"] = json!(n);
            aliases.push(nic);
        } else if let Some(n) = which.strip_prefix("NIC") {
            nic["NIC_ID"] = json!(n);
            nic["NAME"] = json!(format!("NIC{n}"));
            nics.push(nic);
        }
    }
    (nics, aliases)
}

/// A VM as OneGate shows it: its state, what it reported of itself (with
/// SERVICE_ID and ROLE_NAME, as OneFlow puts them there), its NICs; with
/// its owner's names, its owner and group too (`extended`).
fn vm_json(
    g: &Gate,
    service: &Service,
    role: &str,
    node: &Node,
    leases: &[Lease],
    variant: &Variant,
) -> Value {
    let mut user: Map<String, Value> = g.gate.reports.get(service.id, &node.operation_id);
    user.insert("SERVICE_ID".into(), json!(service.id.to_string()));
    user.insert("ROLE_NAME".into(), json!(role));
    let prefix = format!("{}/", node.operation_id);
    let own: Vec<Lease> = leases
        .iter()
        .filter(|l| l.holder.starts_with(&prefix))
        .cloned()
        .collect();
    let (nic, alias) = nics(&own);
    let (state, lcm) = one_states(node.vm_state);
    let mut vm = json!({
        "NAME": node.name,
        "ID": node.vm_id.clone().unwrap_or_default(),
        "STATE": state,
        "LCM_STATE": lcm,
        "USER_TEMPLATE": user,
        "TEMPLATE": {"NIC": nic, "NIC_ALIAS": alias},
    });
    // The host it runs on, where OpenNebula keeps it: an addition to
    // OneGate's keys, so a guest can tell its neighbours' hosts apart.
    if let Some(p) = &node.placement {
        vm["HISTORY_RECORDS"] =
            json!({"HISTORY": {"HOSTNAME": p.host, "HID": p.host_id.to_string()}});
    }
    if let Variant::Extended { user, group } = variant {
        vm["UID"] = json!(service.ownership.uid.to_string());
        vm["GID"] = json!(service.ownership.gid.to_string());
        vm["UNAME"] = json!(user);
        vm["GNAME"] = json!(group);
    }
    json!({ "VM": vm })
}

fn leases_of(g: &Gate, operation_id: &str) -> Vec<Lease> {
    g.engine.store().leases_of(operation_id).unwrap_or_default()
}

async fn root(State(g): St, headers: HeaderMap) -> Result<Response, GateError> {
    authenticate(&g, &headers).await?;
    let base = g.gate.endpoint().trim_end_matches('/');
    Ok(json_response(json!({
        "vm_info": format!("{base}/vm"),
        "service_info": format!("{base}/service"),
    })))
}

async fn show_vm(State(g): St, headers: HeaderMap) -> Result<Response, GateError> {
    let c = authenticate(&g, &headers).await?;
    let role = &c.service.roles[c.role].name;
    let leases = leases_of(&g, &c.node().operation_id);
    Ok(json_response(vm_json(
        &g,
        &c.service,
        role,
        c.node(),
        &leases,
        &Variant::Plain,
    )))
}

/// A VM of the caller's service by its id.
fn sibling<'a>(c: &'a Caller, id: &str) -> Result<(&'a str, &'a Node), GateError> {
    c.service
        .roles
        .iter()
        .find_map(|r| {
            r.nodes
                .iter()
                .find(|n| n.vm_id.as_deref() == Some(id))
                .map(|n| (r.name.as_str(), n))
        })
        .ok_or_else(|| {
            GateError(
                StatusCode::FORBIDDEN,
                format!("VM {id} is not a VM of this VM's service"),
            )
        })
}

async fn show_sibling(
    State(g): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, GateError> {
    let c = authenticate(&g, &headers).await?;
    let (role, node) = sibling(&c, &id)?;
    let leases = leases_of(&g, &node.operation_id);
    Ok(json_response(vm_json(
        &g,
        &c.service,
        role,
        node,
        &leases,
        &Variant::Plain,
    )))
}

/// `KEY=VALUE` lines (`KEY = "VALUE"` as OpenNebula writes them too).
fn parse_lines(text: &str) -> Result<Vec<(String, String)>, GateError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(bad_request(format!(
                "line {}: `{line}` is not KEY=VALUE",
                i + 1
            )));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad_request(format!(
                "line {}: `{key}` is not an attribute name (letters, digits, _)",
                i + 1
            )));
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if value.len() > super::reports::MAX_VALUE_BYTES {
            return Err(bad_request(format!(
                "{key}: longer than {} bytes",
                super::reports::MAX_VALUE_BYTES
            )));
        }
        out.push((key.to_ascii_uppercase(), value.to_string()));
    }
    Ok(out)
}

/// `application/x-www-form-urlencoded` pairs.
fn form(body: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
            if bytes[i] == b'%'
                && let (Some(h), Some(l)) = (
                    bytes.get(i + 1).and_then(|b| hex(*b)),
                    bytes.get(i + 2).and_then(|b| hex(*b)),
                )
            {
                out.push(h * 16 + l);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (!k.is_empty()).then(|| (decode(k), decode(v)))
        })
        .collect()
}

/// OneGate takes a literal `\n` (backslash, n) for a line break, as its
/// documentation writes `onegate vm update --data "A=1\nB=2"` and the
/// shell passes it: two attributes, not one value with a backslash.
fn unescape_newlines(text: &str) -> String {
    text.replace("\\n", "\n")
}

/// A report: the attributes to set, and those to erase.
struct Report {
    set: Vec<(String, String)>,
    erase: Vec<String>,
}

fn report(headers: &HeaderMap, body: &[u8]) -> Result<Report, GateError> {
    let text = std::str::from_utf8(body).map_err(|_| bad_request("the body is not UTF-8 text"))?;
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok(Report {
            set: parse_lines(&unescape_newlines(text))?,
            erase: Vec::new(),
        });
    }
    let fields = form(text);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let data = unescape_newlines(field("data").unwrap_or_default());
    match field("type").unwrap_or("1") {
        "1" => Ok(Report {
            set: parse_lines(&data)?,
            erase: Vec::new(),
        }),
        "2" => Ok(Report {
            set: Vec::new(),
            erase: data
                .split_whitespace()
                .map(|k| k.trim().to_ascii_uppercase())
                .collect(),
        }),
        other => Err(bad_request(format!(
            "type: `{other}` is not 1 (update) or 2 (erase)"
        ))),
    }
}

fn apply_report(
    g: &Gate,
    service: &Service,
    node: &Node,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GateError> {
    let Report { set, erase } = report(headers, body)?;
    if let Some(key) = set
        .iter()
        .map(|(k, _)| k)
        .chain(erase.iter())
        .find(|k| g.gate.is_restricted(k))
    {
        return Err(GateError(
            StatusCode::FORBIDDEN,
            format!("Attribute {key} is restricted"),
        ));
    }
    g.gate
        .reports
        .update(service.id, &node.operation_id, set, &erase)
        .map_err(|e| {
            use super::reports::{MAX_ATTRIBUTES, MAX_TOTAL_BYTES, ReportError};
            bad_request(match e {
                ReportError::TooMany(n) => format!(
                    "a VM keeps at most {MAX_ATTRIBUTES} attributes; this report would make {n}"
                ),
                ReportError::TooLarge(n) => format!(
                    "a VM keeps at most {MAX_TOTAL_BYTES} bytes of attributes; this report would make {n}"
                ),
            })
        })?;
    g.gate.updates.fetch_add(1, Ordering::Relaxed);
    Ok(StatusCode::OK.into_response())
}

async fn update_vm(State(g): St, headers: HeaderMap, body: Body) -> Result<Response, GateError> {
    let c = authenticate(&g, &headers).await?;
    let body = read_body(body).await?;
    apply_report(&g, &c.service, c.node(), &headers, &body)
}

async fn update_sibling(
    State(g): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, GateError> {
    let c = authenticate(&g, &headers).await?;
    let (_, node) = sibling(&c, &id)?;
    let body = read_body(body).await?;
    apply_report(&g, &c.service, node, &headers, &body)
}

async fn vm_action(
    State(g): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, GateError> {
    use super::actions::{Refused, parse};
    let c = authenticate(&g, &headers).await?;
    let (_, node) = sibling(&c, &id)?;
    let vm_id = node.vm_id.clone().unwrap_or_default();
    let body = read_body(body).await?;
    let (action, args) = parse(&body, &g.gate.restricted_actions).map_err(|r| match r {
        Refused::Restricted(m) => GateError(StatusCode::FORBIDDEN, m),
        Refused::Malformed(m) | Refused::Unsupported(m) => bad_request(m),
    })?;
    g.engine
        .vm_action(c.service.id, &vm_id, action, args)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `extended=true` in the query, or in a form body as OpenNebula's
/// `onegate service show --extended` sends it on a GET.
fn wants_extended(query: Option<&str>, body: &[u8]) -> bool {
    let body = std::str::from_utf8(body).unwrap_or_default();
    [query.unwrap_or_default(), body].iter().any(|text| {
        form(text)
            .iter()
            .any(|(k, v)| k == "extended" && v.eq_ignore_ascii_case("true"))
    })
}

/// The caller's service, rendered once per version of it and of its VMs'
/// reports (`rendered.rs`): every VM may read it every second.
async fn show_service(
    State(g): St,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, GateError> {
    let c = authenticate(&g, &headers).await?;
    let body = read_body(body).await?;
    let s = &c.service;
    let variant = if wants_extended(query.as_deref(), &body) {
        let (user, group) = g.engine.store().owner_names(&s.ownership);
        Variant::Extended { user, group }
    } else {
        Variant::Plain
    };
    let version = Version {
        service: s,
        // Read before rendering: a report that lands meanwhile makes the
        // next request render again.
        reports: g.gate.reports.generation(s.id),
        variant,
    };
    if let Some(body) = g.gate.rendered.get(&version) {
        return Ok(json_bytes(body));
    }
    let body = Bytes::from(render_service(&g, s, &version.variant).to_string());
    g.gate.rendered.put(version, body.clone());
    Ok(json_bytes(body))
}

fn render_service(g: &Gate, s: &Service, variant: &Variant) -> Value {
    // One query for every VM's addresses.
    let leases = g.engine.store().leases_of_service(s.id).unwrap_or_default();
    let roles: Vec<Value> = s
        .roles
        .iter()
        .map(|r| {
            let nodes: Vec<Value> = r
                .nodes
                .iter()
                .filter(|n| n.vm_id.is_some() && !n.terminating)
                .map(|n| {
                    let id = n.vm_id.clone().unwrap_or_default();
                    let deploy_id = id.parse::<u64>().map(Value::from).unwrap_or(json!(id));
                    json!({"deploy_id": deploy_id, "running": null, "vm_info": vm_json(g, s, &r.name, n, &leases, variant)})
                })
                .collect();
            let mut role = json!({
                "name": r.name,
                "cardinality": r.cardinality,
                "state": r.state.number().to_string(),
                "nodes": nodes,
            });
            if let Some(v) = &r.vrouter {
                role["vrouter_id"] = json!(v.id);
                role["vrouter_ips"] = v.oneflow_ips();
            }
            role
        })
        .collect();
    json!({"SERVICE": {
        "name": s.name,
        "id": s.id.to_string(),
        "state": s.state.number(),
        "roles": roles,
    }})
}

/// `{"cardinality": N}`; OpenNebula's `onegate service scale` sends N as
/// a string of digits, which the REST API takes too.
fn cardinality(body: &[u8]) -> Result<u32, GateError> {
    let body: Value = serde_json::from_slice(body).map_err(|e| {
        bad_request(format!(
            "the body must be {{\"cardinality\": N}} with N a whole number: {e}"
        ))
    })?;
    let value = body.get("cardinality").ok_or_else(|| {
        bad_request("cardinality: missing; the body must be {\"cardinality\": N}")
    })?;
    crate::api::body::json_id(value)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| bad_request(format!("cardinality: {value} is not a whole number")))
}

async fn scale_role(
    State(g): St,
    headers: HeaderMap,
    Path(role): Path<String>,
    body: Body,
) -> Result<Response, GateError> {
    let c = authenticate(&g, &headers).await?;
    let cardinality = cardinality(&read_body(body).await?)?;
    // Only the caller's own service: the token's.
    g.engine
        .scale(c.service.id, &role, cardinality, false)
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn show_vrouter(State(g): St, headers: HeaderMap) -> Result<Response, GateError> {
    let c = authenticate(&g, &headers).await?;
    let r = &c.service.roles[c.role];
    let v = r.vrouter.as_ref().ok_or_else(|| {
        GateError(
            StatusCode::NOT_FOUND,
            "This VM is not part of a virtual router".into(),
        )
    })?;
    let vms: Vec<String> = r.nodes.iter().filter_map(|n| n.vm_id.clone()).collect();
    let nics: Vec<Value> = v
        .ips
        .iter()
        .map(|ip| json!({"NIC_ID": ip.nic.to_string(), "NETWORK_ID": ip.network_id, "VROUTER_IP": ip.ip, "FLOATING_IP": "YES"}))
        .collect();
    Ok(json_response(json!({"VROUTER": {
        "ID": v.id.to_string(),
        "NAME": format!("{}({})", r.name, c.service.id),
        "VMS": {"ID": vms},
        "TEMPLATE": {"NIC": nics},
    }})))
}

async fn show_vnet(
    State(g): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, GateError> {
    let c = authenticate(&g, &headers).await?;
    let id: u64 = id.parse().map_err(|_| {
        bad_request(format!(
            "Invalid id format (ID: {id}). ID must be an integer."
        ))
    })?;
    let role = &c.service.roles[c.role];
    let Some(router) = &role.vrouter else {
        return Err(bad_request(
            "Virtual networks information can only be retrieved from Virtual Routers.",
        ));
    };
    let store = g.engine.store();
    let internal = |e: anyhow::Error| {
        GateError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading virtual network {id}: {e}"),
        )
    };
    let vnet = store
        .resource(crate::store::ResourceKind::Vnet, id)
        .map_err(internal)?
        .ok_or_else(|| {
            GateError(
                StatusCode::NOT_FOUND,
                format!("Virtual network {id} not found"),
            )
        })?;
    let readable = super::vnets::readable(&*store, &c.service, role).map_err(internal)?;
    if !super::vnets::may_read(&readable, &vnet) {
        return Err(bad_request(format!(
            "Virtual Network {id} cannot be retrieved from Virtual router {}.",
            router.id
        )));
    }
    Ok(json_response(
        super::vnets::render(&*store, &vnet).map_err(internal)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_read_as_lines_or_forms() {
        let lines = parse_lines("READY=YES\n db_host = \"10.0.0.5\" \n\n").unwrap();
        assert_eq!(
            lines,
            [
                ("READY".into(), "YES".into()),
                ("DB_HOST".into(), "10.0.0.5".into())
            ]
        );
        assert!(
            parse_lines("no equals sign")
                .unwrap_err()
                .1
                .contains("line 1")
        );
        assert!(parse_lines("BAD KEY=1").is_err());
        assert_eq!(
            form("data=A%3D1%0AB%3Dtwo+words&type=1"),
            [
                ("data".into(), "A=1\nB=two words".into()),
                ("type".into(), "1".into())
            ]
        );
        // A stray % is kept as it is.
        assert_eq!(form("data=100%"), [("data".into(), "100%".into())]);
        assert_eq!(unescape_newlines("A=1\\nB=2"), "A=1\nB=2");
    }

    #[test]
    fn a_cardinality_is_a_number_or_a_string_of_digits() {
        assert_eq!(cardinality(br#"{"cardinality": 3}"#).unwrap(), 3);
        assert_eq!(cardinality(br#"{"cardinality": "3"}"#).unwrap(), 3);
        for bad in [
            &br#"{"cardinality": "three"}"#[..],
            br#"{"cardinality": -1}"#,
            br#"{"cardinality": 5000000000}"#,
            br#"{"size": 3}"#,
            b"3",
        ] {
            let e = cardinality(bad).unwrap_err();
            assert_eq!(e.0, StatusCode::BAD_REQUEST);
            assert!(e.1.contains("cardinality"), "{}", e.1);
        }
    }

    #[test]
    fn extended_is_read_from_the_query_or_a_form_body() {
        assert!(wants_extended(Some("extended=true"), b""));
        assert!(wants_extended(None, b"extended=true"));
        assert!(!wants_extended(Some("extended=false"), b""));
        assert!(!wants_extended(None, b""));
    }
}
