//! Turns recognised bytes into upright pixels: reads the header, refuses
//! oversized images before any pixel is decoded, decodes the first frame and
//! applies the EXIF orientation. Colour handling belongs to `flatten`.

use std::io::Cursor;

use image::error::ImageError;
use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::PipelineError;
use crate::dimensions;
use crate::format::SourceFormat;

/// Decodes `bytes` as `format` into an upright image, refusing sizes above
/// `max_pixels` from the header alone.
pub(crate) fn decode(
    bytes: &[u8],
    format: SourceFormat,
    max_pixels: u64,
) -> Result<DynamicImage, PipelineError> {
    let reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    let mut decoder = reader.into_decoder().map_err(|e| from_image(e, format))?;
    let (width, height) = decoder.dimensions();
    dimensions::check(width, height, max_pixels)?;
    let orientation = decoder.orientation().map_err(|e| from_image(e, format))?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| from_image(e, format))?;
    image.apply_orientation(orientation);
    Ok(image)
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
