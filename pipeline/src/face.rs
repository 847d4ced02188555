//! The `face` crop: the square centred on the largest face in the
//! picture, found by SeetaFace's frontal face detector (the `rustface`
//! crate, with the model its package ships, built in by `build.rs`). The
//! picture as decoded is reduced to [`ANALYSED_SIDE`] pixels on its longer
//! side, turned upright (the detector knows only upright faces) and made
//! grey; the square is centred a little above the face's middle, so that
//! hair is kept as well as the chin. Without a face, `attention` places it.

use std::cell::RefCell;

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, RgbImage};
use rustface::{Detector, ImageData};

use crate::PipelineError;
use crate::resize::reduce;
use crate::square::{Square, Turn};

/// The longer side the picture is searched at. rustface 0.1.7 searches
/// with a 40-pixel window from the picture's own scale down (it ignores
/// its minimum face size), so this finds faces from a twelfth of the
/// picture's longer side; at 320 the test pictures' faces, a thirteenth
/// wide, were missed, and the search's time grows with its pixels.
pub(crate) const ANALYSED_SIDE: u32 = 480;
/// The detector's window, and so the smallest face it finds: a picture
/// no larger holds no face it can find, and is not searched.
const WINDOW: u32 = 40;
/// The detector's score below which a window is not a face: faces scored
/// 5 to 17 on the test pictures, windows of the corpus photos (cartridges,
/// hands, wood, keyboards) never reached 2.
const SCORE_THRESHOLD: f64 = 3.0;
/// How far above the face's middle the square is centred, in face heights.
const RAISED: f64 = 0.1;

/// SeetaFace's frontal model, as the `rustface` package ships it.
static MODEL: &[u8] = include_bytes!(env!("AVATAR_FACE_MODEL"));

thread_local! {
    /// A detector per thread, the model read once.
    static DETECTOR: RefCell<Option<Box<dyn Detector>>> = const { RefCell::new(None) };
}

/// A face found in the upright picture: its centre and its side, as
/// fractions of the upright picture's width and height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Face {
    pub(crate) centre: (f64, f64),
    pub(crate) size: (f64, f64),
}

/// `square` (the centred square the decoder placed in `pixels`) moved to
/// be centred on the largest face, at the same size; `None` without a face.
pub(crate) fn place(
    pixels: &RgbImage,
    square: Square,
    orientation: Orientation,
) -> Result<Option<Square>, PipelineError> {
    let (width, height) = pixels.dimensions();
    let Some(face) = largest(pixels, orientation)? else {
        return Ok(None);
    };
    let centre = (face.centre.0, face.centre.1 - RAISED * face.size.1);
    let placed = Square::around(width, height, square.side, centre, Turn::of(orientation));
    Ok(Some(Square {
        side: square.side,
        ..placed
    }))
}

/// The largest face in `pixels` (stored as `orientation` says), if any.
pub(crate) fn largest(
    pixels: &RgbImage,
    orientation: Orientation,
) -> Result<Option<Face>, PipelineError> {
    let (width, height) = pixels.dimensions();
    let scale = (f64::from(ANALYSED_SIDE) / f64::from(width.max(height))).min(1.0);
    let (small_w, small_h) = (
        ((f64::from(width) * scale).round() as u32).max(1),
        ((f64::from(height) * scale).round() as u32).max(1),
    );
    // A smaller picture holds no face the detector can find.
    if small_w.min(small_h) <= WINDOW {
        return Ok(None);
    }
    let mut grey = DynamicImage::ImageLuma8(reduce_to_grey(pixels, small_w, small_h)?);
    grey.apply_orientation(orientation);
    let grey = grey.into_luma8();
    let (up_w, up_h) = grey.dimensions();
    let faces = DETECTOR.with_borrow_mut(|detector| {
        let detector = detector.get_or_insert_with(new_detector);
        detector.detect(&ImageData::new(grey.as_raw(), up_w, up_h))
    });
    let largest = faces
        .iter()
        .filter(|face| face.score() >= SCORE_THRESHOLD)
        .max_by_key(|face| u64::from(face.bbox().width()) * u64::from(face.bbox().height()));
    Ok(largest.map(|face| {
        let bbox = face.bbox();
        let (w, h) = (f64::from(bbox.width()), f64::from(bbox.height()));
        let (x, y) = (f64::from(bbox.x()) + w / 2.0, f64::from(bbox.y()) + h / 2.0);
        Face {
            centre: (
                (x / f64::from(up_w)).clamp(0.0, 1.0),
                (y / f64::from(up_h)).clamp(0.0, 1.0),
            ),
            size: (w / f64::from(up_w), h / f64::from(up_h)),
        }
    }))
}

fn new_detector() -> Box<dyn Detector> {
    let model = rustface::read_model(MODEL).expect("the model built in is SeetaFace's own");
    let mut detector = rustface::create_detector_with_model(model);
    detector.set_score_thresh(SCORE_THRESHOLD);
    detector.set_pyramid_scale_factor(0.8);
    detector.set_slide_window_step(4, 4);
    detector
}

/// `pixels` scaled to `width` x `height`, in grey.
fn reduce_to_grey(pixels: &RgbImage, width: u32, height: u32) -> Result<GrayImage, PipelineError> {
    let grey = reduce(pixels, width, height)?
        .chunks_exact(3)
        .map(|p| {
            let luma = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            luma.round() as u8
        })
        .collect();
    GrayImage::from_raw(width, height, grey)
        .ok_or_else(|| PipelineError::Internal("face: a grey picture of the wrong size".into()))
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    #[test]
    fn a_picture_without_a_face_has_none() {
        let flat = RgbImage::from_pixel(900, 300, Rgb([90, 90, 90]));
        assert_eq!(
            largest(&flat, Orientation::NoTransforms).expect("searched"),
            None
        );
    }

    #[test]
    fn a_picture_about_the_detectors_window_is_searched_without_a_panic() {
        // Smaller than the 40-pixel window once reduced, or just larger,
        // whichever way round it is stored.
        for (width, height) in [(30, 10), (1000, 40), (40, 1000), (41, 41), (2000, 100)] {
            let small = RgbImage::from_pixel(width, height, Rgb([90, 90, 90]));
            for orientation in [Orientation::NoTransforms, Orientation::Rotate90] {
                assert_eq!(
                    largest(&small, orientation).expect("searched"),
                    None,
                    "{width} x {height}, {orientation:?}"
                );
            }
        }
    }
}
