//! Turns recognised bytes into a [`Frame`]: JPEG goes to libjpeg-turbo in
//! `jpeg`; PNG, GIF, WebP, BMP and TIFF, and the rare JPEG libjpeg-turbo
//! declines for a harmless irregularity, are decoded here with the `image`
//! crate, first frame only, after the header has passed the size limits.
//! Geometry and colour conversion belong to `convert`.

use std::io::Cursor;

use image::error::ImageError;
use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::dimensions;
use crate::flatten::onto_white;
use crate::format::SourceFormat;
use crate::frame::Frame;
use crate::square::Square;
use crate::{Options, PipelineError, jpeg};

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
    let image = DynamicImage::from_decoder(decoder).map_err(error)?;
    Ok(Frame {
        pixels: onto_white(image),
        square: Square::centred(width, height, Frame::side_for(width, height, options.size)),
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
