//! Writes pixels as the stored avatar JPEG: progressive, 4:2:0, optimised
//! Huffman tables, no metadata. Producing the pixels belongs to the rest of
//! the pipeline.

use image::RgbImage;
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

use crate::PipelineError;

/// The JPEG bytes of `image` at `quality` (1 to 100).
pub(crate) fn encode(image: &RgbImage, quality: u8) -> Result<Vec<u8>, PipelineError> {
    let too_large = || PipelineError::Internal("the avatar is too large to encode".into());
    let width = u16::try_from(image.width()).map_err(|_| too_large())?;
    let height = u16::try_from(image.height()).map_err(|_| too_large())?;
    let mut jpeg = Vec::new();
    let mut encoder = Encoder::new(&mut jpeg, quality);
    encoder.set_progressive(true);
    encoder.set_optimized_huffman_tables(true);
    encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
    encoder
        .encode(image.as_raw(), width, height, ColorType::Rgb)
        .map_err(|e| PipelineError::Internal(format!("encode: {e}")))?;
    Ok(jpeg)
}
