//! `avatar-api`: parse settings, set up logs, run.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    // With `--workers N`, the API starts converter processes from its own
    // binary; such a process starts no runtime and reads no settings.
    #[cfg(feature = "workers")]
    if let Some(code) = avatar_worker::cage::serve_if_asked() {
        return code;
    }
    api()
}

#[tokio::main]
async fn api() -> std::process::ExitCode {
    let cli = avatar_api::Cli::parse();
    if let Some(avatar_api::Command::Token(args)) = &cli.command {
        return match avatar_api::auth::make_token(&cli.settings.auth, args) {
            Ok(token) => {
                println!("{token}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("avatar-api token: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    avatar_common::telemetry::init(&cli.settings.shared.log);
    match avatar_api::run(cli.settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("avatar-api: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
