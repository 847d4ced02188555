//! A decoded source, ready for geometry: opaque 8-bit RGB pixels as stored
//! (possibly already scaled down, or cut to little more than the square, by
//! the decoder), the square to cut from them, the orientation still to apply,
//! and the colour profile still to convert from. Producing it belongs
//! to `decode` and `jpeg`; using it, to `convert`.

use image::RgbImage;
use image::metadata::Orientation;

use crate::square::Square;

/// Pixels and what remains to be done to them.
#[derive(Debug)]
pub(crate) struct Frame {
    /// The pixels in stored orientation.
    pub(crate) pixels: RgbImage,
    /// Where the square sits in `pixels`, and the side of the output: the
    /// requested size, or the source's shorter side when that is smaller.
    pub(crate) square: Square,
    /// How to turn the stored pixels upright.
    pub(crate) orientation: Orientation,
    /// The embedded ICC profile the pixels are encoded in, if any.
    pub(crate) icc: Option<Vec<u8>>,
}
