//! Decodes JPEG with libjpeg-turbo, letting its IDCT scale the image down
//! (1/2, 1/4, 1/8) while keeping enough pixels for a sharp final resize.
//! Handles grey, YCbCr, RGB, CMYK and YCCK, baseline, progressive and
//! arithmetic-coded files; refuses lossless, hierarchical and 12-bit ones.
//! Other formats belong to `decode`.

use image::RgbImage;
use image::metadata::Orientation;
use turbojpeg::{PixelFormat, ScalingFactor, raw};

use crate::colour::cmyk_to_srgb;
use crate::frame::Frame;
use crate::jpeg_header::{HeaderError, JpegHeader, count_scans};
use crate::jpeg_region::{Region, RegionDecoder};
use crate::square::{Square, Turn};
use crate::{Options, PipelineError, Placement};
use crate::{cost, dimensions, face, resize};

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
    if header.is_progressive() {
        // A progressive decode holds every coefficient and makes a pass over
        // them per scan: both are bounded before it starts.
        let pixels = u64::from(header.width) * u64::from(header.height);
        cost::check_scans(count_scans(bytes), pixels)?;
        cost::check_decode_bytes(header.coefficient_bytes, options.max_decode_bytes)?;
    }
    let orientation =
        Orientation::from_exif(header.orientation).unwrap_or(Orientation::NoTransforms);
    // The square at full size: it decides the scale the DCT decodes at.
    let wanted = Square::placed(
        header.width,
        header.height,
        options.size,
        options.crop.as_ref(),
        Turn::of(orientation),
    );
    let side = wanted.side;

    let mut decoder = RegionDecoder::new().map_err(internal)?;
    decoder
        .set(
            raw::TJPARAM_TJPARAM_SCANLIMIT,
            i32::try_from(cost::MAX_SCANS).map_err(internal)?,
        )
        .map_err(internal)?;
    // Merged chroma upsampling: it costs a third less at full scale, and the
    // final Lanczos step smooths the difference away (same SSIM on the corpus).
    decoder
        .set(raw::TJPARAM_TJPARAM_FASTUPSAMPLE, 1)
        .map_err(internal)?;
    let full = match decoder.read_header(bytes) {
        Ok(full) => full,
        Err(e) if is_harmless(&e) => return Ok(None),
        Err(e) => return Err(corrupt(e)),
    };
    let mut scale = scale_for(wanted.crop, side);
    // The face detector needs the picture larger than a small avatar does.
    if options.by_content() == Some(Placement::Face) {
        let for_faces = scale_keeping(full.width.max(full.height), face::ANALYSED_SIDE);
        if for_faces.denom() < scale.denom() {
            scale = for_faces;
        }
    }
    let scaled = |length: u32| {
        usize::try_from(length)
            .ok()
            .and_then(|length| u32::try_from(scale.scale(length)).ok())
            .ok_or_else(|| internal("scaled size overflows"))
    };
    let (width, height) = (scaled(full.width)?, scaled(full.height)?);
    let square = match options.crop {
        None => Square::centred(width, height, side),
        // The full-size square, scaled as the image is.
        Some(_) => {
            let along = |at: u32, full_length: u32, length: u32| {
                u32::try_from(u64::from(at) * u64::from(length) / u64::from(full_length.max(1)))
                    .unwrap_or(length)
            };
            let left = along(wanted.left, full.width, width).min(width.saturating_sub(1));
            let top = along(wanted.top, full.height, height).min(height.saturating_sub(1));
            let crop =
                along(wanted.crop, full.width, width).clamp(1, (width - left).min(height - top));
            Square {
                left,
                top,
                crop,
                side: side.min(crop),
            }
        }
    };
    // Placed by content, the square may go anywhere: the whole picture.
    let alignment = match options.by_content() {
        Some(_) => None,
        None => full.imcu_width.map(scaled).transpose()?,
    };
    let region = region_around(square, width, height, alignment);
    let format = if full.cmyk {
        PixelFormat::CMYK
    } else {
        PixelFormat::RGB
    };
    let samples = region
        .samples(format)
        .ok_or_else(|| internal("region size overflows"))?;
    let mut pixels = vec![0; samples];
    match decoder.decompress(bytes, scale, region, format, &mut pixels) {
        Ok(()) => {}
        Err(e) if is_harmless(&e) => {}
        Err(e) => return Err(corrupt(e)),
    }

    let icc = header.icc;
    let (pixels, icc) = if full.cmyk {
        let inverted = header.adobe_transform.is_some();
        (cmyk_to_srgb(pixels, inverted, icc.as_deref()), None)
    } else {
        (pixels, icc)
    };
    let pixels = RgbImage::from_raw(region.width, region.height, pixels)
        .ok_or_else(|| PipelineError::Internal("decoded JPEG has the wrong size".into()))?;
    Ok(Some(Frame {
        pixels,
        square: Square {
            left: square.left - region.left,
            top: square.top - region.top,
            ..square
        },
        orientation,
        icc,
    }))
}

/// The part of a `width` x `height` image to decode for `square`: the square
/// and the margin the resize filter reads around it, widened on the left to
/// a multiple of `alignment` (the scaled iMCU width) as libjpeg-turbo
/// requires. Without an alignment the whole image is decoded.
fn region_around(square: Square, width: u32, height: u32, alignment: Option<u32>) -> Region {
    let Some(alignment) = alignment.filter(|&a| a > 0) else {
        return Region {
            left: 0,
            top: 0,
            width,
            height,
        };
    };
    let margin = resize::reach(square.crop, square.side);
    let left = square.left.saturating_sub(margin) / alignment * alignment;
    let top = square.top.saturating_sub(margin);
    let right = square
        .left
        .saturating_add(square.crop)
        .saturating_add(margin)
        .min(width);
    let bottom = square
        .top
        .saturating_add(square.crop)
        .saturating_add(margin)
        .min(height);
    Region {
        left,
        top,
        width: right - left,
        height: bottom - top,
    }
}

/// The strongest IDCT scaling that keeps a `shorter` side of at least
/// [`resize::decoded_side`] of `side`.
fn scale_for(shorter: u32, side: u32) -> ScalingFactor {
    scale_keeping(shorter, resize::decoded_side(side))
}

/// The strongest IDCT scaling that keeps `length` pixels at least `wanted`.
fn scale_keeping(length: u32, wanted: u32) -> ScalingFactor {
    [8, 4, 2]
        .into_iter()
        .find(|&denominator| length.div_ceil(denominator) >= wanted)
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
    fn a_phone_photo_is_decoded_at_a_quarter_for_a_512_avatar() {
        assert_eq!(scale_for(3024, 512), ScalingFactor::ONE_QUARTER);
        assert_eq!(scale_for(3024, 600), ScalingFactor::ONE_HALF);
    }

    #[test]
    fn a_48_megapixel_photo_is_decoded_at_an_eighth() {
        assert_eq!(scale_for(6000, 512), ScalingFactor::new(1, 8));
    }

    #[test]
    fn the_region_holds_the_square_and_the_filter_margin_from_an_aligned_column() {
        let square = Square::centred(2016, 1512, 512);
        let region = region_around(square, 2016, 1512, Some(8));
        let margin = resize::reach(1512, 512);
        assert_eq!(margin, 10);
        assert_eq!(region.left % 8, 0);
        assert!(region.left <= square.left - margin && square.left - margin - region.left < 8);
        assert_eq!((region.top, region.height), (0, 1512));
        assert_eq!(region.left + region.width, square.left + 1512 + margin);
    }

    #[test]
    fn without_a_known_alignment_the_whole_image_is_decoded() {
        let region = region_around(Square::centred(300, 200, 64), 300, 200, None);
        assert_eq!(
            (region.left, region.top, region.width, region.height),
            (0, 0, 300, 200)
        );
    }

    #[test]
    fn only_the_centre_of_a_wide_jpeg_is_decoded() {
        // Red, then blue in the centre square, then green.
        let wide = RgbImage::from_fn(1024, 256, |x, _| match x {
            0..384 => image::Rgb(RED),
            384..640 => image::Rgb(crate::fixtures::BLUE),
            _ => image::Rgb(crate::fixtures::GREEN),
        });
        let bytes = crate::fixtures::encoded(&DynamicImage::ImageRgb8(wide), ImageFormat::Jpeg);
        let options = Options {
            size: 64,
            ..Options::default()
        };
        let frame = decode(&bytes, &options)
            .expect("decodes")
            .expect("needs no fallback");
        // Scaled by 1/2 to 512x128: the square is 128 wide, plus its margin.
        assert!(frame.pixels.width() < 200, "{}", frame.pixels.width());
        assert_eq!(frame.pixels.height(), 128);
        let Square {
            left,
            top,
            crop,
            side,
        } = frame.square;
        assert_eq!((top, crop, side), (0, 128, 64));
        for x in [left, left + crop / 2, left + crop - 1] {
            let pixel = frame.pixels.get_pixel(x, 64).0;
            assert!(near(pixel, crate::fixtures::BLUE, 40), "{x}: {pixel:?}");
        }
    }

    #[test]
    fn a_source_near_the_output_size_is_decoded_whole() {
        assert_eq!(scale_for(900, 512), ScalingFactor::ONE);
        assert_eq!(scale_for(300, 300), ScalingFactor::ONE);
    }
}
