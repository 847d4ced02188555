//! Writes pixels as the stored avatar JPEG with libjpeg-turbo: progressive
//! with successive approximation, 4:2:0, optimised Huffman tables, no
//! metadata. Producing the pixels belongs to the rest of the pipeline.

use image::RgbImage;
use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

use crate::PipelineError;

/// The JPEG bytes of `image` at `quality` (1 to 100).
pub(crate) fn encode(image: &RgbImage, quality: u8) -> Result<Vec<u8>, PipelineError> {
    let failed = |e: turbojpeg::Error| PipelineError::Internal(format!("JPEG encoder: {e}"));
    let size =
        |side: u32| usize::try_from(side).map_err(|e| PipelineError::Internal(e.to_string()));
    let (width, height) = (size(image.width())?, size(image.height())?);
    let mut compressor = Compressor::new().map_err(failed)?;
    compressor.set_quality(i32::from(quality)).map_err(failed)?;
    compressor.set_subsamp(Subsamp::Sub2x2).map_err(failed)?;
    // Progressive coding in libjpeg-turbo also optimises the Huffman tables;
    // saying so keeps that from depending on the library's defaults.
    compressor.set_progressive(true).map_err(failed)?;
    compressor.set_optimize(true).map_err(failed)?;
    let pixels = Image {
        pixels: image.as_raw().as_slice(),
        width,
        pitch: width * 3,
        height,
        format: PixelFormat::RGB,
    };
    compressor.compress_to_vec(pixels).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{decoded, markers, quadrants};

    #[test]
    fn the_avatar_is_a_progressive_jpeg_with_only_a_jfif_header() {
        let jpeg = encode(&quadrants(32), 85).expect("encodes");
        let markers = markers(&jpeg);
        let metadata: Vec<u8> = markers
            .iter()
            .copied()
            .filter(|&m| (0xE0..=0xEF).contains(&m) || m == 0xFE)
            .collect();
        assert_eq!(metadata, [0xE0], "{markers:x?}");
        assert!(markers.contains(&0xC2), "{markers:x?}");
        assert_eq!(decoded(&jpeg).dimensions(), (32, 32));
    }
}
