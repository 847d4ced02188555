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
                let out = output_path(out_dir, file);
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

/// `out_dir/<stem of file>.jpg`, keeping every dot of the stem:
/// `fox.10bpc.avif` becomes `fox.10bpc.jpg`, not `fox.jpg`.
fn output_path(out_dir: &Path, file: &Path) -> PathBuf {
    let mut name = file.file_stem().unwrap_or(file.as_os_str()).to_owned();
    name.push(".jpg");
    out_dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_is_named_after_the_whole_stem() {
        let out = Path::new("/out");
        let named = |file: &str| output_path(out, Path::new(file));
        assert_eq!(
            named("/in/fox.profile0.10bpc.avif"),
            out.join("fox.profile0.10bpc.jpg")
        );
        assert_eq!(named("photo.heic"), out.join("photo.jpg"));
        assert_eq!(named("README"), out.join("README.jpg"));
    }
}
