//! `avatar-import`'s own usage: its help explains every flag, and a usage
//! error exits 2. Its runs against the service are in the API's tests,
//! which run the binary this test has cargo build.

use std::process::Command;

fn import() -> Command {
    Command::new(env!("CARGO_BIN_EXE_avatar-import"))
}

#[test]
fn help_explains_every_flag() {
    let out = import().arg("--help").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--api",
        "--token",
        "--mode",
        "--failures",
        "--files-root",
        "--max-file-bytes",
        "--chunk",
        "--concurrency",
        "Example:",
        "Exit status",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}: {help}");
    }
}

#[test]
fn a_usage_error_exits_2() {
    let out = import()
        .args([
            "--api",
            "http://127.0.0.1:1",
            "--token",
            "t",
            "--mode",
            "sometimes",
            "x.csv",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}
