//! `flotilla plugin list | check | call | install | remove`.

use super::connection::ApiArgs;
use super::error::{CliError, Result};
use crate::conformance;
use crate::model::FieldError;
use crate::plugin::{
    CallError, DriverInstance, Grant, NetworkInstance, PluginHost, PluginKind, PlumbingInstance,
    PolicyInstance, VmAction, builtin,
};
use crate::registry::PluginSummary;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum PluginCommand {
    /// The plugins a running server has loaded, with their capabilities.
    List,
    /// Run the conformance suite for a plugin's kind and print the result
    /// (what it is doing goes to stderr as it goes).
    Check {
        /// The component (.wasm); its manifest is <name>.toml or plugin.toml beside it.
        file: PathBuf,
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// A policy's parameter for the suite's evaluations, as a role's
        /// policy would give it (repeat for more). Without any, the
        /// `threshold` plugin's (above=80, below=20); an evaluation the
        /// policy refuses fails the check.
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = key_value)]
        params: Vec<(String, String)>,
        /// A flotilla.toml whose `[plugins.<id>]` grant the plugin is
        /// checked with (a plumbing plugin's `link` grant: its prefixes and
        /// underlays, on devices in memory, never the host's).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Install a plugin on the running server and use it at once (oneadmin
    /// group). A policy plugin of the same id is replaced once its running
    /// evaluations finish.
    Install {
        /// The component (.wasm); its manifest is <name>.toml or plugin.toml beside it.
        file: PathBuf,
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Remove an installed plugin from the running server (oneadmin
    /// group): its files go and it is used no more. Built-in plugins, and
    /// plugins flotilla.toml's engine settings or a service's policy use,
    /// are refused, naming what uses them.
    Remove {
        /// The plugin's id, as `plugin list` shows it.
        id: String,
    },
    /// Call one export with JSON arguments, for debugging.
    ///
    /// Drivers: info | create SPEC | act VM-ID ACTION [ARGS] | poll IDS | list.
    /// Policies: info | evaluate EVALUATION. Network modes: info | deploy
    /// REQUEST | status LEASE | undeploy LEASE. Plumbing: info | pre
    /// SEGMENT PORT | sweep SEGMENTS PORTS (without a grant, every link
    /// call is denied).
    Call {
        /// A built-in plugin's id (sim, threshold, static) or a .wasm file.
        plugin: String,
        function: String,
        /// Arguments, one JSON value each.
        args: Vec<String>,
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// A driver's backend, granted for the call and passed as its `endpoint`.
        #[arg(long, default_value = "http://127.0.0.1:2475")]
        endpoint: String,
    },
    #[command(subcommand)]
    Grant(super::grant::GrantCommand),
}

pub async fn run(args: &ApiArgs, cmd: PluginCommand) -> Result<ExitCode> {
    let json = args.json;
    // Faults are part of the output of check and call; keep the log quiet.
    super::init_tracing("error");
    match cmd {
        PluginCommand::List => list(args).await,
        PluginCommand::Grant(cmd) => super::grant::run(cmd),
        PluginCommand::Check {
            file,
            manifest,
            params,
            config,
        } => check(file, manifest, params, config, json).await,
        PluginCommand::Install { file, manifest } => install(args, file, manifest).await,
        PluginCommand::Remove { id } => remove(args, &id).await,
        PluginCommand::Call {
            plugin,
            function,
            args,
            manifest,
            endpoint,
        } => tokio::task::spawn_blocking(move || {
            call(&plugin, &function, &args, manifest, &endpoint)
        })
        .await
        .map_err(CliError::local)?,
    }
}

async fn list(args: &ApiArgs) -> Result<ExitCode> {
    let value = args.connect()?.get("/plugins").await?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let plugins: Vec<PluginSummary> = serde_json::from_value(value["plugins"].clone())
        .map_err(|e| format!("unexpected answer from {}: {e}", args.base_url()))?;
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header([
        "ID",
        "KIND",
        "VERSION",
        "WIT",
        "SOURCE",
        "STATUS",
        "OUTBOUND HOSTS",
        "PROGRAMS",
        "DEVICES",
        "LIMITS",
        "CALLS",
        "FAULTS",
    ]);
    for p in plugins {
        let hosts = if p.allowed_outbound_hosts.is_empty() {
            "-".to_string()
        } else {
            p.allowed_outbound_hosts.join(",")
        };
        let programs = if p.programs.is_empty() {
            "-".to_string()
        } else {
            p.programs.join(",")
        };
        // `flb-*,flx-* over eth1`: the names it may touch, and where its
        // VXLAN devices may run.
        let devices = match &p.link {
            None => "-".to_string(),
            Some(link) => {
                let names: Vec<String> = link.prefixes.iter().map(|p| format!("{p}*")).collect();
                if link.underlays.is_empty() {
                    names.join(",")
                } else {
                    format!("{} over {}", names.join(","), link.underlays.join(","))
                }
            }
        };
        let limits = if p.timeout_ms > 0 {
            format!("{}ms/{}MiB", p.timeout_ms, p.memory_mb)
        } else {
            "-".into()
        };
        let status = status(&p);
        // A driver hosts can be created for.
        let kind = if p.manages_hosts {
            format!("{} (fleet)", p.kind)
        } else {
            p.kind
        };
        table.add_row([
            p.id,
            kind,
            p.version,
            p.api,
            p.source,
            status,
            hosts,
            programs,
            devices,
            limits,
            p.calls.to_string(),
            p.faults.to_string(),
        ]);
    }
    outln!("{table}");
    Ok(ExitCode::SUCCESS)
}

/// `quarantined until 2025-01-02 10:00:15 UTC (14 s)` while a plugin rests
/// after repeated faults; otherwise the status as the server says it.
fn status(p: &PluginSummary) -> String {
    match p.quarantined_until {
        Some(until) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            format!(
                "quarantined until {} UTC ({} s)",
                super::output::time(&serde_json::Value::from(until)),
                until.saturating_sub(now)
            )
        }
        None => p.status.clone(),
    }
}

/// The manifest beside a component, as `plugin check` finds it; an
/// install without one is refused here rather than by the server.
fn manifest_text(file: &std::path::Path, manifest: Option<PathBuf>) -> Result<String> {
    let candidates = match manifest {
        Some(m) => vec![m],
        None => vec![
            file.with_extension("toml"),
            file.with_file_name("plugin.toml"),
        ],
    };
    for candidate in &candidates {
        if candidate.exists() {
            return std::fs::read_to_string(candidate)
                .map_err(|e| CliError::Local(format!("{}: {e}", candidate.display())));
        }
    }
    let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    Err(CliError::Local(format!(
        "no manifest for {}: looked for {}; give one with --manifest",
        file.display(),
        looked.join(" and ")
    )))
}

async fn install(args: &ApiArgs, file: PathBuf, manifest: Option<PathBuf>) -> Result<ExitCode> {
    use base64::Engine as _;
    let manifest = manifest_text(&file, manifest)?;
    progress(&format!("reading {}", file.display()));
    let wasm = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let body = serde_json::json!({
        "manifest": manifest,
        "wasm": base64::engine::general_purpose::STANDARD.encode(&wasm),
    });
    progress(&format!(
        "uploading {:.1} MB to {}; the server then compiles and checks it (a Python or JavaScript component takes a while)",
        wasm.len() as f64 / 1e6,
        args.base_url()
    ));
    let installed = args.connect()?.post("/plugins", body).await?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&installed).unwrap_or_default()
        );
    } else {
        let p: PluginSummary = serde_json::from_value(installed)
            .map_err(|e| format!("unexpected answer from {}: {e}", args.base_url()))?;
        outln!(
            "installed {} {} ({}), {}: {}",
            p.id,
            p.version,
            p.kind,
            p.digest,
            p.status
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn remove(args: &ApiArgs, id: &str) -> Result<ExitCode> {
    args.connect()?
        .delete(&format!("/plugins/{id}"), None)
        .await?;
    outln!("removed {id}");
    Ok(ExitCode::SUCCESS)
}

/// What a long command is doing, on stderr (stdout is the result).
fn progress(what: &str) {
    eprintln!("{what}");
}

/// `KEY=VALUE`, for `--param`.
fn key_value(text: &str) -> Result<(String, String), FieldError> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(FieldError::new(format!("`{text}`"), "expected KEY=VALUE")),
    }
}

async fn check(
    file: PathBuf,
    manifest: Option<PathBuf>,
    params: Vec<(String, String)>,
    config: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode> {
    let grants = match &config {
        Some(path) => {
            crate::config::Config::load(path)
                .map_err(|e| CliError::Local(e.to_string()))?
                .plugins
        }
        None => Default::default(),
    };
    let host = PluginHost::new(None).map_err(|e| format!("plugin host: {e:#}"))?;
    let options = conformance::CheckOptions {
        params,
        progress: conformance::Progress::new(progress),
        grants,
    };
    let report = conformance::check_file_with(&host, &file, manifest.as_deref(), &options).await?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        outln!("{}", report.render());
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Argument `i` (from 0) of `plugin call`, read as JSON.
fn arg<T: serde::de::DeserializeOwned>(
    args: &[String],
    i: usize,
    what: &str,
) -> Result<T, FieldError> {
    let raw = args
        .get(i)
        .ok_or_else(|| FieldError::new(format!("argument {}", i + 1), format!("missing {what}")))?;
    serde_json::from_str(raw)
        .map_err(|e| FieldError::new(format!("argument {} ({what})", i + 1), e.to_string()))
}

fn call(
    plugin: &str,
    function: &str,
    args: &[String],
    manifest: Option<PathBuf>,
    endpoint: &str,
) -> Result<ExitCode> {
    let host = PluginHost::new(None).map_err(|e| format!("plugin host: {e:#}"))?;
    let file = match builtin::find(plugin) {
        Some(b) => conformance::PluginFile {
            manifest: b.manifest(),
            wasm: b.wasm.to_vec(),
            manifest_source: conformance::ManifestSource::BuiltIn,
        },
        None => {
            conformance::read_plugin_file(&host, std::path::Path::new(plugin), manifest.as_deref())?
        }
    };
    let mut grant = Grant::default();
    if file.manifest.kind == PluginKind::Driver {
        grant
            .allowed_outbound_hosts
            .push(endpoint.trim_end_matches('/').to_string());
        grant.config.insert("endpoint".into(), endpoint.to_string());
    }
    let loaded = host
        .load(file.manifest, &file.wasm, grant)
        .map_err(CliError::local)?;
    let result: Result<serde_json::Value, CallError> = match loaded.kind() {
        PluginKind::Driver => {
            let mut d = DriverInstance::new(loaded).map_err(CliError::local)?;
            match function {
                "info" => d.info().map(|v| serde_json::json!(v)),
                "create" => d
                    .create(&arg(args, 0, "a VM spec object")?)
                    .map(|v| serde_json::json!(v)),
                "act" => {
                    let vm: String = args.first().cloned().ok_or("argument 1: missing VM id")?;
                    let name = args
                        .get(1)
                        .ok_or("argument 2: missing action (terminate, poweroff, …)")?;
                    let action = VmAction::try_from(name.clone()).map_err(CliError::local)?;
                    let kv: std::collections::BTreeMap<String, String> = if args.len() > 2 {
                        arg(args, 2, "an object of action arguments")?
                    } else {
                        Default::default()
                    };
                    let kv: Vec<_> = kv
                        .into_iter()
                        .map(|(key, value)| crate::plugin::KeyValue { key, value })
                        .collect();
                    d.act(&vm, action, &kv).map(|_| serde_json::json!(null))
                }
                "poll" => d
                    .poll(&arg::<Vec<String>>(args, 0, "an array of VM ids")?)
                    .map(|v| serde_json::json!(v)),
                "list" => d.list().map(|v| serde_json::json!(v)),
                "monitor" => d
                    .monitor_hosts(&arg::<Vec<crate::plugin::HostProbe>>(
                        args,
                        0,
                        "an array of hosts, each {\"name\", \"address\"}",
                    )?)
                    .map(|outcomes| {
                        let outcomes: Vec<_> = outcomes
                            .into_iter()
                            .map(|o| match o {
                                Ok(m) => serde_json::json!({ "monitoring": m }),
                                Err(e) => serde_json::json!({ "error": e }),
                            })
                            .collect();
                        serde_json::json!(outcomes)
                    }),
                other => {
                    return Err(CliError::Local(format!(
                        "`{other}` is not a driver function (info, create, act, poll, list, monitor)"
                    )));
                }
            }
        }
        PluginKind::Elasticity => {
            let mut p = PolicyInstance::new(loaded).map_err(CliError::local)?;
            match function {
                "info" => p.info().map(|v| serde_json::json!(v)),
                "evaluate" => p
                    .evaluate(&arg(args, 0, "an evaluation object")?)
                    .map(|v| serde_json::json!(v)),
                other => {
                    return Err(CliError::Local(format!(
                        "`{other}` is not a policy function (info, evaluate)"
                    )));
                }
            }
        }
        PluginKind::Network => {
            let mut n = NetworkInstance::new(loaded).map_err(CliError::local)?;
            match function {
                "info" => n.info().map(|v| serde_json::json!(v)),
                "deploy" => n
                    .deploy(&arg(args, 0, "a network request object")?)
                    .map(|v| serde_json::json!(v)),
                "status" => n
                    .status(&arg(args, 0, "a lease object")?)
                    .map(|v| serde_json::json!(v)),
                "undeploy" => n
                    .undeploy(&arg(args, 0, "a lease object")?)
                    .map(|_| serde_json::json!(null)),
                other => {
                    return Err(CliError::Local(format!(
                        "`{other}` is not a network function (info, deploy, status, undeploy)"
                    )));
                }
            }
        }
        PluginKind::Plumbing => {
            let mut p = PlumbingInstance::new(loaded).map_err(CliError::local)?;
            match function {
                "info" => p.info().map(|v| serde_json::json!(v)),
                "pre" => p
                    .pre(
                        None,
                        &arg(args, 0, "a segment object")?,
                        &arg(args, 1, "a port object")?,
                    )
                    .map(|v| serde_json::json!(v)),
                "sweep" => p
                    .sweep(
                        None,
                        &arg::<Vec<_>>(args, 0, "an array of segments")?,
                        &arg::<Vec<_>>(args, 1, "an array of ports")?,
                    )
                    .map(|v| serde_json::json!(v)),
                other => {
                    return Err(CliError::Local(format!(
                        "`{other}` is not a plumbing function (info, pre, sweep)"
                    )));
                }
            }
        }
    };
    match result {
        Ok(value) => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
