//! What making every side a page shows costs over the largest alone: per
//! photo, the conversion with `AVATARS_SIZES=512,256,128,64` beside the same
//! conversion making 512 alone, in one run, on the corpus's 12 MP phone
//! photos and its iPhone HEIC. Both make the placeholder.
//!
//!     AVATARS_TEST_CORPUS=../shared/corpus taskset -c 1 cargo bench -p avatar-pipeline --bench sizes
//!
//! The two are run in turn, `AVATARS_BENCH_RUNS` times each (default 7);
//! each figure is the median.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use avatar_pipeline::{Options, convert};

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|e| e == extension))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn main() {
    let Some(corpus) = avatar_testkit::corpus::dir("the sizes benchmark") else {
        return;
    };
    let runs = std::env::var("AVATARS_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7usize)
        .max(1);
    let alone = Options::default();
    let every = Options {
        smaller: vec![256, 128, 64],
        ..Options::default()
    };
    let mut photos = files(&corpus.join("photos"), "jpg");
    photos.extend(
        files(&corpus.join("heic"), "heic")
            .into_iter()
            .filter(|path| path.to_string_lossy().contains("iphone")),
    );
    println!("{runs} runs each, median");
    println!("| photo | 512 ms | 512,256,128,64 ms | more |");
    println!("|---|---|---|---|");
    let (mut total_alone, mut total_every) = (Duration::ZERO, Duration::ZERO);
    for path in &photos {
        let bytes = std::fs::read(path).expect("a corpus file");
        let (mut times_alone, mut times_every) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            for (options, times) in [(&alone, &mut times_alone), (&every, &mut times_every)] {
                let started = Instant::now();
                let avatar = convert(std::hint::black_box(&bytes), options).expect("converts");
                times.push(started.elapsed());
                assert_eq!(avatar.smaller.len(), options.smaller.len());
            }
        }
        let (one, all) = (median(times_alone), median(times_every));
        total_alone += one;
        total_every += all;
        println!(
            "| {} | {:.1} | {:.1} | {:+.1} % |",
            path.file_name().unwrap_or_default().to_string_lossy(),
            one.as_secs_f64() * 1e3,
            all.as_secs_f64() * 1e3,
            100.0 * (all.as_secs_f64() / one.as_secs_f64() - 1.0)
        );
    }
    if !photos.is_empty() {
        println!(
            "| all {} | {:.1} | {:.1} | {:+.1} % |",
            photos.len(),
            total_alone.as_secs_f64() * 1e3 / photos.len() as f64,
            total_every.as_secs_f64() * 1e3 / photos.len() as f64,
            100.0 * (total_every.as_secs_f64() / total_alone.as_secs_f64() - 1.0)
        );
    }
}
