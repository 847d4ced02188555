//! Decodes still WebP images with libwebp, which crops to the square and
//! scales it down while decoding, as libjpeg-turbo does for JPEG. Animated
//! files, and files libwebp refuses, are left to the `image` crate in
//! `decode`, which reads their first frame or says what is wrong. Reading
//! the size, orientation and profile also belongs to `decode`.
//!
//! libwebp is called directly, so this module allows `unsafe` code: the
//! pure-Rust decoder took 1.9 times vipsthumbnail's time on 6 to 12 MP
//! photos saved as WebP.
#![allow(unsafe_code)]

use image::{DynamicImage, RgbImage, RgbaImage};
use libwebp_sys::{
    VP8StatusCode, WEBP_CSP_MODE, WebPDecode, WebPDecoderConfig, WebPFreeDecBuffer,
    WebPGetFeatures, WebPRGBABuffer,
};

use crate::flatten::onto_white;
use crate::resize;
use crate::square::Square;

/// The `square` of a still WebP as opaque RGB, scaled down by libwebp to
/// [`resize::decoded_side`] when it is at least twice that (smaller steps
/// are left to the Lanczos filter), with the square's place in the result; or
/// `None` for an animation or a file libwebp cannot decode.
pub(crate) fn decode(bytes: &[u8], square: Square) -> Option<(RgbImage, Square)> {
    let mut config = WebPDecoderConfig::new().ok()?;
    // SAFETY: the pointer and length describe `bytes`, which libwebp only
    // reads; `config.input` is a live, initialised struct it fills in.
    let status = unsafe { WebPGetFeatures(bytes.as_ptr(), bytes.len(), &mut config.input) };
    if status != VP8StatusCode::VP8_STATUS_OK || config.input.has_animation != 0 {
        return None;
    }
    let alpha = config.input.has_alpha != 0;
    let wanted = resize::decoded_side(square.side);
    let decoded = if square.crop >= wanted.saturating_mul(2) {
        wanted
    } else {
        square.crop
    };
    let int = |value: u32| i32::try_from(value).ok();
    // libwebp snaps the crop's corner to even coordinates; snapping it here
    // keeps the square whole, at most one pixel from the centre.
    let options = &mut config.options;
    options.use_cropping = 1;
    options.crop_left = int(square.left & !1)?;
    options.crop_top = int(square.top & !1)?;
    options.crop_width = int(square.crop)?;
    options.crop_height = int(square.crop)?;
    if decoded != square.crop {
        options.use_scaling = 1;
        options.scaled_width = int(decoded)?;
        options.scaled_height = int(decoded)?;
    }

    let channels: usize = if alpha { 4 } else { 3 };
    let stride = usize::try_from(decoded).ok()?.checked_mul(channels)?;
    let mut pixels = vec![0u8; stride.checked_mul(usize::try_from(decoded).ok()?)?];
    config.output.colorspace = if alpha {
        WEBP_CSP_MODE::MODE_RGBA
    } else {
        WEBP_CSP_MODE::MODE_RGB
    };
    config.output.is_external_memory = 1;
    config.output.u.RGBA = WebPRGBABuffer {
        rgba: pixels.as_mut_ptr(),
        stride: i32::try_from(stride).ok()?,
        size: pixels.len(),
    };
    // SAFETY: `bytes` is only read; the output buffer is `pixels`, which
    // holds `stride` bytes for each of the `decoded` rows libwebp writes
    // (the cropped, scaled size set above) and outlives the call.
    let status = unsafe { WebPDecode(bytes.as_ptr(), bytes.len(), &mut config) };
    // SAFETY: `config.output` was set up above; with external memory this
    // frees only what libwebp allocated for itself.
    unsafe { WebPFreeDecBuffer(&mut config.output) };
    if status != VP8StatusCode::VP8_STATUS_OK {
        return None;
    }
    let image = if alpha {
        DynamicImage::ImageRgba8(RgbaImage::from_raw(decoded, decoded, pixels)?)
    } else {
        DynamicImage::ImageRgb8(RgbImage::from_raw(decoded, decoded, pixels)?)
    };
    Some((
        onto_white(image),
        Square {
            left: 0,
            top: 0,
            crop: decoded,
            side: square.side,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{BLUE, RED, near};
    use image::{ImageFormat, Rgb, Rgba};

    fn lossless(image: DynamicImage) -> Vec<u8> {
        crate::fixtures::encoded(&image, ImageFormat::WebP)
    }

    #[test]
    fn the_centre_square_is_decoded_and_scaled_down() {
        let wide = RgbImage::from_fn(1200, 300, |x, _| {
            Rgb(if (450..750).contains(&x) { BLUE } else { RED })
        });
        let square = Square::centred(1200, 300, 64);
        let (pixels, inside) =
            decode(&lossless(DynamicImage::ImageRgb8(wide)), square).expect("decodes");
        // 300 pixels is over twice 1.4 x 64, so libwebp scales to 90.
        assert_eq!(pixels.dimensions(), (90, 90));
        assert_eq!(
            (inside.left, inside.top, inside.crop, inside.side),
            (0, 0, 90, 64)
        );
        assert!(pixels.pixels().all(|p| near(p.0, BLUE, 8)));
    }

    #[test]
    fn a_square_near_its_output_size_is_left_to_the_lanczos_filter() {
        let image = RgbImage::from_pixel(100, 120, Rgb(RED));
        let square = Square::centred(100, 120, 64);
        let (pixels, inside) =
            decode(&lossless(DynamicImage::ImageRgb8(image)), square).expect("decodes");
        assert_eq!((pixels.dimensions(), inside.crop), ((100, 100), 100));
    }

    #[test]
    fn transparency_is_flattened_onto_white() {
        let image = RgbaImage::from_pixel(32, 32, Rgba([0, 0, 0, 0]));
        let square = Square::centred(32, 32, 32);
        let (pixels, _) =
            decode(&lossless(DynamicImage::ImageRgba8(image)), square).expect("decodes");
        assert!(near(pixels.get_pixel(5, 5).0, [255, 255, 255], 1));
    }

    #[test]
    fn a_truncated_file_is_left_to_the_other_decoder() {
        let bytes = lossless(DynamicImage::ImageRgb8(RgbImage::from_pixel(
            64,
            64,
            Rgb(RED),
        )));
        assert!(decode(&bytes[..bytes.len() / 2], Square::centred(64, 64, 32)).is_none());
    }
}
