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
