//! Runs `avatar-worker convert` and `vipsthumbnail` side by side over the same
//! files: for each class of file, ONE process of each over all its files,
//! both pinned to one core, `VIPS_CONCURRENCY=1`. Prints per class the time
//! per image of each and their ratio, how close each comes to a reference
//! avatar (SSIM; not for HEIC and AVIF, which the reference's decoder does
//! not read), how large each output is, and the time of the library call
//! alone; then the peak memory of each process on a 12 MP and a 48 MP JPEG
//! and a 12 MP iPhone HEIC. The HEIC and AVIF classes are also run against
//! sharp (`sharp-thumbnail.mjs`, when node can load sharp).
//!
//! `AVATARS_TEST_CORPUS=../shared/corpus taskset -c 1 cargo bench -p avatar-pipeline`
//! (`vipsthumbnail` and `vips` come from Debian's `libvips-tools`, `taskset`
//! and `/usr/bin/time` from `util-linux` and `time`).
//! `AVATARS_BENCH_CLASSES=photos,24-48mp` limits the run to some classes,
//! `AVATARS_BENCH_RUNS` sets the timed runs per class (default 5, median
//! counts), `AVATARS_WORKER_BIN` names the worker binary (default: the one
//! beside this benchmark, built when missing).

mod classes;
mod process;
mod reference;
mod ssim;

use std::path::{Path, PathBuf};
use std::time::Instant;

use avatar_pipeline::{Options, convert};
use image::{DynamicImage, ImageFormat, RgbImage};

use crate::classes::Class;
use crate::process::{Converter, Run};

/// What one class measured against one other converter.
struct Measure {
    class: String,
    against: &'static str,
    files: usize,
    ours: Run,
    other: Run,
    /// Median milliseconds of the library call per image, without the process.
    library_ms: f64,
    /// Mean SSIM of ours and of the other against the reference, over the
    /// files whose outputs have the same side; `None` when none could be judged.
    ssim: Option<(f64, f64)>,
    /// Output bytes of ours and of the other, summed over the same files.
    bytes: (usize, usize),
}

fn main() {
    let Some(corpus) = avatar_testkit::corpus::dir("the pipeline benchmark") else {
        return;
    };
    if !process::installed("vipsthumbnail") || !process::installed("vips") {
        eprintln!("vipsthumbnail is not installed (apt package libvips-tools): nothing to compare");
        return;
    }
    let runs = std::env::var("AVATARS_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    let ours = Converter::worker(process::worker_binary());
    let vips = Converter::vipsthumbnail();
    let work = std::env::temp_dir().join(format!("avatar-bench-{}", std::process::id()));
    let sources = std::env::temp_dir().join("avatar-bench-sources");
    let wanted = std::env::var("AVATARS_BENCH_CLASSES").unwrap_or_default();
    let wanted = |class: &str| wanted.is_empty() || wanted.split(',').any(|w| w == class);
    println!(
        "cpu {}, {runs} runs per class, load average {}",
        process::pinned_cpu().unwrap_or_else(|| "not pinned".into()),
        process::load_average()
    );

    let classes: Vec<Class> = classes::all(&corpus, &sources)
        .into_iter()
        .filter(|class| wanted(&class.name))
        .collect();
    let sharp = Converter::sharp();
    if sharp.is_none() {
        println!(
            "sharp is not installed (see sharp-thumbnail.mjs): HEIC and AVIF against vips only"
        );
    }
    let measures: Vec<Measure> = classes
        .iter()
        .flat_map(|class| {
            let with_sharp = classes::FOR_SHARP.contains(&class.name.as_str());
            let others = std::iter::once(&vips).chain(sharp.iter().filter(|_| with_sharp));
            others
                .filter_map(|other| measure(class, &ours, other, &work, runs))
                .collect::<Vec<_>>()
        })
        .collect();
    report(&measures);
    println!("load average {}", process::load_average());

    let photo = classes::files(&corpus.join("photos")).into_iter().next();
    let large = classes::largest(&corpus, &sources);
    let iphone = Some(corpus.join("heic/pillowheif_arrow_iphone8plus.heic")).filter(|p| p.exists());
    for path in photo.iter().chain(&large).chain(&iphone) {
        let out = work.join("memory");
        let ours = ours.run(std::slice::from_ref(path), &out.join("ours"));
        let vips = vips.run(std::slice::from_ref(path), &out.join("vips"));
        let megabytes = |run: &Run| run.max_rss_kb.map_or(f64::NAN, |kb| kb as f64 / 1024.0);
        println!(
            "peak memory {}: ours {:.1} MB, vips {:.1} MB",
            path.file_name().unwrap_or_default().to_string_lossy(),
            megabytes(&ours),
            megabytes(&vips),
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// Times one class against `other`: a first run of each converter finds the
/// files both accept, then `runs` alternating runs of each over those files.
fn measure(
    class: &Class,
    ours: &Converter,
    other: &Converter,
    work: &Path,
    runs: usize,
) -> Option<Measure> {
    let folder = work.join(&class.name);
    let (ours_dir, other_dir) = (folder.join("ours"), folder.join(other.name()));
    ours.run(&class.files, &ours_dir);
    other.run(&class.files, &other_dir);
    let output = |dir: &Path, path: &Path| {
        let stem = path.file_stem()?.to_string_lossy().into_owned();
        std::fs::read(dir.join(format!("{stem}.jpg"))).ok()
    };
    let both: Vec<(PathBuf, Vec<u8>, Vec<u8>)> = class
        .files
        .iter()
        .filter_map(|path| {
            Some((
                path.clone(),
                output(&ours_dir, path)?,
                output(&other_dir, path)?,
            ))
        })
        .collect();
    if both.is_empty() {
        return None;
    }
    let files: Vec<PathBuf> = both.iter().map(|(path, _, _)| path.clone()).collect();
    let mut ours_runs = Vec::new();
    let mut other_runs = Vec::new();
    for _ in 0..runs {
        ours_runs.push(ours.run(&files, &ours_dir));
        other_runs.push(other.run(&files, &other_dir));
    }

    let options = Options::default();
    let mut library_ms = 0.0;
    let (mut ssim_ours, mut ssim_other, mut judged) = (0.0, 0.0, 0usize);
    let (mut bytes_ours, mut bytes_other) = (0, 0);
    for (path, ours_jpeg, other_jpeg) in &both {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        library_ms += median(
            (0..3)
                .map(|_| {
                    let started = Instant::now();
                    let _ = convert(&bytes, &options);
                    started.elapsed().as_secs_f64() * 1000.0
                })
                .collect(),
        );
        let (Some(ours_image), Some(other_image)) = (decode(ours_jpeg), decode(other_jpeg)) else {
            continue;
        };
        if ours_image.dimensions() != other_image.dimensions() {
            continue;
        }
        bytes_ours += ours_jpeg.len();
        bytes_other += other_jpeg.len();
        if let Some(reference) = reference::reference(&bytes, options.size) {
            let reference = grey(&reference);
            ssim_ours += ssim::ssim(&grey(&ours_image), &reference);
            ssim_other += ssim::ssim(&grey(&other_image), &reference);
            judged += 1;
        }
    }
    let ssim = (judged > 0).then(|| (ssim_ours / judged as f64, ssim_other / judged as f64));
    Some(Measure {
        class: class.name.clone(),
        against: other.name(),
        files: files.len(),
        ours: Run::median(ours_runs),
        other: Run::median(other_runs),
        library_ms: library_ms / files.len() as f64,
        ssim,
        bytes: (bytes_ours, bytes_other),
    })
}

/// One line per class; times are per image.
fn report(measures: &[Measure]) {
    println!(
        "{:<12} {:<5} {:>5} {:>8} {:>8} {:>6} {:>7} {:>9} {:>9} {:>6} {:>7}",
        "class",
        "vs",
        "files",
        "ours ms",
        "them ms",
        "ratio",
        "cpu rt",
        "ssim ours",
        "ssim them",
        "bytes",
        "lib ms"
    );
    for m in measures {
        let count = m.files as f64;
        let cpu_ratio = match (m.ours.cpu_ms, m.other.cpu_ms) {
            (Some(ours), Some(vips)) => ours / vips,
            _ => f64::NAN,
        };
        let (ssim_ours, ssim_them) = m.ssim.unwrap_or((f64::NAN, f64::NAN));
        println!(
            "{:<12} {:<5} {:>5} {:>8.1} {:>8.1} {:>6.2} {:>7.2} {:>9.4} {:>9.4} {:>6.3} {:>7.1}",
            m.class,
            m.against,
            m.files,
            m.ours.wall_ms / count,
            m.other.wall_ms / count,
            m.ours.wall_ms / m.other.wall_ms,
            cpu_ratio,
            ssim_ours,
            ssim_them,
            m.bytes.0 as f64 / m.bytes.1.max(1) as f64,
            m.library_ms,
        );
    }
}

fn decode(jpeg: &[u8]) -> Option<RgbImage> {
    image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg)
        .ok()
        .map(DynamicImage::into_rgb8)
}

fn grey(image: &RgbImage) -> image::GrayImage {
    DynamicImage::ImageRgb8(image.clone()).into_luma8()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
