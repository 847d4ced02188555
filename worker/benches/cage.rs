//! What the cage costs: the corpus's 12 MP phone photos and its HEIC
//! files, converted one after another in this process and in a converter
//! process (`avatar-worker`'s own), file by file, each way first every
//! other time, so that both see the same machine. Prints per class the median time per image of
//! each and their ratio; every avatar must be the same bytes both ways.
//!
//! `AVATARS_TEST_CORPUS=../shared/corpus taskset -c 1 cargo bench -p avatar-worker --bench cage`
//! (`AVATARS_BENCH_RUNS` sets the rounds over each class, default 9).

use std::path::{Path, PathBuf};
use std::time::Instant;

use avatar_common::settings::{LogFormat, LogSettings};
use avatar_pipeline::Options;
use avatar_worker::cage::{Cage, Reply};
use avatar_worker::settings::ConverterSettings;
use bytes::Bytes;

fn files(dir: &Path, ending: &str) -> Vec<(PathBuf, Bytes)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case(ending))
            && !p.to_string_lossy().contains("truncated")
    });
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("a corpus file");
            (p, Bytes::from(bytes))
        })
        .collect()
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(corpus) = avatar_testkit::corpus::dir("the cage benchmark") else {
        return;
    };
    let runs: usize = std::env::var("AVATARS_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(9)
        .max(1);
    let settings = ConverterSettings {
        converter_memory_mb: 1024,
        converter_recycle_mb: 256,
        converter_seccomp: true,
        converter_in_process: false,
        fault_converter_hooks: false,
    };
    let log = LogSettings {
        log_format: LogFormat::Text,
        log: "warn".into(),
    };
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_avatar-worker"));
    let cage = Cage::start_from(exe, &settings, &log, 1).expect("a converter starts");
    let options = Options::default();
    let budget = avatar_pipeline::TimeBudget::default();
    println!("{runs} rounds; median ms per image, in this process and in a converter");
    println!("| class | files | in process ms | caged ms | ratio |");
    println!("|---|---:|---:|---:|---:|");
    for (class, files) in [
        ("photos (12 MP JPEG)", files(&corpus.join("photos"), "jpg")),
        ("heic", files(&corpus.join("heic"), "heic")),
    ] {
        let (mut inside, mut caged) = (Vec::new(), Vec::new());
        let mut converted = 0;
        for round in 0..runs {
            for (index, (path, bytes)) in files.iter().enumerate() {
                // Each way goes first every other time, so that neither
                // always meets the caches the other left.
                let caged_first = (round + index) % 2 == 1;
                let (mut reply, mut caged_ms) = (None, 0.0);
                if caged_first {
                    let started = Instant::now();
                    reply = Some(cage.convert(bytes, &options, budget, "bench").await);
                    caged_ms = started.elapsed().as_secs_f64() * 1e3;
                }
                let started = Instant::now();
                let alone = avatar_pipeline::convert(bytes, &options);
                let alone_ms = started.elapsed().as_secs_f64() * 1e3;
                if !caged_first {
                    let started = Instant::now();
                    reply = Some(cage.convert(bytes, &options, budget, "bench").await);
                    caged_ms = started.elapsed().as_secs_f64() * 1e3;
                }
                let reply = reply.expect("converted both ways");
                match (alone, reply) {
                    (Ok(a), Ok(Reply::Avatar { jpeg, .. })) => {
                        assert_eq!(a.jpeg, jpeg, "{}: the same bytes both ways", path.display());
                        inside.push(alone_ms);
                        caged.push(caged_ms);
                        converted += 1;
                    }
                    // Refused both ways (the 200 MP grid): not timed.
                    (Err(_), Ok(Reply::Refused { .. })) => {}
                    (alone, reply) => {
                        panic!(
                            "{}: {:?} in process, {reply:?} caged",
                            path.display(),
                            alone.err()
                        )
                    }
                }
            }
        }
        if inside.is_empty() {
            continue;
        }
        let (a, c) = (median(inside), median(caged));
        println!(
            "| {class} | {} | {a:.1} | {c:.1} | {:.3} |",
            converted / runs,
            c / a
        );
    }
}
