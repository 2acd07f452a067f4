use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    flotilla::cli::run(flotilla::cli::Cli::from_env()).await
}
