//! The whole pipeline behind one call: recognise, check, decode, flatten,
//! crop, resize, encode. Each step lives in its own module; this one only
//! orders them and keeps a panic in any of them from reaching the caller.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use image::RgbImage;

use crate::colour::rgb_to_srgb;
use crate::decode::decode;
use crate::encode::encode;
use crate::format::SourceFormat;
use crate::orient::upright;
use crate::placeholder::placeholder;
use crate::resize::{resize, shrink};
use crate::{Avatar, Options, PipelineError, Resized, Stages};
use crate::{Placement, attention, face};

/// Turns uploaded image bytes into a square avatar JPEG.
///
/// The format is read from the bytes. Sizes above `options.max_pixels` are
/// refused from the header, before decoding. The result is upright (EXIF
/// orientation applied), cut from the centre, at most `options.size` on a side
/// and never enlarged, with transparency flattened onto white.
///
/// This is CPU work: run it on a blocking thread. It never panics.
pub fn convert(bytes: &[u8], options: &Options) -> Result<Avatar, PipelineError> {
    catch_unwind(AssertUnwindSafe(|| convert_unguarded(bytes, options))).unwrap_or_else(|_| {
        Err(PipelineError::Internal(
            "the decoder failed unexpectedly".into(),
        ))
    })
}

fn convert_unguarded(bytes: &[u8], options: &Options) -> Result<Avatar, PipelineError> {
    if options.size == 0 || options.smaller.contains(&0) {
        return Err(PipelineError::InvalidOptions("size must be at least 1"));
    }
    if !(1..=100).contains(&options.quality) {
        return Err(PipelineError::InvalidOptions("quality must be 1 to 100"));
    }
    if bytes.is_empty() {
        return Err(PipelineError::Empty);
    }
    let format = SourceFormat::detect(bytes).ok_or(PipelineError::UnsupportedFormat)?;
    let started = Instant::now();
    let frame = decode(bytes, format, options)?;
    let decoded = Instant::now();
    // The centre square of the stored image is the centre square of the
    // upright one, so cropping and scaling come first and turning the image
    // upright and converting its colours touch only the small result.
    let square = match options.by_content() {
        Some(Placement::Face) => match face::place(&frame.pixels, frame.square, frame.orientation)?
        {
            Some(square) => square,
            None => attention::place(&frame.pixels, frame.square)?,
        },
        Some(_) => attention::place(&frame.pixels, frame.square)?,
        None => frame.square,
    };
    let pixels = resize(frame.pixels, square)?;
    let mut pixels = upright(pixels, frame.orientation)?;
    if let Some(profile) = &frame.icc {
        rgb_to_srgb(&mut pixels, profile);
    }
    let mut encoding = Duration::ZERO;
    let mut timed_encode = |pixels: &RgbImage| {
        let began = Instant::now();
        let jpeg = encode(pixels, options.quality);
        encoding += began.elapsed();
        jpeg
    };
    let jpeg = timed_encode(&pixels)?;
    let mut smaller = Vec::with_capacity(options.smaller.len());
    let mut sides = options.smaller.clone();
    sides.sort_unstable_by(|a, b| b.cmp(a));
    // Each side from the next larger result, never from the source again;
    // a side the avatar already is reuses its JPEG.
    let mut larger = pixels;
    let mut larger_jpeg: Option<Vec<u8>> = None;
    for requested in sides {
        let side = requested.min(larger.width());
        if side < larger.width() {
            larger = shrink(&larger, side)?;
            larger_jpeg = Some(timed_encode(&larger)?);
        }
        smaller.push(Resized {
            requested,
            side,
            jpeg: larger_jpeg.as_ref().unwrap_or(&jpeg).clone(),
        });
    }
    let placeholder = placeholder(&larger)?;
    let finished = Instant::now();
    Ok(Avatar {
        jpeg,
        side: square.side,
        smaller,
        placeholder,
        source_format: format.name(),
        stages: Stages {
            decode: decoded - started,
            resize: (finished - decoded).saturating_sub(encoding),
            encode: encoding,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use image::DynamicImage;
    use image::codecs::gif::GifEncoder;
    use image::{Frame, ImageFormat, Rgba, RgbaImage};

    use super::*;
    use crate::fixtures::{
        BLUE, GREEN, RED, WHITE, bmp_header, decoded, encoded, markers, near, png_header,
        quadrants, with_exif_orientation, with_stray_bytes,
    };

    fn small(size: u32) -> Options {
        Options {
            size,
            ..Options::default()
        }
    }

    #[test]
    fn a_png_becomes_a_square_progressive_jpeg_without_metadata() {
        let source = DynamicImage::ImageRgb8(quadrants(128));
        let avatar = convert(&encoded(&source, ImageFormat::Png), &small(64)).expect("converts");
        assert_eq!((avatar.side, avatar.source_format), (64, "png"));
        assert_eq!(decoded(&avatar.jpeg).dimensions(), (64, 64));
        let markers = markers(&avatar.jpeg);
        assert!(markers.contains(&0xC2), "progressive frame in {markers:x?}");
        assert!(!markers.contains(&0xE1), "no EXIF or XMP in {markers:x?}");
        assert!(!markers.contains(&0xFE), "no comment in {markers:x?}");
    }

    #[test]
    fn every_supported_format_is_converted() {
        let source = DynamicImage::ImageRgb8(quadrants(48));
        let formats = [
            (ImageFormat::Jpeg, "jpeg"),
            (ImageFormat::Png, "png"),
            (ImageFormat::Gif, "gif"),
            (ImageFormat::WebP, "webp"),
            (ImageFormat::Bmp, "bmp"),
            (ImageFormat::Tiff, "tiff"),
        ];
        for (format, name) in formats {
            let avatar = convert(&encoded(&source, format), &small(32))
                .unwrap_or_else(|e| panic!("{name} fails: {e}"));
            assert_eq!((avatar.side, avatar.source_format), (32, name));
            let pixels = decoded(&avatar.jpeg);
            assert!(near(pixels.get_pixel(6, 6).0, RED, 40), "{name}");
            assert!(near(pixels.get_pixel(25, 25).0, WHITE, 40), "{name}");
        }
    }

    #[test]
    fn transparency_is_composited_over_white() {
        let mut source = RgbaImage::from_pixel(32, 32, Rgba([255, 0, 0, 0]));
        for y in 0..32 {
            for x in 16..32 {
                source.put_pixel(x, y, Rgba([0, 0, 0, 128]));
            }
        }
        let bytes = encoded(&DynamicImage::ImageRgba8(source), ImageFormat::Png);
        let pixels = decoded(&convert(&bytes, &small(32)).expect("converts").jpeg);
        assert!(near(pixels.get_pixel(4, 16).0, WHITE, 3));
        assert!(near(pixels.get_pixel(28, 16).0, [127, 127, 127], 3));
    }

    #[test]
    fn every_side_is_made_from_one_conversion_with_a_placeholder() {
        let source = DynamicImage::ImageRgb8(quadrants(1024));
        let options = Options {
            smaller: vec![64, 256, 128],
            ..small(512)
        };
        let avatar = convert(&encoded(&source, ImageFormat::Jpeg), &options).expect("converts");
        assert_eq!(avatar.side, 512);
        let sides: Vec<_> = avatar
            .smaller
            .iter()
            .map(|r| (r.requested, r.side))
            .collect();
        assert_eq!(sides, [(256, 256), (128, 128), (64, 64)]);
        for resized in &avatar.smaller {
            let pixels = decoded(&resized.jpeg);
            let side = resized.side;
            assert_eq!(pixels.dimensions(), (side, side));
            let markers = markers(&resized.jpeg);
            assert!(markers.contains(&0xC2), "progressive frame in {markers:x?}");
            assert!(near(pixels.get_pixel(side / 4, side / 4).0, RED, 40));
            assert!(near(pixels.get_pixel(side * 3 / 4, side / 4).0, GREEN, 40));
            assert!(near(pixels.get_pixel(side / 4, side * 3 / 4).0, BLUE, 40));
        }
        let (width, height, _) =
            thumbhash::thumb_hash_to_rgba(&avatar.placeholder).expect("a ThumbHash");
        assert!(width > 0 && width == height, "{width}x{height}");
    }

    #[test]
    fn a_side_larger_than_the_source_is_made_at_the_sources_side() {
        let source = DynamicImage::ImageRgb8(quadrants(100));
        let options = Options {
            smaller: vec![256, 64],
            ..small(512)
        };
        let avatar = convert(&encoded(&source, ImageFormat::Png), &options).expect("converts");
        let sides: Vec<_> = avatar
            .smaller
            .iter()
            .map(|r| (r.requested, r.side))
            .collect();
        assert_eq!((avatar.side, sides), (100, vec![(256, 100), (64, 64)]));
        assert_eq!(
            avatar.smaller[0].jpeg, avatar.jpeg,
            "the same square, encoded once"
        );
        assert_eq!(decoded(&avatar.smaller[1].jpeg).dimensions(), (64, 64));
    }

    #[test]
    fn a_source_smaller_than_the_target_is_not_enlarged() {
        let source = DynamicImage::ImageRgb8(quadrants(40)).crop_imm(0, 0, 40, 30);
        let avatar =
            convert(&encoded(&source, ImageFormat::Png), &Options::default()).expect("converts");
        assert_eq!(avatar.side, 30);
        assert_eq!(decoded(&avatar.jpeg).dimensions(), (30, 30));
    }

    #[test]
    fn sixteen_bit_images_are_reduced_to_eight_bits() {
        let source = DynamicImage::ImageRgb8(quadrants(32)).into_rgb16();
        let bytes = encoded(&DynamicImage::ImageRgb16(source), ImageFormat::Png);
        let pixels = decoded(&convert(&bytes, &small(32)).expect("converts").jpeg);
        assert!(near(pixels.get_pixel(24, 6).0, GREEN, 40));
    }

    #[test]
    fn every_exif_orientation_turns_the_image_upright() {
        let jpeg = encoded(&DynamicImage::ImageRgb8(quadrants(32)), ImageFormat::Jpeg);
        // Where red and green end up once each orientation is applied, as
        // (column, row) of the quadrant.
        let expected = [
            (1, (0, 0), (1, 0)),
            (2, (1, 0), (0, 0)),
            (3, (1, 1), (0, 1)),
            (4, (0, 1), (1, 1)),
            (5, (0, 0), (0, 1)),
            (6, (1, 0), (1, 1)),
            (7, (1, 1), (1, 0)),
            (8, (0, 1), (0, 0)),
        ];
        for (orientation, red, green) in expected {
            let bytes = with_exif_orientation(&jpeg, orientation);
            let pixels = decoded(&convert(&bytes, &small(32)).expect("converts").jpeg);
            let at = |(column, row): (u32, u32)| pixels.get_pixel(8 + 16 * column, 8 + 16 * row).0;
            assert!(near(at(red), RED, 40), "red for orientation {orientation}");
            assert!(
                near(at(green), GREEN, 40),
                "green for orientation {orientation}"
            );
        }
    }

    #[test]
    fn a_crop_of_the_upright_image_is_what_the_avatar_shows_for_every_orientation() {
        // Large enough that the JPEG is decoded at 1/8 of its size.
        let source = DynamicImage::ImageRgb8(quadrants(1024));
        let jpeg = encoded(&source, ImageFormat::Jpeg);
        let cropped = |crop: &str| Options {
            crop: Some(crate::Crop::parse(crop).expect("a crop")),
            ..small(32)
        };
        let options = cropped("0.5,0,0.5,0.5");
        for exif in 1..=8u8 {
            let orientation =
                image::metadata::Orientation::from_exif(exif).expect("an EXIF orientation");
            let mut upright = source.clone();
            upright.apply_orientation(orientation);
            let want = upright.to_rgb8().get_pixel(768, 256).0;
            let bytes = with_exif_orientation(&jpeg, exif);
            let avatar = decoded(&convert(&bytes, &options).expect("converts").jpeg);
            assert_eq!(avatar.dimensions(), (32, 32));
            for (x, y) in [(2, 2), (29, 2), (2, 29), (29, 29), (16, 16)] {
                let got = avatar.get_pixel(x, y).0;
                assert!(
                    near(got, want, 40),
                    "orientation {exif} at ({x}, {y}): {got:?}, want {want:?}"
                );
            }
        }
        // The same through the `image` crate's decoders, and a rectangle
        // that is not square: its centred square.
        let png = encoded(&source, ImageFormat::Png);
        let avatar = decoded(
            &convert(&png, &cropped("0,0.5,1,0.5"))
                .expect("converts")
                .jpeg,
        );
        // The centred square of the bottom half straddles blue and white.
        assert!(near(avatar.get_pixel(4, 16).0, BLUE, 40));
        assert!(near(avatar.get_pixel(27, 16).0, WHITE, 40));
    }

    #[test]
    fn a_jpeg_with_stray_bytes_between_segments_is_converted() {
        let bytes = with_stray_bytes(&encoded(
            &DynamicImage::ImageRgb8(quadrants(32)),
            ImageFormat::Jpeg,
        ));
        let pixels = decoded(&convert(&bytes, &small(32)).expect("converts").jpeg);
        assert!(near(pixels.get_pixel(8, 8).0, RED, 40));
    }

    #[test]
    fn an_animated_gif_gives_its_first_frame() {
        let frames = [RED, BLUE].map(|colour| {
            let [r, g, b] = colour;
            Frame::new(RgbaImage::from_pixel(16, 16, Rgba([r, g, b, 255])))
        });
        let mut bytes = Vec::new();
        GifEncoder::new(&mut bytes)
            .encode_frames(frames)
            .expect("the fixture encodes");
        let pixels = decoded(&convert(&bytes, &small(16)).expect("converts").jpeg);
        assert!(near(pixels.get_pixel(8, 8).0, RED, 40));
    }

    #[test]
    fn a_truncated_png_is_rejected_as_corrupt() {
        let bytes = encoded(&DynamicImage::ImageRgb8(quadrants(64)), ImageFormat::Png);
        let error = convert(&bytes[..bytes.len() / 2], &small(32)).expect_err("is refused");
        assert_eq!(error.code(), "image_rejected");
        assert!(matches!(error, PipelineError::Corrupt(_)), "{error:?}");
    }

    #[test]
    fn a_truncated_jpeg_is_rejected_as_corrupt() {
        let bytes = encoded(&DynamicImage::ImageRgb8(quadrants(64)), ImageFormat::Jpeg);
        let error = convert(&bytes[..bytes.len() / 2], &small(32)).expect_err("is refused");
        assert!(matches!(error, PipelineError::Corrupt(_)), "{error:?}");
    }

    #[test]
    fn bytes_that_are_no_image_are_an_unsupported_media_type() {
        let error = convert(b"%PDF-1.7 this is no image", &small(32)).expect_err("is refused");
        assert_eq!(error.code(), "unsupported_media_type");
        assert!(
            error
                .to_string()
                .contains("JPEG, PNG, WebP, GIF, BMP, TIFF")
        );
    }

    #[test]
    fn empty_bytes_are_rejected() {
        let error = convert(b"", &small(32)).expect_err("is refused");
        assert!(matches!(error, PipelineError::Empty));
    }

    #[test]
    fn more_pixels_than_the_limit_are_refused_from_the_header() {
        let bytes = encoded(&DynamicImage::ImageRgb8(quadrants(64)), ImageFormat::Png);
        let options = Options {
            max_pixels: 1000,
            ..small(32)
        };
        let error = convert(&bytes, &options).expect_err("is refused");
        assert!(
            matches!(
                error,
                PipelineError::TooManyPixels {
                    width: 64,
                    height: 64,
                    limit: 1000
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_huge_header_is_refused_at_once_without_pixel_data() {
        let started = Instant::now();
        let sides =
            convert(&png_header(65_536, 65_536), &Options::default()).expect_err("is refused");
        let pixels =
            convert(&bmp_header(20_000, 14_000), &Options::default()).expect_err("is refused");
        assert!(
            matches!(sides, PipelineError::SideTooLong { .. }),
            "{sides:?}"
        );
        assert!(
            matches!(pixels, PipelineError::TooManyPixels { .. }),
            "{pixels:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn damaged_files_of_every_format_give_errors_not_panics() {
        let source = DynamicImage::ImageRgb8(quadrants(24));
        let formats = [
            ImageFormat::Jpeg,
            ImageFormat::Png,
            ImageFormat::Gif,
            ImageFormat::WebP,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
        ];
        for format in formats {
            let bytes = encoded(&source, format);
            let cuts = (1..bytes.len()).step_by(7).map(|end| bytes[..end].to_vec());
            let flips = (4..bytes.len()).step_by(5).map(|at| {
                let mut damaged = bytes.clone();
                damaged[at] ^= 0xA5;
                damaged
            });
            for damaged in cuts.chain(flips) {
                if let Err(PipelineError::Internal(why)) = convert(&damaged, &small(16)) {
                    panic!("{format:?} of {} bytes: {why}", damaged.len());
                }
            }
        }
    }

    #[test]
    fn invalid_options_are_refused() {
        let bytes = encoded(&DynamicImage::ImageRgb8(quadrants(8)), ImageFormat::Png);
        let quality = Options {
            quality: 0,
            ..Options::default()
        };
        assert!(matches!(
            convert(&bytes, &small(0)),
            Err(PipelineError::InvalidOptions(_))
        ));
        assert!(matches!(
            convert(&bytes, &quality),
            Err(PipelineError::InvalidOptions(_))
        ));
    }
}
