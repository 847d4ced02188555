//! `avatar-worker convert`: runs the job pipeline on local files, so an
//! operator can check a file by hand and its speed can be compared with
//! other tools on the same files; with `--cage`, in a converter process
//! as a job does, so the cage's cost can be measured too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use bytes::Bytes;

use crate::Settings;
use crate::cage::{Cage, Reply};

/// What `convert` is asked beside the files.
pub struct How {
    /// Side of the square avatar (default: the setting).
    pub size: Option<u32>,
    /// JPEG quality (default: the setting).
    pub quality: Option<u8>,
    /// Convert in a converter process.
    pub cage: bool,
}

/// Converts `files` one after another into `out_dir`; reports each on
/// standard output and fails if any file failed.
pub async fn run(
    settings: &Settings,
    how: &How,
    out_dir: &Path,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    let image = &settings.shared.image;
    let options = avatar_pipeline::Options {
        size: how.size.unwrap_or(image.sides().largest()),
        smaller: Vec::new(),
        quality: how.quality.unwrap_or(image.jpeg_quality),
        max_pixels: image.max_pixels,
        max_decode_bytes: image.max_decode_bytes,
        crop: None,
        placement: crate::pool::placement(image.crop),
    };
    let cage = match how.cage {
        true => Some(Cage::start(
            &settings.worker.converter,
            &settings.shared.log,
            1,
        )?),
        false => None,
    };
    let budget = settings.worker.time_budget();
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let mut failed = 0usize;
    for file in files {
        let started = Instant::now();
        let outcome = match std::fs::read(file) {
            Ok(bytes) => convert(cage.as_ref(), bytes.into(), &options, budget, file).await,
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok((side, jpeg)) => {
                let out = output_path(out_dir, file);
                std::fs::write(&out, &jpeg)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                println!(
                    "{}: {side}x{side} {} bytes, {:.1} ms",
                    file.display(),
                    jpeg.len(),
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

/// The side and the JPEG of one conversion, in `cage` or in this process.
async fn convert(
    cage: Option<&Arc<Cage>>,
    bytes: Bytes,
    options: &avatar_pipeline::Options,
    budget: avatar_pipeline::TimeBudget,
    file: &Path,
) -> Result<(u32, Vec<u8>), String> {
    let Some(cage) = cage else {
        return avatar_pipeline::convert(&bytes, options)
            .map(|avatar| (avatar.side, avatar.jpeg))
            .map_err(|e| e.to_string());
    };
    let label = file.display().to_string();
    match cage.convert(&bytes, options, budget, &label).await {
        Ok(Reply::Avatar { side, jpeg, .. }) => Ok((side, jpeg)),
        Ok(Reply::Refused { message, .. }) => Err(message),
        Err(e) => Err(e.to_string()),
    }
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
