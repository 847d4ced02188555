//! What the service benchmarks share: tokens, processes killed on drop,
//! and the percentile table they print.

// Each benchmark uses a part of what is here.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

/// The HS256 key every benchmark's API is started with.
pub const SECRET: &str = "benchmark-secret-0123456789abcdef";

/// A child process killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Prints the table head that [`report`] rows go under.
pub fn report_head() {
    println!(
        "| {:<48} | {:>5} | {:>8} | {:>8} | {:>8} | {:>8} |",
        "measure", "n", "p50", "p90", "p99", "max"
    );
    println!(
        "|{:-<50}|{:->7}|{:->10}|{:->10}|{:->10}|{:->10}|",
        "", "", "", "", "", ""
    );
}

/// One row: the count and percentiles of `samples`.
pub fn report(name: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    println!(
        "| {name:<48} | {:>5} | {:>8.2} | {:>8.2} | {:>8.2} | {:>8.2} |",
        samples.len(),
        percentile(&samples, 50.0),
        percentile(&samples, 90.0),
        percentile(&samples, 99.0),
        samples.last().copied().unwrap_or_default()
    );
}

pub fn token(sub: &str) -> String {
    sign(json!({"sub": sub, "exp": in_an_hour()}))
}

pub fn admin_token(sub: &str) -> String {
    sign(json!({"sub": sub, "exp": in_an_hour(), "scope": "avatars:admin"}))
}

fn in_an_hour() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600
}

fn sign(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

/// A 64×64 JPEG: the image of the interactive round trips.
pub fn small_jpeg() -> Vec<u8> {
    let image = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode");
    out.into_inner()
}

/// Waits until the API at `base` is ready.
pub async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "avatar-api did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Deletes every key under `prefix`: the service's (`{prefix}:...`, the
/// prefix being their hash tag) and any other tool's (`prefix...`).
pub async fn forget(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    for pattern in [format!("{{{prefix}}}*"), format!("{prefix}*")] {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query_async(conn)
            .await
            .unwrap_or_default();
        for chunk in keys.chunks(1000) {
            let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query_async(conn).await;
        }
    }
}

/// One synchronous PUT of `image` to `url`, which must complete: its
/// round trip in ms, and its answer.
pub async fn synchronous_put(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    image: &[u8],
) -> (f64, Value) {
    let started = std::time::Instant::now();
    let response = http
        .put(url)
        .bearer_auth(token)
        .body(image.to_vec())
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), 200, "a synchronous PUT did not complete");
    let body: Value = response.json().await.expect("json");
    (started.elapsed().as_secs_f64() * 1e3, body)
}

/// The corpus's phone photos (`photos/` under `corpus`), in name order:
/// their paths and bytes.
pub fn corpus_photos(corpus: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(corpus.join("photos"))
        .expect("the corpus's photos")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a photo");
            (path, bytes)
        })
        .collect()
}

/// How long each of `photos` takes to convert alone, in ms: the
/// "one photo conversion" the backlog figures are compared with.
pub fn conversion_times(photos: &[Vec<u8>]) -> Vec<f64> {
    let options = avatar_pipeline::Options::default();
    photos
        .iter()
        .map(|bytes| {
            let started = std::time::Instant::now();
            avatar_pipeline::convert(bytes, &options).expect("a photo converts");
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// Photos per second of the bare pipeline: `avatar-worker convert`, in
/// `processes` processes at once, each converting every photo `rounds`
/// times, writing under `out`.
pub fn bare_pipeline(photos: &[PathBuf], processes: usize, rounds: usize, out: &Path) -> f64 {
    let files: Vec<&PathBuf> = photos.iter().cycle().take(photos.len() * rounds).collect();
    // Built (or found up to date) before the clock starts.
    let binary = avatar_testkit::app::worker_binary();
    let started = Instant::now();
    let children: Vec<Killed> = (0..processes)
        .map(|n| {
            let dir = out.join(format!("bare-{n}"));
            std::fs::create_dir_all(&dir).expect("out dir");
            Killed(
                Command::new(&binary)
                    .arg("convert")
                    .arg("-o")
                    .arg(&dir)
                    .args(&files)
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("avatar-worker convert"),
            )
        })
        .collect();
    for mut child in children {
        let status = child.0.wait().expect("wait");
        assert!(status.success(), "avatar-worker convert failed");
    }
    (files.len() * processes) as f64 / started.elapsed().as_secs_f64()
}
