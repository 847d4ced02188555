//! `avatar-worker`: parse settings, set up logs, run.
#![forbid(unsafe_code)]

use avatar_worker::{Cli, Command};
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    avatar_common::telemetry::init(&cli.settings.shared.log);
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => avatar_worker::run(cli.settings).await,
        Command::RequeueFailed { all } => avatar_worker::requeue_failed(cli.settings, all).await,
        Command::Convert {
            size,
            quality,
            out_dir,
            files,
        } => {
            avatar_worker::convert::run(&cli.settings.shared.image, size, quality, &out_dir, &files)
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("avatar-worker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
