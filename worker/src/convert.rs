//! `avatar-worker convert`: runs the job pipeline on local files, so an
//! operator can check a file by hand and its speed can be compared with
//! other tools on the same files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use avatar_common::settings::ImageSettings;

/// Converts `files` one after another into `out_dir`; reports each on
/// standard output and fails if any file failed.
pub fn run(
    image: &ImageSettings,
    size: Option<u32>,
    quality: Option<u8>,
    out_dir: &Path,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    let options = avatar_pipeline::Options {
        size: size.unwrap_or(image.avatar_size),
        quality: quality.unwrap_or(image.jpeg_quality),
        max_pixels: image.max_pixels,
        max_decode_bytes: image.max_decode_bytes,
    };
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let mut failed = 0usize;
    for file in files {
        let started = Instant::now();
        let outcome = std::fs::read(file)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                avatar_pipeline::convert(&bytes, &options).map_err(|e| e.to_string())
            });
        match outcome {
            Ok(avatar) => {
                let stem = file.file_stem().unwrap_or(file.as_os_str());
                let out = out_dir.join(stem).with_extension("jpg");
                std::fs::write(&out, &avatar.jpeg)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                println!(
                    "{}: {}x{} {} bytes, {:.1} ms",
                    file.display(),
                    avatar.side,
                    avatar.side,
                    avatar.jpeg.len(),
                    started.elapsed().as_secs_f64() * 1e3
                );
            }
            Err(message) => {
                failed += 1;
                println!("{}: failed: {message}", file.display());
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} of {} file(s) failed", files.len());
    Ok(())
}
