//! Runs every file of the shared real-world corpus through the pipeline.
//!
//! The corpus lives outside the repository, in the folder named by
//! `AVATARS_TEST_CORPUS` (CI sets it to `../shared/corpus`, relative to the
//! repository root). Without it these tests say they skipped the corpus and pass.

use std::path::Path;
use std::time::{Duration, Instant};

use avatar_pipeline::{Options, convert};
use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage};

/// Files that must be refused, with a word the message must contain.
const REFUSED: [(&str, &str); 12] = [
    ("avif/derived_truncated.avif", "truncated"),
    ("avif/vips_17000x17000.avif", "289 megapixels"),
    ("heic/derived_truncated.heic", "truncated"),
    ("heic/pillowheif_samsung_200MP.heic", "199.8 megapixels"),
    ("edge/ljt_monkey12.jpg", "12-bit"),
    ("edge/sharp_65536-uint32-limit.png", "65535"),
    ("edge/sharp_corrupt-header.jpg", "corrupt"),
    ("edge/sharp_giant-image.jpg", "280 megapixels"),
    ("edge/sharp_testimgl.jpg", "lossless"),
    ("edge/sharp_truncated.jpg", "truncated"),
    ("edge/sharp_truncated.png", "truncated"),
    ("edge/vips_truncated.gif", "truncated"),
];

/// How far, in mean 8-bit levels, an avatar from HEIF or AVIF may be from
/// its reference pixel by pixel (JPEG coding, resampling filters and the
/// order of resizing and colour conversion differ), and how far its mean
/// colour may be (where a wrong profile or tone curve shows).
const HEIF_TOLERANCE: f64 = 8.0;
const HEIF_COLOUR_TOLERANCE: f64 = 3.0;

/// The longest an `edge/` file may take, refused or not, in an unoptimised build.
const EDGE_DEADLINE: Duration = Duration::from_secs(2);

/// The longest a file refused from its header alone may take.
const HEADER_DEADLINE: Duration = Duration::from_millis(50);

/// Every file below the corpus folder, by path relative to it, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for folder in std::fs::read_dir(dir).expect("the corpus is readable") {
        let folder = folder.expect("the corpus is readable").path();
        if !folder.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&folder).expect("a corpus folder is readable") {
            let file = file.expect("a corpus folder is readable").path();
            let relative = file
                .strip_prefix(dir)
                .expect("the file is inside the corpus");
            found.push(relative.to_string_lossy().into_owned());
        }
    }
    found.sort();
    found
}

fn avatar(dir: &Path, file: &str) -> RgbImage {
    let bytes = std::fs::read(dir.join(file)).expect("the corpus file is readable");
    let avatar =
        convert(&bytes, &Options::default()).unwrap_or_else(|e| panic!("{file} is refused: {e}"));
    image::load_from_memory_with_format(&avatar.jpeg, ImageFormat::Jpeg)
        .expect("the avatar decodes")
        .into_rgb8()
}

/// Whether the JPEG has the marker `0xFF code`; in entropy-coded data 0xFF is
/// always followed by 0x00 or a restart marker, so a match is a real marker.
fn has_marker(jpeg: &[u8], code: u8) -> bool {
    jpeg.windows(2).any(|pair| pair == [0xFF, code])
}

/// What is wrong with the result for `file`, if anything.
fn check(dir: &Path, file: &str) -> Option<String> {
    let bytes = std::fs::read(dir.join(file)).expect("the corpus file is readable");
    let started = Instant::now();
    let result = convert(&bytes, &Options::default());
    let elapsed = started.elapsed();
    let refusal = REFUSED.iter().find(|(name, _)| *name == file);
    if file.starts_with("edge/") && elapsed > EDGE_DEADLINE {
        return Some(format!("{file} took {elapsed:?}"));
    }
    match (result, refusal) {
        (Err(error), Some((_, word))) => {
            let message = error.to_string();
            if !message.contains(word) || error.code() != "image_rejected" {
                return Some(format!("{file} is refused as {}: {message}", error.code()));
            }
            let from_header = message.contains("megapixels") || message.contains("65535");
            (from_header && elapsed > HEADER_DEADLINE)
                .then(|| format!("{file} took {elapsed:?} to be refused from its header"))
        }
        (Ok(_), Some(_)) => Some(format!("{file} is accepted")),
        (Err(error), None) => Some(format!("{file} is refused: {error}")),
        (Ok(avatar), None) => {
            let decoded = image::load_from_memory_with_format(&avatar.jpeg, ImageFormat::Jpeg);
            let Ok(decoded) = decoded else {
                return Some(format!("{file} gives a JPEG that does not decode"));
            };
            let expected = image::ImageReader::open(dir.join(file))
                .ok()
                .and_then(|reader| reader.with_guessed_format().ok())
                .and_then(|reader| reader.into_dimensions().ok())
                .map(|(width, height)| width.min(height).min(512));
            let side = avatar.side;
            if (decoded.width(), decoded.height()) != (side, side) || side > 512 {
                return Some(format!(
                    "{file} gives {}x{}",
                    decoded.width(),
                    decoded.height()
                ));
            }
            if expected.is_some_and(|expected| expected != side) {
                return Some(format!("{file} gives side {side}, not {expected:?}"));
            }
            if !has_marker(&avatar.jpeg, 0xC2) || has_marker(&avatar.jpeg, 0xC0) {
                return Some(format!("{file} gives a JPEG that is not progressive"));
            }
            [0xE1, 0xE2, 0xED, 0xFE]
                .into_iter()
                .any(|code| has_marker(&avatar.jpeg, code))
                .then(|| format!("{file} gives a JPEG with metadata"))
        }
    }
}

#[test]
fn every_corpus_file_becomes_a_progressive_avatar_or_a_clear_refusal() {
    let Some(dir) = avatar_testkit::corpus::dir("every_corpus_file") else {
        return;
    };
    let files = files(&dir);
    for (name, _) in REFUSED {
        assert!(
            files.iter().any(|f| f == name),
            "{name} is missing from the corpus"
        );
    }
    let problems: Vec<String> = files.iter().filter_map(|file| check(&dir, file)).collect();
    assert!(
        problems.is_empty(),
        "{} files:\n{}",
        problems.len(),
        problems.join("\n")
    );
    println!("checked {} corpus files", files.len());
}

/// A small grey version of an avatar, for comparing pictures rather than pixels.
fn thumbnail(image: &RgbImage) -> GrayImage {
    DynamicImage::ImageRgb8(image.clone())
        .resize_exact(32, 32, FilterType::Triangle)
        .into_luma8()
}

fn mean_difference(a: &GrayImage, b: &GrayImage) -> f64 {
    let total: u64 = a
        .pixels()
        .zip(b.pixels())
        .map(|(x, y)| u64::from(x.0[0].abs_diff(y.0[0])))
        .sum();
    total as f64 / f64::from(a.width() * a.height())
}

/// The eight rotations and mirrorings of a square image, the identity first.
fn transforms(image: &GrayImage) -> Vec<GrayImage> {
    use image::imageops::{flip_horizontal, rotate90, rotate180, rotate270};
    let turns = [
        image.clone(),
        rotate90(image),
        rotate180(image),
        rotate270(image),
    ];
    let mirrored: Vec<GrayImage> = turns.iter().map(flip_horizontal).collect();
    turns.into_iter().chain(mirrored).collect()
}

/// The mean difference of two same-sized RGB images, over all channels.
fn mean_rgb_difference(a: &RgbImage, b: &RgbImage) -> f64 {
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

/// The corpus path of a reference avatar in `tests/heif-references`, which
/// is named after its source file.
fn reference_source(reference: &Path) -> String {
    let name = reference
        .file_stem()
        .expect("a reference has a name")
        .to_string_lossy();
    let folder = if name.contains(".avif") {
        "avif"
    } else {
        "heic"
    };
    format!("{folder}/{name}")
}

#[test]
fn heif_and_avif_files_match_a_reference_decode_upright() {
    let Some(dir) = avatar_testkit::corpus::dir("heif_references") else {
        return;
    };
    // 64-pixel avatars from pillow-heif, Little CMS for the profiles and the
    // PQ tone curve written out in numpy: `scripts/heif-references`.
    let references = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/heif-references");
    let mut problems = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&references).expect("the references are readable") {
        let path = entry.expect("the references are readable").path();
        let file = reference_source(&path);
        let expected = image::open(&path).expect("a reference decodes").into_rgb8();
        let bytes = std::fs::read(dir.join(&file)).expect("the corpus file is readable");
        let options = Options {
            size: 64,
            ..Options::default()
        };
        let avatar = match convert(&bytes, &options) {
            Ok(avatar) => avatar,
            Err(error) => {
                problems.push(format!("{file} is refused: {error}"));
                continue;
            }
        };
        let ours = image::load_from_memory_with_format(&avatar.jpeg, ImageFormat::Jpeg)
            .expect("the avatar decodes")
            .into_rgb8();
        checked += 1;
        if ours.dimensions() != expected.dimensions() {
            problems.push(format!("{file} gives {:?}", ours.dimensions()));
            continue;
        }
        let difference = mean_rgb_difference(&ours, &expected);
        let colour: Vec<f64> = mean_colour(&ours)
            .iter()
            .zip(mean_colour(&expected))
            .map(|(a, b)| a - b)
            .collect();
        let turned: Vec<f64> = transforms(&thumbnail(&expected))
            .iter()
            .map(|candidate| mean_difference(&thumbnail(&ours), candidate))
            .collect();
        println!(
            "{file}: differs by {difference:.2}, mean colour by {colour:.2?}; \
             turned or mirrored {turned:.1?}"
        );
        if difference > HEIF_TOLERANCE {
            problems.push(format!(
                "{file} differs by {difference:.2} from its reference"
            ));
        }
        if colour.iter().any(|c| c.abs() > HEIF_COLOUR_TOLERANCE) {
            problems.push(format!("{file}: its mean colour is off by {colour:.2?}"));
        }
        // Symmetric pictures may match a mirrored reference as well, never better.
        if turned[1..].iter().any(|&other| other < turned[0]) {
            problems.push(format!(
                "{file} is closer to a turned or mirrored reference: {turned:.1?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 12, "only {checked} references");
}

#[test]
fn every_exif_orientation_comes_out_upright_and_unmirrored() {
    let Some(dir) = avatar_testkit::corpus::dir("every_exif_orientation") else {
        return;
    };
    for shape in ["Landscape", "Portrait"] {
        let reference = thumbnail(&avatar(&dir, &format!("orientation/{shape}_0.jpg")));
        let candidates = transforms(&reference);
        for orientation in 1..=8 {
            let file = format!("orientation/{shape}_{orientation}.jpg");
            let result = thumbnail(&avatar(&dir, &file));
            let differences: Vec<f64> = candidates
                .iter()
                .map(|candidate| mean_difference(&result, candidate))
                .collect();
            let upright = differences[0];
            assert!(
                upright < 6.0,
                "{file} differs by {upright:.1} from {shape}_0"
            );
            assert!(
                differences[1..].iter().all(|&other| other > upright * 2.0),
                "{file} is closer to a turned or mirrored {shape}_0: {differences:.1?}"
            );
        }
    }
}

fn mean_colour(image: &RgbImage) -> [f64; 3] {
    let mut sums = [0u64; 3];
    for pixel in image.pixels() {
        for (sum, value) in sums.iter_mut().zip(pixel.0) {
            *sum += u64::from(value);
        }
    }
    let count = f64::from(image.width() * image.height());
    sums.map(|sum| sum as f64 / count)
}

fn assert_mean_colour(file: &str, image: &RgbImage, expected: [f64; 3], tolerance: f64) {
    let mean = mean_colour(image);
    let close = mean
        .iter()
        .zip(expected)
        .all(|(m, e)| (m - e).abs() <= tolerance);
    assert!(
        close,
        "{file}: mean colour {mean:.1?}, expected {expected:?}"
    );
}

#[test]
fn embedded_profiles_are_converted_to_srgb() {
    let Some(dir) = avatar_testkit::corpus::dir("embedded_profiles") else {
        return;
    };
    // Expected values are what Little CMS gives for the same conversion.
    let cases = [
        ("png/sharp_prophoto.png", [117.0, 160.0, 210.0], 2.0),
        (
            "photos/cart_PXL_20210518_205543325.jpg",
            [137.0, 95.6, 49.6],
            1.5,
        ),
        ("jpeg/sharp_cmyk_icc.jpg", [115.9, 117.8, 111.7], 5.0),
    ];
    for (file, expected, tolerance) in cases {
        assert_mean_colour(file, &avatar(&dir, file), expected, tolerance);
    }
}

#[test]
fn cmyk_without_a_profile_is_not_inverted() {
    let Some(dir) = avatar_testkit::corpus::dir("cmyk_without_a_profile") else {
        return;
    };
    let with_profile = thumbnail(&avatar(&dir, "jpeg/sharp_cmyk_icc.jpg"));
    let without = thumbnail(&avatar(&dir, "jpeg/sharp_cmyk_noprofile.jpg"));
    let mut inverted = with_profile.clone();
    image::imageops::invert(&mut inverted);
    let same = mean_difference(&without, &with_profile);
    assert!(same < 15.0, "differs by {same:.1} from the profiled file");
    assert!(mean_difference(&without, &inverted) > 3.0 * same);
}

#[test]
fn grey_jpegs_stay_grey() {
    let Some(dir) = avatar_testkit::corpus::dir("grey_jpegs") else {
        return;
    };
    for file in ["jpeg/sharp_concert_gray.jpg", "jpeg/vips_cd1.1_gray.jpg"] {
        let image = avatar(&dir, file);
        let grey = image.pixels().all(|p| {
            let [r, g, b] = p.0;
            r.abs_diff(g) <= 2 && g.abs_diff(b) <= 2
        });
        assert!(grey, "{file} has colour");
    }
}

#[test]
fn an_arithmetic_coded_jpeg_matches_its_huffman_coded_twin() {
    let Some(dir) = avatar_testkit::corpus::dir("arithmetic_coded") else {
        return;
    };
    let arithmetic = thumbnail(&avatar(&dir, "jpeg/ljt_testimgari.jpg"));
    let huffman = thumbnail(&avatar(&dir, "jpeg/ljt_testorig.jpg"));
    let difference = mean_difference(&arithmetic, &huffman);
    assert!(difference < 2.0, "differs by {difference:.1}");
}

#[test]
fn a_crop_of_a_turned_heic_grid_is_of_the_picture_as_shown() {
    let Some(dir) = avatar_testkit::corpus::dir("heic_grid_crop") else {
        return;
    };
    // An iPhone grid of 48 tiles, stored 4032 x 3024 and turned by its
    // container (irot 270) to be shown 3024 x 4032: its centred square is
    // rows 504 to 3528 of the picture as shown.
    let bytes = std::fs::read(dir.join("heic/pillowheif_arrow_iphone8plus.heic"))
        .expect("the corpus file is readable");
    let avatar = |size: u32, crop: Option<avatar_pipeline::Crop>| {
        let options = Options {
            size,
            crop,
            ..Options::default()
        };
        let avatar = convert(&bytes, &options).expect("converts");
        image::load_from_memory_with_format(&avatar.jpeg, ImageFormat::Jpeg)
            .expect("the avatar decodes")
            .into_rgb8()
    };
    let whole = avatar(128, None);
    let quarter_of_whole = |(qx, qy): (u32, u32)| {
        image::imageops::crop_imm(&whole, qx * 64, qy * 64, 64, 64).to_image()
    };
    let quarters = [(0, 0), (1, 0), (0, 1), (1, 1)];
    for quarter in quarters {
        let crop = avatar_pipeline::Crop {
            left: f64::from(quarter.0) * 0.5,
            top: (504.0 + f64::from(quarter.1) * 1512.0) / 4032.0,
            width: 0.5,
            height: 1512.0 / 4032.0,
        };
        let part = avatar(64, Some(crop));
        let differences: Vec<f64> = quarters
            .iter()
            .map(|&other| mean_rgb_difference(&part, &quarter_of_whole(other)))
            .collect();
        let own = differences[quarters.iter().position(|&q| q == quarter).expect("listed")];
        println!(
            "quarter {quarter:?}: differs from each quarter of the whole by {differences:.1?}"
        );
        assert!(own < 12.0, "quarter {quarter:?}: {differences:.1?}");
        assert!(
            differences.iter().all(|&d| d >= own),
            "quarter {quarter:?} is closer to another: {differences:.1?}"
        );
    }
}
