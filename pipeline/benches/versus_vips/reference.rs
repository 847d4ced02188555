//! The best avatar money can buy, to judge others against: the whole image
//! decoded at full size, turned upright, its centre square scaled with
//! Lanczos3 straight to the output side, its colour profile converted to sRGB,
//! any transparency composited over white.

use std::io::Cursor;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

/// The image as RGB, any transparency composited over white.
fn over_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0.map(f64::from);
        let blend = |c: f64| (c * a / 255.0 + 255.0 - a).round() as u8;
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

/// The reference avatar of `bytes`, or `None` when the `image` crate cannot
/// decode them (arithmetic-coded JPEG, for one).
pub fn reference(bytes: &[u8], size: u32) -> Option<RgbImage> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut decoder = reader.into_decoder().ok()?;
    let orientation = decoder.orientation().ok()?;
    let icc = decoder.icc_profile().ok()?;
    let mut image = DynamicImage::from_decoder(decoder).ok()?;
    image.apply_orientation(orientation);
    let rgb = over_white(image);
    let (width, height) = rgb.dimensions();
    let crop = width.min(height);
    let side = crop.min(size);
    let src = ImageRef::new(width, height, rgb.as_raw(), PixelType::U8x3).ok()?;
    let mut dst = Image::new(side, side, PixelType::U8x3);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(
            f64::from((width - crop) / 2),
            f64::from((height - crop) / 2),
            f64::from(crop),
            f64::from(crop),
        );
    Resizer::new().resize(&src, &mut dst, &options).ok()?;
    let mut pixels = dst.into_vec();
    if let Some(profile) = icc.and_then(|icc| ColorProfile::new_from_slice(&icc).ok())
        && profile.color_space == DataColorSpace::Rgb
    {
        let transform = profile
            .create_transform_8bit(
                Layout::Rgb,
                &ColorProfile::new_srgb(),
                Layout::Rgb,
                TransformOptions::default(),
            )
            .ok()?;
        let mut converted = vec![0; pixels.len()];
        transform.transform(&pixels, &mut converted).ok()?;
        pixels = converted;
    }
    RgbImage::from_raw(side, side, pixels)
}
