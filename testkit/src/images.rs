//! Test images, made here so the tests need no files, and checks of what
//! the service stores.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// A colourful `width` x `height` picture.
pub fn picture(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            128,
        ])
    }))
}

/// `image` encoded as `format`.
pub fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let image = match format {
        // The JPEG encoder takes no alpha.
        ImageFormat::Jpeg => DynamicImage::ImageRgb8(image.to_rgb8()),
        _ => image.clone(),
    };
    image
        .write_to(&mut out, format)
        .expect("cannot encode a test image");
    out.into_inner()
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), ImageFormat::Jpeg)
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), ImageFormat::Png)
}

pub fn webp(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), ImageFormat::WebP)
}

pub fn gif(width: u32, height: u32) -> Vec<u8> {
    encode(&picture(width, height), ImageFormat::Gif)
}

/// A PNG that is fully transparent.
pub fn transparent_png(width: u32, height: u32) -> Vec<u8> {
    let image = DynamicImage::ImageRgba8(RgbaImage::from_pixel(width, height, Rgba([0, 0, 0, 0])));
    encode(&image, ImageFormat::Png)
}

/// The first half of a JPEG.
pub fn truncated_jpeg() -> Vec<u8> {
    let mut bytes = jpeg(800, 600);
    bytes.truncate(bytes.len() / 2);
    bytes
}

/// What a stored avatar is made of.
#[derive(Debug)]
pub struct AvatarInfo {
    pub width: u32,
    pub height: u32,
    pub progressive: bool,
    pub has_exif: bool,
    pub mean_rgb: [f64; 3],
}

/// Reads the markers and pixels of a JPEG the service stored.
pub fn inspect(bytes: &[u8]) -> AvatarInfo {
    assert_eq!(&bytes[..2], b"\xFF\xD8", "not a JPEG");
    let (mut progressive, mut has_exif) = (false, false);
    let mut i = 2;
    while i + 4 <= bytes.len() && bytes[i] == 0xFF {
        let marker = bytes[i + 1];
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        match marker {
            0xC2 => progressive = true,
            0xE1 => has_exif = true,
            0xDA => break,
            _ => {}
        }
        i += 2 + len;
    }
    let image = decoded(bytes);
    let rgb = image.to_rgb8();
    let n = f64::from(rgb.width() * rgb.height());
    let mut sum = [0f64; 3];
    for p in rgb.pixels() {
        for c in 0..3 {
            sum[c] += f64::from(p[c]);
        }
    }
    AvatarInfo {
        width: image.width(),
        height: image.height(),
        progressive,
        has_exif,
        mean_rgb: sum.map(|s| s / n),
    }
}

/// How far the JPEG `avatar` is from the square of `picture` at `left`,
/// `top` with side `side`, scaled to the avatar's size: the mean absolute
/// difference of their channels, 0 to 255.
pub fn difference_from(
    avatar: &[u8],
    picture: &DynamicImage,
    left: u32,
    top: u32,
    side: u32,
) -> f64 {
    let avatar = decoded(avatar).to_rgb8();
    let expected = picture
        .crop_imm(left, top, side, side)
        .resize_exact(
            avatar.width(),
            avatar.height(),
            image::imageops::FilterType::Triangle,
        )
        .to_rgb8();
    mean_difference(&avatar, &expected)
}

/// Where along the longer side of `picture` the JPEG `avatar` was cut, as
/// a square of the picture's shorter side: the offset in the picture's
/// pixels of the square it matches best, and how far it is from that
/// square (as [`difference_from`] measures).
///
/// Both are compared at 64 pixels to the square's side, so the offset is
/// found to within an eighth of the square.
pub fn offset_of(avatar: &[u8], picture: &DynamicImage) -> (u32, f64) {
    const SIDE: u32 = 64;
    let avatar = decoded(avatar)
        .resize_exact(SIDE, SIDE, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let (width, height) = (picture.width(), picture.height());
    let shorter = width.min(height);
    let scaled = |length: u32| (u64::from(length) * u64::from(SIDE) / u64::from(shorter)) as u32;
    let small = picture
        .resize_exact(
            scaled(width),
            scaled(height),
            image::imageops::FilterType::Triangle,
        )
        .to_rgb8();
    let along = (small.width() - SIDE).max(small.height() - SIDE);
    let difference = |offset: u32| {
        let (left, top) = match width >= height {
            true => (offset, 0),
            false => (0, offset),
        };
        let square = image::imageops::crop_imm(&small, left, top, SIDE, SIDE).to_image();
        mean_difference(&avatar, &square)
    };
    let (best, distance) = (0..=along)
        .map(|offset| (offset, difference(offset)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("one offset at least");
    (best * shorter / SIDE, distance)
}

/// The JPEG `avatar`, decoded.
fn decoded(avatar: &[u8]) -> DynamicImage {
    image::load_from_memory_with_format(avatar, ImageFormat::Jpeg)
        .expect("the avatar does not decode")
}

/// The mean absolute difference of the channels of two pictures of one
/// size, 0 to 255.
fn mean_difference(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "pictures of two sizes");
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(a, b)| u64::from(a.abs_diff(*b)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}
