//! The classes of files benchmarked: corpus folders as they are, and files
//! made from the corpus photos with the `vips` command (resized JPEGs of 3 to
//! 8 MP, upscaled ones of 24 to 48 MP, photos saved as PNG and WebP). Made
//! files are kept in a folder of the temporary directory and reused.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A named list of files.
pub struct Class {
    pub name: String,
    pub files: Vec<PathBuf>,
}

/// The classes sharp is measured on too: the HEIF family, which its
/// prebuilt libvips reads through libheif with aom (AV1 only, no HEVC).
pub const FOR_SHARP: [&str; 2] = ["heic", "avif"];

/// Files made from the corpus photos: (class, photo index, scale, suffix with save options).
const MADE: [(&str, usize, f64, &str); 14] = [
    ("3-8mp", 0, 0.5, "jpg[Q=90]"),
    ("3-8mp", 1, 0.6, "jpg[Q=90]"),
    ("3-8mp", 2, 0.7, "jpg[Q=90]"),
    ("3-8mp", 3, 0.8, "jpg[Q=90]"),
    ("png-large", 4, 0.5, "png"),
    ("png-large", 5, 0.7, "png"),
    ("png-large", 6, 1.0, "png"),
    ("webp-large", 4, 0.5, "webp[Q=90]"),
    ("webp-large", 5, 0.7, "webp[Q=90]"),
    ("webp-large", 6, 1.0, "webp[Q=90]"),
    ("24-48mp", 7, 1.414, "jpg[Q=90]"),
    ("24-48mp", 8, 1.732, "jpg[Q=90]"),
    ("24-48mp", 9, 2.0, "jpg[Q=90]"),
    ("24-48mp", 0, 2.0, "jpg[Q=90]"),
];

/// Corpus JPEGs of this many pixels join the made ones in the 3-8 MP class.
const MEGAPIXELS: std::ops::RangeInclusive<u64> = 3_000_000..=9_000_000;

/// Every class, in report order.
pub fn all(corpus: &Path, made: &Path) -> Vec<Class> {
    let photos = files(&corpus.join("photos"));
    let folder = |name: &str| Class {
        name: name.into(),
        files: files(&corpus.join(name)),
    };
    let mut classes = vec![
        Class {
            name: "photos".into(),
            files: photos.clone(),
        },
        Class {
            name: "3-8mp".into(),
            files: files(&corpus.join("jpeg"))
                .into_iter()
                .filter(|path| {
                    image::image_dimensions(path).is_ok_and(|(width, height)| {
                        MEGAPIXELS.contains(&(u64::from(width) * u64::from(height)))
                    })
                })
                .collect(),
        },
        Class {
            name: "1800x1200".into(),
            files: files(&corpus.join("orientation")),
        },
        folder("png"),
        Class {
            name: "png-large".into(),
            files: Vec::new(),
        },
        folder("webp"),
        Class {
            name: "webp-large".into(),
            files: Vec::new(),
        },
        Class {
            name: "24-48mp".into(),
            files: Vec::new(),
        },
        folder("gif"),
        folder("heic"),
        folder("avif"),
    ];
    for (class, photo, scale, suffix) in MADE {
        let (Some(photo), Some(class)) = (
            photos.get(photo),
            classes.iter_mut().find(|c| c.name == class),
        ) else {
            continue;
        };
        if let Some(path) = make(photo, scale, suffix, made) {
            class.files.push(path);
        }
    }
    classes
}

/// The largest made JPEG (48 MP), for the memory measurement.
pub fn largest(corpus: &Path, made: &Path) -> Option<PathBuf> {
    let photos = files(&corpus.join("photos"));
    make(photos.first()?, 2.0, "jpg[Q=90]", made)
}

/// The files of a folder, sorted; none when it is missing.
pub fn files(folder: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

/// `photo` scaled by `scale` and saved as `suffix`, made once.
fn make(photo: &Path, scale: f64, suffix: &str, made: &Path) -> Option<PathBuf> {
    let stem = photo.file_stem()?.to_string_lossy();
    let extension = suffix.split('[').next()?;
    // No dot in the stem: both converters name their output after it.
    let percent = (scale * 100.0).round();
    let name = format!("{stem}_{percent}pct.{extension}");
    let out = made.join(&name);
    if out.exists() {
        return Some(out);
    }
    std::fs::create_dir_all(made).ok()?;
    // Written under another name first so that an interrupted run leaves no
    // half file behind.
    let partial = made.join(format!("partial_{name}"));
    let options = suffix.strip_prefix(extension).unwrap_or("");
    let ok = Command::new("vips")
        .arg("resize")
        .arg(photo)
        .arg(format!("{}{options}", partial.display()))
        .arg(scale.to_string())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    (ok && std::fs::rename(&partial, &out).is_ok()).then_some(out)
}
