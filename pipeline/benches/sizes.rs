//! What the options beyond the centre square of 512 cost, per photo, in
//! one run: every side a page shows (`AVATARS_SIZES=512,256,128,64`), the
//! attention crop (`AVATARS_CROP=attention`) and the face crop
//! (`AVATARS_CROP=face`, which falls back to attention where it finds no
//! face), each beside the same conversion of the centre square at 512
//! alone, on the corpus's 12 MP phone photos and its iPhone HEIC. All make
//! the placeholder.
//!
//!     AVATARS_TEST_CORPUS=../shared/corpus taskset -c 1 cargo bench -p avatar-pipeline --bench sizes
//!
//! The four are run in turn, `AVATARS_BENCH_RUNS` times each (default
//! 7); each figure is the median.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use avatar_pipeline::{Options, Placement, convert};

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

fn ms(time: Duration) -> f64 {
    time.as_secs_f64() * 1e3
}

fn more(time: Duration, than: Duration) -> f64 {
    100.0 * (time.as_secs_f64() / than.as_secs_f64() - 1.0)
}

/// The centre square's time, then each other's with how much more it is,
/// every time divided by `n`.
fn row(times: [Duration; 4], n: f64) -> String {
    let [centre, rest @ ..] = times;
    let mut cells = vec![format!("{:.1}", ms(centre) / n)];
    for time in rest {
        cells.push(format!(
            "{:.1} | {:+.1} %",
            ms(time) / n,
            more(time, centre)
        ));
    }
    cells.join(" | ")
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
    let variants = [
        Options::default(),
        Options {
            smaller: vec![256, 128, 64],
            ..Options::default()
        },
        Options {
            placement: Placement::Attention,
            ..Options::default()
        },
        Options {
            placement: Placement::Face,
            ..Options::default()
        },
    ];
    let mut photos = files(&corpus.join("photos"), "jpg");
    photos.extend(
        files(&corpus.join("heic"), "heic")
            .into_iter()
            .filter(|path| path.to_string_lossy().contains("iphone")),
    );
    println!("{runs} runs each, median");
    println!(
        "| photo | centre 512 ms | 512,256,128,64 ms | more | attention ms | more | face ms | more |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut totals = [Duration::ZERO; 4];
    for path in &photos {
        let bytes = std::fs::read(path).expect("a corpus file");
        let mut times: [Vec<Duration>; 4] = Default::default();
        for _ in 0..runs {
            for (options, times) in variants.iter().zip(times.iter_mut()) {
                let started = Instant::now();
                let avatar = convert(std::hint::black_box(&bytes), options).expect("converts");
                times.push(started.elapsed());
                assert_eq!(avatar.smaller.len(), options.smaller.len());
            }
        }
        let medians = times.map(median);
        for (total, time) in totals.iter_mut().zip(medians) {
            *total += time;
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        println!("| {name} | {} |", row(medians, 1.0));
    }
    if !photos.is_empty() {
        let n = photos.len() as f64;
        println!("| all {} (mean) | {} |", photos.len(), row(totals, n));
    }
}
