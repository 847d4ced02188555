//! Runs the pipeline and `vipsthumbnail` side by side over the same files and
//! prints, for each class of file, how long each takes, how close each comes
//! to a reference avatar (SSIM) and how large each output is; then the peak
//! memory of the pipeline on a 12 MP photo and on a 48 MP JPEG made from it.
//!
//! `AVATARS_TEST_CORPUS=../shared/corpus taskset -c 0 cargo bench -p avatar-pipeline`
//! (one core; `vipsthumbnail` comes from Debian's `libvips-tools`).
//! `AVATARS_BENCH_CLASSES=photos,large` limits the run to some classes.

mod reference;
mod ssim;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use avatar_pipeline::{Options, convert};
use image::{DynamicImage, ImageFormat, RgbImage};

/// Timed runs of each converter per file; the median counts.
const RUNS: usize = 5;

/// Corpus folders benchmarked, each one class.
const CLASSES: [&str; 6] = ["photos", "jpeg", "orientation", "png", "webp", "gif"];

/// Upscaling factors for the large JPEGs made from the first photo.
const LARGE: [(&str, f64); 2] = [("24mp", 1.414), ("48mp", 2.0)];

struct Measure {
    class: String,
    ours_ms: f64,
    vips_ms: Option<f64>,
    /// SSIM of ours and of vips against the reference, when both are comparable.
    ssim: Option<(f64, f64)>,
    /// Output bytes of ours and of vips, when both have the same side.
    bytes: Option<(usize, usize)>,
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let [flag, file] = args.as_slice()
        && flag == "--peak-memory"
    {
        peak_memory(Path::new(file));
        return;
    }
    let Some(corpus) = std::env::var_os("AVATARS_TEST_CORPUS").map(PathBuf::from) else {
        eprintln!("set AVATARS_TEST_CORPUS to the corpus folder to run this benchmark");
        return;
    };
    let corpus = if corpus.is_relative() && !corpus.exists() {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(corpus)
    } else {
        corpus
    };
    let work = std::env::temp_dir().join(format!("avatar-bench-{}", std::process::id()));
    std::fs::create_dir_all(work.join("vips")).expect("the work folder can be made");
    let vips = Command::new("vipsthumbnail")
        .arg("--version")
        .output()
        .is_ok();
    if !vips {
        eprintln!("vipsthumbnail is not installed: timing the pipeline alone");
    }

    let wanted = std::env::var("AVATARS_BENCH_CLASSES").unwrap_or_default();
    let wanted = |class: &str| wanted.is_empty() || wanted.split(',').any(|w| w == class);
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for class in CLASSES.into_iter().filter(|class| wanted(class)) {
        let mut found: Vec<PathBuf> = std::fs::read_dir(corpus.join(class))
            .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        found.sort();
        files.extend(found.into_iter().map(|path| (class.to_owned(), path)));
    }
    let large = if vips && wanted("large") {
        make_large(&corpus, &work)
    } else {
        Vec::new()
    };
    files.extend(large.iter().map(|path| ("large".to_owned(), path.clone())));

    let measures: Vec<Measure> = files
        .iter()
        .filter_map(|(class, path)| measure(class, path, &work, vips))
        .collect();
    report(&measures);
    for path in files
        .iter()
        .filter(|(c, _)| c == "photos")
        .map(|(_, p)| p)
        .take(1)
        .chain(&large)
    {
        let output = Command::new(std::env::current_exe().expect("the bench knows itself"))
            .arg("--peak-memory")
            .arg(path)
            .output()
            .expect("the bench runs itself");
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// Times and judges one file, or `None` when the pipeline refuses it.
fn measure(class: &str, path: &Path, work: &Path, vips: bool) -> Option<Measure> {
    let bytes = std::fs::read(path).ok()?;
    let options = Options::default();
    let ours = convert(&bytes, &options).ok()?;
    let ours_ms = median((0..RUNS).map(|_| {
        let started = Instant::now();
        let _ = convert(&bytes, &options);
        started.elapsed().as_secs_f64() * 1000.0
    }));
    let ours_image = decode(&ours.jpeg)?;
    let mut measure = Measure {
        class: class.to_owned(),
        ours_ms,
        vips_ms: None,
        ssim: None,
        bytes: None,
    };
    if !vips {
        return Some(measure);
    }
    measure.vips_ms = Some(median((0..RUNS).map(|_| {
        let started = Instant::now();
        let _ = Command::new("vipsthumbnail")
            .env("VIPS_CONCURRENCY", "1")
            .arg(path)
            .args(["--size", "512x512", "--smartcrop", "centre", "-o"])
            .arg(work.join("vips").join("%s.jpg[Q=85,strip,interlace]"))
            .status();
        started.elapsed().as_secs_f64() * 1000.0
    })));
    let stem = path.file_stem()?.to_string_lossy();
    let vips_jpeg = std::fs::read(work.join("vips").join(format!("{stem}.jpg"))).ok()?;
    let vips_image = decode(&vips_jpeg)?;
    if vips_image.dimensions() == ours_image.dimensions() {
        measure.bytes = Some((ours.jpeg.len(), vips_jpeg.len()));
        measure.ssim = reference::reference(&bytes, options.size).map(|reference| {
            let reference = grey(&reference);
            let ours = ssim::ssim(&grey(&ours_image), &reference);
            (ours, ssim::ssim(&grey(&vips_image), &reference))
        });
    }
    Some(measure)
}

/// Per class: time of ours over time of vips, mean SSIM of each, bytes of ours over bytes of vips.
fn report(measures: &[Measure]) {
    println!(
        "{:<12} {:>5} {:>9} {:>9} {:>6} {:>9} {:>9} {:>6}",
        "class", "files", "ours ms", "vips ms", "ratio", "ssim ours", "ssim vips", "bytes"
    );
    let mut classes: Vec<&str> = measures.iter().map(|m| m.class.as_str()).collect();
    classes.dedup();
    for class in classes {
        let of_class: Vec<&Measure> = measures.iter().filter(|m| m.class == class).collect();
        let count = of_class.len() as f64;
        let ours: f64 = of_class.iter().map(|m| m.ours_ms).sum();
        let vips: f64 = of_class.iter().filter_map(|m| m.vips_ms).sum();
        let judged: Vec<(f64, f64)> = of_class.iter().filter_map(|m| m.ssim).collect();
        let mean = |pick: fn(&(f64, f64)) -> f64| {
            judged.iter().map(pick).sum::<f64>() / judged.len().max(1) as f64
        };
        let sized: Vec<(usize, usize)> = of_class.iter().filter_map(|m| m.bytes).collect();
        let ours_bytes: usize = sized.iter().map(|b| b.0).sum();
        let vips_bytes: usize = sized.iter().map(|b| b.1).sum();
        println!(
            "{:<12} {:>5} {:>9.1} {:>9.1} {:>6.2} {:>9.4} {:>9.4} {:>6.3}",
            class,
            of_class.len(),
            ours / count,
            vips / count,
            ours / vips,
            mean(|s| s.0),
            mean(|s| s.1),
            ours_bytes as f64 / vips_bytes.max(1) as f64,
        );
    }
}

/// JPEGs of 24 and 48 megapixels, upscaled from the first photo with libvips.
fn make_large(corpus: &Path, work: &Path) -> Vec<PathBuf> {
    let Some(photo) = std::fs::read_dir(corpus.join("photos"))
        .ok()
        .and_then(|dir| dir.filter_map(|e| e.ok()).map(|e| e.path()).min())
    else {
        return Vec::new();
    };
    LARGE
        .iter()
        .filter_map(|(name, scale)| {
            let out = work.join(format!("large_{name}.jpg"));
            Command::new("vips")
                .arg("resize")
                .arg(&photo)
                .arg(format!("{}[Q=90]", out.display()))
                .arg(scale.to_string())
                .status()
                .ok()
                .filter(|status| status.success())
                .map(|_| out)
        })
        .collect()
}

/// Converts one file and prints the process's peak resident memory.
fn peak_memory(path: &Path) {
    let bytes = std::fs::read(path).expect("the file is readable");
    let before = high_water_kb();
    let result = convert(&bytes, &Options::default());
    let after = high_water_kb();
    println!(
        "peak memory {}: {:.1} MB ({:.1} MB before converting, input {:.1} MB){}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        after as f64 / 1024.0,
        before as f64 / 1024.0,
        bytes.len() as f64 / 1_048_576.0,
        result
            .err()
            .map(|e| format!(", refused: {e}"))
            .unwrap_or_default(),
    );
}

fn high_water_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn decode(jpeg: &[u8]) -> Option<RgbImage> {
    image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg)
        .ok()
        .map(DynamicImage::into_rgb8)
}

fn grey(image: &RgbImage) -> image::GrayImage {
    DynamicImage::ImageRgb8(image.clone()).into_luma8()
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
