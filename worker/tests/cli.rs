//! `avatar-worker` as an operator starts it: its help names the settings,
//! and a setting it cannot take stops it with status 2 and says which.
//! (Being an integration test, this also has cargo build the binary that
//! the service tests run.)

use std::process::Command;

fn worker() -> Command {
    Command::new(env!("CARGO_BIN_EXE_avatar-worker"))
}

#[test]
fn help_names_the_settings_an_operator_sets() {
    let out = worker().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for setting in [
        "AVATARS_REDIS_URL",
        "AVATARS_CONCURRENCY",
        "AVATARS_WEBHOOK_CONCURRENCY",
        "AVATARS_WEBHOOK_PER_HOST",
        "AVATARS_METRICS_LISTEN",
    ] {
        assert!(help.contains(setting), "--help lacks {setting}");
    }
}

#[test]
fn a_setting_out_of_range_stops_it_saying_which() {
    let out = worker()
        .env("AVATARS_WEBHOOK_PER_HOST", "0")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("webhook-per-host"), "{error}");
}
