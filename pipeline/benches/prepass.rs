//! The cost of the scan-count pre-pass, beside the conversion it guards,
//! on the corpus's phone photos and other JPEGs (the pipeline runs it on
//! progressive files only; here it runs on every file, to show its cost
//! on the largest):
//!
//!     AVATARS_TEST_CORPUS=../shared/corpus cargo bench -p avatar-pipeline --bench prepass
//!
//! Each figure is the fastest of several runs on one thread.

use std::path::Path;
use std::time::{Duration, Instant};

use avatar_pipeline::{Options, convert, jpeg_scans};

/// The fastest of `runs` calls of `work`.
fn fastest(runs: usize, mut work: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let Some(corpus) = avatar_testkit::corpus::dir("the pre-pass benchmark") else {
        return;
    };
    println!("| file | bytes | scans | pre-pass µs | convert ms | pre-pass share |");
    println!("|---|---|---|---|---|---|");
    let (mut prepass_total, mut convert_total) = (Duration::ZERO, Duration::ZERO);
    for folder in ["photos", "jpeg"] {
        let mut files: Vec<_> = std::fs::read_dir(corpus.join(folder))
            .expect("a corpus folder")
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "jpg"))
            .collect();
        files.sort();
        for path in files {
            let bytes = std::fs::read(&path).expect("a corpus file");
            let mut scans = 0;
            let prepass = fastest(20, || scans = jpeg_scans(std::hint::black_box(&bytes)));
            let converting = fastest(3, || {
                let _ = convert(std::hint::black_box(&bytes), &Options::default());
            });
            prepass_total += prepass;
            convert_total += converting;
            println!(
                "| {} | {} | {scans} | {:.0} | {:.1} | {:.2} % |",
                name(&path),
                bytes.len(),
                prepass.as_secs_f64() * 1e6,
                converting.as_secs_f64() * 1e3,
                100.0 * prepass.as_secs_f64() / converting.as_secs_f64()
            );
        }
    }
    println!(
        "\nall files: pre-pass {:.2} ms, conversion {:.0} ms, share {:.2} %",
        prepass_total.as_secs_f64() * 1e3,
        convert_total.as_secs_f64() * 1e3,
        100.0 * prepass_total.as_secs_f64() / convert_total.as_secs_f64()
    );
}

fn name(path: &Path) -> String {
    let folder = path
        .parent()
        .and_then(Path::file_name)
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{folder}/{file}")
}
