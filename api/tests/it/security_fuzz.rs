//! Every input the fuzz targets ever failed on, kept under
//! `fuzz/regressions/<target>/`, fed through the same checks the targets
//! run, so a fixed finding stays fixed under `cargo test`.

use std::path::PathBuf;

#[path = "../../../fuzz/src/checks.rs"]
mod checks;

fn saved_inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.file_name().is_some_and(|n| n != ".gitkeep"))
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a saved input");
            (path, bytes)
        })
        .collect();
    inputs.sort();
    inputs
}

fn replay(target: &str, check: fn(&[u8])) {
    for (path, bytes) in saved_inputs(target) {
        let outcome = std::panic::catch_unwind(|| check(&bytes));
        assert!(outcome.is_ok(), "{} fails again", path.display());
    }
}

#[test]
fn saved_pipeline_findings_convert_or_fail_cleanly() {
    replay("pipeline", checks::pipeline);
}

#[test]
fn saved_sniffer_findings_are_judged_from_the_leading_bytes() {
    replay("sniff", checks::sniff_format);
}

#[test]
fn saved_parser_findings_are_refused_or_round_trip() {
    replay("parsers", checks::parsers);
}

/// The saved pipeline findings include files a decoder panics on. The worker
/// survives those (the pipeline catches the panic and fails the file as
/// damaged), and the panic reaches its log as a JSON event like any other,
/// not as a bare line that breaks a log collector's parsing.
#[test]
fn a_caught_decoder_panic_is_logged_as_a_json_event() {
    let out_dir = std::env::temp_dir().join(format!("avatar-panic-log-{}", ulid::Ulid::generate()));
    let files: Vec<PathBuf> = saved_inputs("pipeline")
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    let output = std::process::Command::new(crate::support::app::worker_binary())
        .arg("convert")
        .arg("--out-dir")
        .arg(&out_dir)
        .args(&files)
        .env("AVATARS_LOG_FORMAT", "json")
        .env("AVATARS_LOG", "info")
        .output()
        .expect("cannot run avatar-worker");
    std::fs::remove_dir_all(&out_dir).ok();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.matches(": failed: ").count(),
        files.len(),
        "every saved finding fails cleanly:\n{stdout}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The command's own verdict closes standard error as one plain line.
    let (log, verdict) = stderr
        .trim_end()
        .rsplit_once('\n')
        .expect("log lines before the verdict");
    assert_eq!(
        verdict,
        format!("avatar-worker: {0} of {0} file(s) failed", files.len())
    );
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"))
        })
        .collect();
    assert!(
        events
            .iter()
            .any(|event| event["level"] == "ERROR" && event["panic.location"].is_string()),
        "no panic among the logged events:\n{stderr}"
    );
}
