//! `avatar-api`: parse settings, set up logs, run.
#![forbid(unsafe_code)]

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = avatar_api::Cli::parse();
    avatar_common::telemetry::init(&cli.settings.shared.log);
    match avatar_api::run(cli.settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("avatar-api: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
