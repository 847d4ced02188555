//! `avatar-worker`: parse settings, set up logs, run.
#![forbid(unsafe_code)]

use avatar_worker::{Cli, Command};
use clap::Parser;

fn main() -> std::process::ExitCode {
    // A converter process starts no runtime and reads no settings.
    if let Some(code) = avatar_worker::cage::serve_if_asked() {
        return code;
    }
    worker()
}

#[tokio::main]
async fn worker() -> std::process::ExitCode {
    let cli = Cli::parse();
    avatar_common::telemetry::init(&cli.settings.shared.log);
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => avatar_worker::run(cli.settings).await,
        Command::RequeueFailed { all } => avatar_worker::requeue_failed(cli.settings, all).await,
        Command::Convert {
            size,
            quality,
            cage,
            out_dir,
            files,
        } => {
            let how = avatar_worker::convert::How {
                size,
                quality,
                cage,
            };
            avatar_worker::convert::run(&cli.settings, &how, &out_dir, &files).await
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
