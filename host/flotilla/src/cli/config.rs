//! `flotilla config check FILE`: validate a configuration without a
//! server, as a start or a reload would read it.

use super::error::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Parse and validate a flotilla.toml; say what it sets. The plugins it
    /// names must be built in or installed in the data directory.
    Check {
        file: PathBuf,
        #[command(flatten)]
        data: super::DataArgs,
    },
}

pub fn run(cmd: ConfigCommand) -> Result<ExitCode> {
    let ConfigCommand::Check { file, data } = cmd;
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let config = crate::config::Config::parse(&text)
        .and_then(|c| {
            c.check_plugin_ids(&crate::config::available_plugins(Some(&data.dir())))?;
            Ok(c)
        })
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let grants: Vec<&str> = config.plugins.keys().map(String::as_str).collect();
    outln!(
        "{}: valid. API on {}, driver `{}`, simulated hypervisor {}, grants for {}",
        file.display(),
        config.server.listen,
        config.engine.driver,
        if config.sim.enabled {
            format!("on {}", config.sim.listen)
        } else {
            "off".into()
        },
        if grants.is_empty() {
            "no plugin".to_string()
        } else {
            grants.join(", ")
        }
    );
    Ok(ExitCode::SUCCESS)
}
