//! Decodes JPEG with libjpeg-turbo, letting its IDCT scale the image down
//! (1/2, 1/4, 1/8) while keeping enough pixels for a sharp final resize.
//! Handles grey, YCbCr, RGB, CMYK and YCCK, baseline, progressive and
//! arithmetic-coded files; refuses lossless, hierarchical and 12-bit ones.
//! Other formats belong to `decode`.

use image::RgbImage;
use image::metadata::Orientation;
use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};

use crate::colour::cmyk_to_srgb;
use crate::dimensions;
use crate::frame::Frame;
use crate::jpeg_header::{HeaderError, JpegHeader};
use crate::{Options, PipelineError};

/// The decoded image keeps at least this many times the output side, so the
/// final Lanczos step has real detail to work from.
const DECODED_OVER_OUTPUT: u32 = 2;

/// The most scans a progressive JPEG may have. Real files have about ten; a
/// crafted file with thousands makes decoding crawl.
const MAX_SCANS: u32 = 500;

/// Warnings from libjpeg-turbo that leave a complete, correct image: stray
/// bytes between segments, which some writers leave behind.
const HARMLESS_WARNINGS: [&str; 1] = ["extraneous bytes before marker"];

/// Decodes a JPEG into a frame scaled for an output of `options.size`, or
/// `None` when libjpeg-turbo declines a file only for a harmless irregularity
/// in its header, which a more lenient decoder can read.
pub(crate) fn decode(bytes: &[u8], options: &Options) -> Result<Option<Frame>, PipelineError> {
    let header = JpegHeader::parse(bytes).map_err(|HeaderError::Malformed(why)| {
        PipelineError::Corrupt(format!("the JPEG header is malformed: {why}"))
    })?;
    if let Some(detail) = header.unsupported() {
        return Err(PipelineError::UnsupportedVariant {
            format: "JPEG",
            detail,
        });
    }
    dimensions::check(header.width, header.height, options.max_pixels)?;
    let side = Frame::side_for(header.width, header.height, options.size);

    let mut decompressor = Decompressor::new().map_err(internal)?;
    let full = match decompressor.read_header(bytes) {
        Ok(full) => full,
        Err(e) if is_harmless(&e) => return Ok(None),
        Err(e) => return Err(corrupt(e)),
    };
    let scale = scale_for(header.width.min(header.height), side);
    decompressor.set_scaling_factor(scale).map_err(internal)?;
    decompressor.set_scan_limit(MAX_SCANS).map_err(internal)?;
    // Merged chroma upsampling: it costs a third less at full scale, and the
    // final Lanczos step smooths the difference away (same SSIM on the corpus).
    decompressor.set_fast_upsample(true).map_err(internal)?;
    let scaled = full.scaled(scale);
    let cmyk = matches!(full.colorspace, Colorspace::CMYK | Colorspace::YCCK);
    let format = if cmyk {
        PixelFormat::CMYK
    } else {
        PixelFormat::RGB
    };
    let pitch = scaled.width * format.size();
    let mut pixels = vec![0; pitch * scaled.height];
    let image = Image {
        pixels: pixels.as_mut_slice(),
        width: scaled.width,
        pitch,
        height: scaled.height,
        format,
    };
    match decompressor.decompress(bytes, image) {
        Ok(()) => {}
        Err(e) if is_harmless(&e) => {}
        Err(e) => return Err(corrupt(e)),
    }

    let icc = header.icc;
    let (pixels, icc) = if cmyk {
        let inverted = header.adobe_transform.is_some();
        (cmyk_to_srgb(pixels, inverted, icc.as_deref()), None)
    } else {
        (pixels, icc)
    };
    let width = u32::try_from(scaled.width).map_err(internal)?;
    let height = u32::try_from(scaled.height).map_err(internal)?;
    let pixels = RgbImage::from_raw(width, height, pixels)
        .ok_or_else(|| PipelineError::Internal("decoded JPEG has the wrong size".into()))?;
    Ok(Some(Frame {
        pixels,
        side,
        orientation: Orientation::from_exif(header.orientation)
            .unwrap_or(Orientation::NoTransforms),
        icc,
    }))
}

/// The strongest IDCT scaling that keeps a `shorter` side of at least
/// [`DECODED_OVER_OUTPUT`] times `side`.
fn scale_for(shorter: u32, side: u32) -> ScalingFactor {
    let wanted = side.saturating_mul(DECODED_OVER_OUTPUT);
    [8, 4, 2]
        .into_iter()
        .find(|&denominator| shorter.div_ceil(denominator) >= wanted)
        .map_or(ScalingFactor::ONE, |denominator| {
            ScalingFactor::new(1, denominator as usize)
        })
}

fn is_harmless(error: &turbojpeg::Error) -> bool {
    let message = error.to_string();
    HARMLESS_WARNINGS.iter().any(|w| message.contains(w))
}

fn corrupt(error: turbojpeg::Error) -> PipelineError {
    let message = error.to_string();
    let message = message
        .strip_prefix("TurboJPEG error: ")
        .unwrap_or(&message);
    PipelineError::Corrupt(message.to_owned())
}

fn internal(error: impl std::fmt::Display) -> PipelineError {
    PipelineError::Internal(format!("JPEG decoder: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{RED, near, with_stray_bytes};
    use image::{DynamicImage, GrayImage, ImageFormat, Luma};
    use jpeg_encoder::{ColorType, Encoder};

    /// A 16x16 JPEG of one CMYK ink mix, written the way Adobe applications do.
    fn cmyk_jpeg(ink: [u8; 4], color_type: ColorType) -> Vec<u8> {
        let data: Vec<u8> = ink.iter().copied().cycle().take(16 * 16 * 4).collect();
        let mut jpeg = Vec::new();
        Encoder::new(&mut jpeg, 95)
            .encode(&data, 16, 16, color_type)
            .expect("the fixture encodes");
        jpeg
    }

    #[test]
    fn cmyk_and_ycck_jpegs_come_out_in_their_colours_not_inverted() {
        for color_type in [ColorType::Cmyk, ColorType::CmykAsYcck] {
            let frame = decode(
                &cmyk_jpeg([0, 255, 255, 0], color_type),
                &Options::default(),
            )
            .expect("decodes")
            .expect("needs no fallback");
            let pixel = frame.pixels.get_pixel(8, 8).0;
            assert!(near(pixel, RED, 12), "{color_type:?} gives {pixel:?}");
        }
    }

    #[test]
    fn stray_bytes_in_the_header_hand_the_file_to_the_lenient_decoder() {
        let bytes = with_stray_bytes(&crate::fixtures::encoded(
            &DynamicImage::ImageRgb8(crate::fixtures::quadrants(16)),
            ImageFormat::Jpeg,
        ));
        assert!(matches!(decode(&bytes, &Options::default()), Ok(None)));
    }

    #[test]
    fn a_grey_jpeg_becomes_grey_rgb() {
        let grey = DynamicImage::ImageLuma8(GrayImage::from_pixel(16, 16, Luma([90])));
        let bytes = crate::fixtures::encoded(&grey, ImageFormat::Jpeg);
        let frame = decode(&bytes, &Options::default())
            .expect("decodes")
            .expect("needs no fallback");
        assert!(near(frame.pixels.get_pixel(8, 8).0, [90, 90, 90], 2));
    }

    #[test]
    fn a_phone_photo_is_decoded_at_half_size_for_a_512_avatar() {
        assert_eq!(scale_for(3024, 512), ScalingFactor::ONE_HALF);
    }

    #[test]
    fn a_48_megapixel_photo_is_decoded_at_a_quarter() {
        assert_eq!(scale_for(6000, 512), ScalingFactor::ONE_QUARTER);
    }

    #[test]
    fn a_source_near_the_output_size_is_decoded_whole() {
        assert_eq!(scale_for(900, 512), ScalingFactor::ONE);
        assert_eq!(scale_for(300, 300), ScalingFactor::ONE);
    }
}
