//! Turns recognised bytes into a [`Frame`]: JPEG goes to libjpeg-turbo in
//! `jpeg`, still WebP to libwebp in `webp`, HEIF and AVIF to libheif in
//! `heif`; PNG, GIF, BMP, TIFF, animated
//! WebP, and the rare file those libraries decline, are decoded here with
//! the `image` crate, first frame only, after the header has passed the
//! size limits and the decode budget.
//! Geometry and colour conversion belong to `convert`.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::error::ImageError;
use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::flatten::onto_white;
use crate::format::SourceFormat;
use crate::frame::Frame;
use crate::square::{Square, Turn};
use crate::{Options, PipelineError, heif, jpeg, webp};
use crate::{cost, dimensions};

/// Decodes `bytes` as `format`, refusing sizes above the limits from the
/// header alone.
pub(crate) fn decode(
    bytes: &[u8],
    format: SourceFormat,
    options: &Options,
) -> Result<Frame, PipelineError> {
    if format == SourceFormat::Jpeg
        && let Some(frame) = jpeg::decode(bytes, options)?
    {
        return Ok(frame);
    }
    let Some(image_format) = crate::format::image_format(format) else {
        return heif::decode(bytes, format, options);
    };
    let reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    let mut decoder = image_crate(|| reader.into_decoder(), format)?;
    let (width, height) = decoder.dimensions();
    dimensions::check(width, height, options.max_pixels)?;
    let bytes_per_pixel = u64::from(decoder.color_type().bytes_per_pixel());
    cost::check_decode_bytes(
        cost::decode_bytes(width, height, bytes_per_pixel),
        options.max_decode_bytes,
    )?;
    let orientation = image_crate(|| decoder.orientation(), format)?;
    let icc = image_crate(|| decoder.icc_profile(), format)?;
    let square = Square::placed(
        width,
        height,
        options.size,
        options.crop.as_ref(),
        Turn::of(orientation),
    );
    if format == SourceFormat::WebP
        && options.by_content().is_none()
        && let Some((pixels, square)) = webp::decode(bytes, square)
    {
        return Ok(Frame {
            pixels,
            square,
            orientation,
            icc,
        });
    }
    let image = image_crate(|| DynamicImage::from_decoder(decoder), format)?;
    Ok(Frame {
        pixels: onto_white(image),
        square,
        orientation,
        icc,
    })
}

/// Runs `call` into the `image` crate, with its error, or its panic,
/// translated into what the uploader should hear. Its decoders can panic on
/// malformed files (image-webp 0.2.4 indexes past a short alpha chunk in an
/// animation frame); such a file is damaged, not an internal failure.
fn image_crate<T>(
    call: impl FnOnce() -> Result<T, ImageError>,
    format: SourceFormat,
) -> Result<T, PipelineError> {
    catch_unwind(AssertUnwindSafe(call))
        .map_err(|_| {
            PipelineError::Corrupt(format!(
                "the {} data is damaged: its decoder could not read it",
                format.name()
            ))
        })?
        .map_err(|e| from_image(e, format))
}

/// Translates a decoder error into what the uploader should hear.
fn from_image(error: ImageError, format: SourceFormat) -> PipelineError {
    match error {
        ImageError::Decoding(e) => PipelineError::Corrupt(e.to_string()),
        ImageError::IoError(e) => PipelineError::Corrupt(e.to_string()),
        ImageError::Parameter(e) => PipelineError::Corrupt(e.to_string()),
        ImageError::Unsupported(e) => PipelineError::UnsupportedVariant {
            format: format.name(),
            detail: e.to_string(),
        },
        ImageError::Limits(e) => PipelineError::TooMuchMemory(e.to_string()),
        ImageError::Encoding(e) => PipelineError::Internal(e.to_string()),
    }
}
