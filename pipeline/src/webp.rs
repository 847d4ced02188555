//! Decodes still WebP images with libwebp, cropped to the square. Animated
//! files, and files libwebp refuses, are left to the `image` crate in
//! `decode`, which reads their first frame or says what is wrong. Reading
//! the size, orientation and profile also belongs to `decode`.
//!
//! A lossy file without alpha whose square is at least twice the avatar's
//! side comes out as the square's Y, U and V planes at full size, which
//! `fast_image_resize` scales down to the avatar before they become RGB:
//! libwebp's own scaler has no SIMD code for one-channel planes and took
//! 18 % of the instructions of a 12 MP photo saved as WebP. Squares larger
//! than [`MAX_PLANE_PIXELS`], and the other files, are scaled by libwebp
//! while decoding, as libjpeg-turbo does for JPEG.
//!
//! libwebp is called directly, so this module allows `unsafe` code: the
//! pure-Rust decoder took 1.9 times vipsthumbnail's time on 6 to 12 MP
//! photos saved as WebP.
#![allow(unsafe_code)]

use image::{DynamicImage, RgbImage, RgbaImage};
use libwebp_sys::{
    VP8StatusCode, WEBP_CSP_MODE, WebPDecode, WebPDecoderConfig, WebPFreeDecBuffer,
    WebPGetFeatures, WebPRGBABuffer, WebPYUVABuffer,
};

use crate::flatten::onto_white;
use crate::resize::{self, Area};
use crate::square::Square;

/// The largest square, in pixels, decoded at full size as planes (a 4096
/// pixel square: 25 MB of planes). Larger ones are scaled by libwebp.
const MAX_PLANE_PIXELS: u64 = 4096 * 4096;

/// `WebPBitstreamFeatures::format` of a lossy (VP8) file.
const LOSSY: i32 = 1;

/// The `square` of a still WebP as opaque RGB, with the square's place in
/// the result: scaled to the avatar from planes, or scaled down by libwebp
/// to [`resize::decoded_side`] when it is at least twice that (smaller
/// steps are left to the Lanczos filter); or `None` for an animation or a
/// file libwebp cannot decode.
pub(crate) fn decode(bytes: &[u8], square: Square) -> Option<(RgbImage, Square)> {
    let mut config = WebPDecoderConfig::new().ok()?;
    // SAFETY: the pointer and length describe `bytes`, which libwebp only
    // reads; `config.input` is a live, initialised struct it fills in.
    let status = unsafe { WebPGetFeatures(bytes.as_ptr(), bytes.len(), &mut config.input) };
    if status != VP8StatusCode::VP8_STATUS_OK || config.input.has_animation != 0 {
        return None;
    }
    let alpha = config.input.has_alpha != 0;
    let int = |value: u32| i32::try_from(value).ok();
    // libwebp snaps the crop's corner to even coordinates; snapping it here
    // keeps the square whole, at most one pixel from the centre.
    let options = &mut config.options;
    options.use_cropping = 1;
    options.crop_left = int(square.left & !1)?;
    options.crop_top = int(square.top & !1)?;
    options.crop_width = int(square.crop)?;
    options.crop_height = int(square.crop)?;

    // Planes only where even the half-size chroma is scaled down: scaling
    // it up would sharpen its edges (more bytes, no gain) where libwebp's
    // upsampling smooths them.
    if !alpha
        && config.input.format == LOSSY
        && square.crop >= square.side.saturating_mul(2)
        && u64::from(square.crop).pow(2) <= MAX_PLANE_PIXELS
    {
        let pixels = decode_planes(bytes, &mut config, square)?;
        return Some((
            pixels,
            Square::centred(square.side, square.side, square.side),
        ));
    }

    let wanted = resize::decoded_side(square.side);
    let decoded = if square.crop >= wanted.saturating_mul(2) {
        wanted
    } else {
        square.crop
    };
    if decoded != square.crop {
        config.options.use_scaling = 1;
        config.options.scaled_width = int(decoded)?;
        config.options.scaled_height = int(decoded)?;
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
    // SAFETY: the output buffer is `pixels`, which holds `stride` bytes for
    // each of the `decoded` rows libwebp writes (the cropped, scaled size
    // set above) and outlives the call.
    if !unsafe { run(bytes, &mut config) } {
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

/// Decodes the cropped `square` of a lossy file (options already set) into
/// Y, U and V planes and scales each down to the avatar's side, then
/// converts to RGB.
fn decode_planes(bytes: &[u8], config: &mut WebPDecoderConfig, square: Square) -> Option<RgbImage> {
    let luma_side = square.crop;
    let chroma_side = luma_side.div_ceil(2);
    let samples = |side: u32| usize::try_from(side).ok()?.checked_pow(2);
    let mut y = vec![0u8; samples(luma_side)?];
    let mut u = vec![0u8; samples(chroma_side)?];
    let mut v = vec![0u8; samples(chroma_side)?];
    // The in-loop filter's work does not survive a downscale by half or
    // more (libwebp itself skips it below 3/4 when it scales).
    config.options.bypass_filtering = 1;
    config.output.colorspace = WEBP_CSP_MODE::MODE_YUV;
    config.output.is_external_memory = 1;
    config.output.u.YUVA = WebPYUVABuffer {
        y: y.as_mut_ptr(),
        u: u.as_mut_ptr(),
        v: v.as_mut_ptr(),
        a: std::ptr::null_mut(),
        y_stride: i32::try_from(luma_side).ok()?,
        u_stride: i32::try_from(chroma_side).ok()?,
        v_stride: i32::try_from(chroma_side).ok()?,
        a_stride: 0,
        y_size: y.len(),
        u_size: u.len(),
        v_size: v.len(),
        a_size: 0,
    };
    // SAFETY: the output buffers are `y`, `u` and `v`, each holding its
    // stride for each row of the cropped size set by the caller (chroma at
    // half the size, rounded up), and they outlive the call; a file without
    // alpha writes no alpha plane.
    if !unsafe { run(bytes, config) } {
        return None;
    }
    let side = square.side;
    let from_corner = |side: f64| Area {
        left: 0.0,
        top: 0.0,
        side,
    };
    let luma = from_corner(f64::from(luma_side));
    let y = resize::resize_plane(&y, luma_side, luma_side, luma, side).ok()?;
    // The chroma planes cover the luma's square at half its resolution.
    let chroma = from_corner(f64::from(luma_side) / 2.0);
    let u = resize::resize_plane(&u, chroma_side, chroma_side, chroma, side).ok()?;
    let v = resize::resize_plane(&v, chroma_side, chroma_side, chroma, side).ok()?;
    let rgb = y
        .iter()
        .zip(&u)
        .zip(&v)
        .flat_map(|((&y, &u), &v)| yuv_to_rgb(y, u, v))
        .collect();
    RgbImage::from_raw(side, side, rgb)
}

/// Runs the decoder set up in `config` on `bytes` and frees what it
/// allocated for itself; true when it decoded the image.
///
/// # Safety
///
/// `config.output` must name external buffers, alive until this returns,
/// large enough for the colour space and the cropped (and scaled) size its
/// options ask for.
unsafe fn run(bytes: &[u8], config: &mut WebPDecoderConfig) -> bool {
    // SAFETY: `bytes` is only read; the output buffers are the caller's
    // (see above), which libwebp writes and does not free.
    let status = unsafe { WebPDecode(bytes.as_ptr(), bytes.len(), config) };
    // SAFETY: `config.output` was set up by the caller; with external
    // memory this frees only what libwebp allocated for itself.
    unsafe { WebPFreeDecBuffer(&mut config.output) };
    status == VP8StatusCode::VP8_STATUS_OK
}

/// libwebp's own conversion (`VP8YuvToRgb` in `dsp/yuv.h`): BT.601 with
/// studio-range luma, in 14-bit fixed point.
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let mult_hi = |value: u8, coefficient: i32| (i32::from(value) * coefficient) >> 8;
    let clip = |value: i32| u8::try_from((value >> 6).clamp(0, 255)).unwrap_or(u8::MAX);
    let luma = mult_hi(y, 19077);
    [
        clip(luma + mult_hi(v, 26149) - 14234),
        clip(luma - mult_hi(u, 6419) - mult_hi(v, 13320) + 8708),
        clip(luma + mult_hi(u, 33050) - 17685),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{BLUE, RED, near};
    use image::{ImageFormat, Rgb, Rgba};

    fn lossless(image: DynamicImage) -> Vec<u8> {
        crate::fixtures::encoded(&image, ImageFormat::WebP)
    }

    /// `image` as a lossy WebP at quality 90, written by libwebp.
    fn lossy(image: &RgbImage) -> Vec<u8> {
        let (width, height) = image.dimensions();
        let int = |value: u32| i32::try_from(value).expect("a small fixture");
        let mut out = std::ptr::null_mut();
        // SAFETY: the pixels are `height` rows of `width * 3` bytes; libwebp
        // allocates `out`, which is copied and freed below.
        let len = unsafe {
            libwebp_sys::WebPEncodeRGB(
                image.as_raw().as_ptr(),
                int(width),
                int(height),
                int(width * 3),
                90.0,
                &mut out,
            )
        };
        assert!(len > 0, "libwebp encodes the fixture");
        // SAFETY: libwebp wrote `len` bytes at `out`, freed once after copying.
        let bytes = unsafe { std::slice::from_raw_parts(out, len) }.to_vec();
        // SAFETY: `out` came from libwebp's encoder and is not used again.
        unsafe { libwebp_sys::WebPFree(out.cast()) };
        bytes
    }

    #[test]
    fn a_lossy_square_is_scaled_from_its_planes_as_from_full_rgb() {
        // Smooth colours, as in a photo, so that only the conversion differs.
        let source = RgbImage::from_fn(900, 600, |x, y| {
            let byte = |value: u32| u8::try_from(value % 256).expect("below 256");
            Rgb([byte(x / 4), byte(y / 3), byte((x + y) / 6)])
        });
        let bytes = lossy(&source);
        let square = Square::centred(900, 600, 100);
        let (pixels, inside) = decode(&bytes, square).expect("decodes");
        assert_eq!(pixels.dimensions(), (100, 100));
        assert_eq!((inside.left, inside.top, inside.crop), (0, 0, 100));
        // The same file decoded whole by the image crate, then cut and scaled.
        let whole = image::load_from_memory(&bytes).expect("decodes").to_rgb8();
        let expected = resize::resize(whole, square).expect("resizes");
        let differences: Vec<u32> = pixels
            .as_raw()
            .iter()
            .zip(expected.as_raw())
            .map(|(&a, &b)| u32::from(a.abs_diff(b)))
            .collect();
        let mean = f64::from(differences.iter().sum::<u32>()) / differences.len() as f64;
        assert!(mean < 1.5, "mean difference {mean}");
        assert!(
            differences.iter().all(|&d| d <= 12),
            "largest {:?}",
            differences.iter().max()
        );
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
