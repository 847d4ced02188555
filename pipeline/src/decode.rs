//! Turns recognised bytes into a [`Frame`]: JPEG goes to libjpeg-turbo in
//! `jpeg`, still WebP to libwebp in `webp`; PNG, GIF, BMP, TIFF, animated
//! WebP, and the rare file those libraries decline, are decoded here with
//! the `image` crate, first frame only, after the header has passed the
//! size limits.
//! Geometry and colour conversion belong to `convert`.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::error::ImageError;
use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::dimensions;
use crate::flatten::onto_white;
use crate::format::SourceFormat;
use crate::frame::Frame;
use crate::square::Square;
use crate::{Options, PipelineError, jpeg, webp};

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
    let error = |e| from_image(e, format);
    let reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    let mut decoder = reader.into_decoder().map_err(error)?;
    let (width, height) = decoder.dimensions();
    dimensions::check(width, height, options.max_pixels)?;
    let orientation = decoder.orientation().map_err(error)?;
    let icc = decoder.icc_profile().map_err(error)?;
    let square = Square::centred(width, height, Frame::side_for(width, height, options.size));
    if format == SourceFormat::WebP
        && let Some((pixels, square)) = webp::decode(bytes, square)
    {
        return Ok(Frame {
            pixels,
            square,
            orientation,
            icc,
        });
    }
    // The `image` crate's decoders can panic on malformed files (image-webp
    // 0.2.4 indexes past a short alpha chunk in an animation frame); such a
    // file is damaged, which is what its uploader should hear.
    let image = catch_unwind(AssertUnwindSafe(|| DynamicImage::from_decoder(decoder)))
        .map_err(|_| {
            PipelineError::Corrupt(format!(
                "the {} data is damaged: its decoder could not read it",
                format.name()
            ))
        })?
        .map_err(error)?;
    Ok(Frame {
        pixels: onto_white(image),
        square,
        orientation,
        icc,
    })
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
