//! The `flotilla` command line.

/// `println!` for what the CLI prints: when the reader has gone away
/// (`flotilla service list | head -1`) the command ends quietly with
/// success, as Unix tools do, instead of panicking on the closed pipe.
macro_rules! outln {
    () => {
        $crate::cli::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` with the same handling of a closed pipe as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!($($arg)*))
    };
}

mod accounts;
mod backup;
mod bench;
mod config;
mod connection;
mod error;
mod explain;
mod grant;
mod hosts;
mod names;
mod networks;
mod output;
mod ownership;
mod plugin;
mod policy;
mod resources;
mod serve;
mod services;
mod systemd;
mod templates;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "flotilla",
    version,
    about = "Orchestrate multi-tier VM applications; drivers, policies and network modes are WebAssembly plugins"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    api: connection::ApiArgs,
}

#[derive(clap::Args, Clone)]
pub struct DataArgs {
    /// Where Flotilla keeps its database, plugin cache and installed plugins.
    #[arg(long, env = "FLOTILLA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DataArgs {
    pub fn dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(crate::config::default_data_dir)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (API on 127.0.0.1:2474, simulated hypervisor on 127.0.0.1:2475).
    Serve(serve::ServeArgs),
    /// Run the simulated hypervisor on its own.
    SimHypervisor(serve::SimArgs),
    /// Service templates: create, list, show, update, delete, clone, instantiate, …
    #[command(subcommand)]
    Template(templates::TemplateCommand),
    /// Services: list, show, top, delete, recover, scale, action, add-role, …
    #[command(subcommand)]
    Service(services::ServiceCommand),
    /// VM templates, the VMs' attributes (CPU, MEMORY, DISK, NIC, CONTEXT, …).
    #[command(subcommand)]
    VmTemplate(resources::ResourceCommand),
    /// Images, which VM templates' disks refer to.
    #[command(subcommand)]
    Image(resources::ResourceCommand),
    /// Virtual networks: address ranges, leases, reservations.
    #[command(subcommand)]
    Vnet(networks::VnetCommand),
    /// Virtual network templates, instantiated into networks.
    #[command(subcommand)]
    Vntemplate(networks::VntemplateCommand),
    /// Hosts VMs are placed on: create, list, show, enable, disable, offline, delete.
    #[command(subcommand)]
    Host(hosts::HostCommand),
    /// Users.
    #[command(subcommand)]
    User(accounts::UserCommand),
    /// Groups.
    #[command(subcommand)]
    Group(accounts::GroupCommand),
    /// List, check and call plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Elasticity policies: simulate them before they go live.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Check a configuration file without a server.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Copy the store to FILE, consistently, while the server runs.
    Backup(backup::BackupArgs),
    /// Put a backup in place as the store (the server must be stopped).
    Restore(backup::BackupArgs),
    /// Measure Flotilla's performance.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Print a shell's completion script: `flotilla completion bash >
    /// /etc/bash_completion.d/flotilla`, or for zsh into a folder of $fpath
    /// as `_flotilla`, for fish into ~/.config/fish/completions/flotilla.fish.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Commands that never talk to a server: the API flags (`--url`, `--user`,
/// `--json`, …) are accepted there but not shown in their help.
const LOCAL_ONLY: &[&[&str]] = &[
    &["serve"],
    &["sim-hypervisor"],
    &["config"],
    &["backup"],
    &["restore"],
    &["bench"],
    &["completion"],
    &["plugin", "check"],
    &["plugin", "call"],
];

impl Cli {
    /// The command line as clap sees it, the API flags hidden from the
    /// local-only commands.
    pub fn command_line() -> clap::Command {
        let mut command = Cli::command();
        // A subcommand that has an argument of a global one's id keeps its
        // own: give the local-only ones hidden copies.
        let hidden: Vec<clap::Arg> = command
            .get_arguments()
            .filter(|a| a.is_global_set())
            .map(|a| a.clone().hide(true))
            .collect();
        for path in LOCAL_ONLY {
            command = hide_in(command, path, &hidden);
        }
        command
    }

    /// Parse the process's arguments (exits with clap's message on an error).
    pub fn from_env() -> Cli {
        let matches = Cli::command_line().get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

fn hide_in(command: clap::Command, path: &[&str], hidden: &[clap::Arg]) -> clap::Command {
    match path {
        [] => command.args(hidden.iter().cloned()),
        [first, rest @ ..] => command.mut_subcommand(*first, |sub| hide_in(sub, rest, hidden)),
    }
}

pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::SimHypervisor(args) => serve::sim_hypervisor(args).await,
        Command::Template(cmd) => templates::run(&cli.api, cmd).await,
        Command::Service(cmd) => services::run(&cli.api, cmd).await,
        Command::VmTemplate(cmd) => resources::run(&cli.api, resources::VM_TEMPLATE, cmd).await,
        Command::Image(cmd) => resources::run(&cli.api, resources::IMAGE, cmd).await,
        Command::Vnet(cmd) => networks::vnet(&cli.api, cmd).await,
        Command::Vntemplate(cmd) => networks::vntemplate(&cli.api, cmd).await,
        Command::Host(cmd) => hosts::run(&cli.api, cmd).await,
        Command::User(cmd) => accounts::users(&cli.api, cmd).await,
        Command::Group(cmd) => accounts::groups(&cli.api, cmd).await,
        Command::Plugin(cmd) => plugin::run(&cli.api, cmd).await,
        Command::Policy(cmd) => policy::run(&cli.api, cmd).await,
        Command::Bench(cmd) => bench::run(cmd).await,
        Command::Backup(args) => backup::backup(args),
        Command::Config(cmd) => config::run(cmd),
        Command::Restore(args) => backup::restore(args),
        Command::Completion { shell } => {
            let mut command = Cli::command_line();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "flotilla", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

pub fn init_tracing(default: &str) {
    init_tracing_as(default, LogFormat::Text);
}

/// How the server writes its log to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one readable line per event.
    Text,
    /// For machines: one JSON object per line, with the fields of the
    /// spans it happened in (request_id, service, plugin, …).
    Json,
}

pub fn init_tracing_as(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLOTILLA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init(),
    };
}
