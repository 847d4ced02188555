//! The square cut from a source and the side it is scaled to: the centre
//! square (cover), or the centred square of a [`Crop`] the client chose in
//! the upright image, placed back in the stored image through the turns
//! that make it upright. Doing the scaling belongs to `resize`.

use avatar_format::Crop;
use image::metadata::Orientation;

/// One step that turns a stored image towards upright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// A quarter turn clockwise.
    Clockwise,
    /// A quarter turn anticlockwise.
    Anticlockwise,
    Half,
    FlipHorizontal,
    FlipVertical,
}

impl Turn {
    /// The steps of an EXIF orientation, in order (as the `image` crate
    /// and `orient` apply them).
    pub(crate) fn of(orientation: Orientation) -> &'static [Turn] {
        match orientation {
            Orientation::NoTransforms => &[],
            Orientation::Rotate90 => &[Turn::Clockwise],
            Orientation::Rotate180 => &[Turn::Half],
            Orientation::Rotate270 => &[Turn::Anticlockwise],
            Orientation::FlipHorizontal => &[Turn::FlipHorizontal],
            Orientation::FlipVertical => &[Turn::FlipVertical],
            Orientation::Rotate90FlipH => &[Turn::Clockwise, Turn::FlipHorizontal],
            Orientation::Rotate270FlipH => &[Turn::Anticlockwise, Turn::FlipHorizontal],
        }
    }

    fn swaps(self) -> bool {
        matches!(self, Turn::Clockwise | Turn::Anticlockwise)
    }

    /// The rectangle `(left, top, width, height)` of this step's output,
    /// which is `out_width` x `out_height`, in the step's input.
    fn back(
        self,
        rect: (u32, u32, u32, u32),
        out_width: u32,
        out_height: u32,
    ) -> (u32, u32, u32, u32) {
        let (left, top, width, height) = rect;
        match self {
            // Output (u, v) came from input (v, out_width - 1 - u).
            Turn::Clockwise => (top, out_width - left - width, height, width),
            // Output (u, v) came from input (out_height - 1 - v, u).
            Turn::Anticlockwise => (out_height - top - height, left, height, width),
            Turn::Half => (
                out_width - left - width,
                out_height - top - height,
                width,
                height,
            ),
            Turn::FlipHorizontal => (out_width - left - width, top, width, height),
            Turn::FlipVertical => (left, out_height - top - height, width, height),
        }
    }
}

/// Where the square sits in the source and how large the output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Square {
    /// Column of the square's left edge in the source.
    pub(crate) left: u32,
    /// Row of the square's top edge in the source.
    pub(crate) top: u32,
    /// Side of the square in source pixels.
    pub(crate) crop: u32,
    /// Side of the output: `size`, or the source's shorter side when that is smaller.
    pub(crate) side: u32,
}

impl Square {
    /// The square to cut from a `width` x `height` stored image that
    /// `turns` make upright, to be shown at `size` pixels without ever
    /// enlarging it: the centred square of `crop` (a rectangle of the
    /// upright image), or without one the largest centred square.
    pub(crate) fn placed(
        width: u32,
        height: u32,
        size: u32,
        crop: Option<&Crop>,
        turns: &[Turn],
    ) -> Self {
        let Some(crop) = crop else {
            return Self::centred(width, height, size);
        };
        let (up_width, up_height) = upright_size(width, height, turns);
        let span = |fraction: f64, length: u32| (fraction * f64::from(length)).round() as u32;
        let (left, top) = (span(crop.left, up_width), span(crop.top, up_height));
        let rect_width = span(crop.width, up_width).clamp(1, up_width.saturating_sub(left).max(1));
        let rect_height =
            span(crop.height, up_height).clamp(1, up_height.saturating_sub(top).max(1));
        let side = rect_width.min(rect_height);
        let left = (left + (rect_width - side) / 2).min(up_width - side);
        let top = (top + (rect_height - side) / 2).min(up_height - side);
        Self::stored((left, top, side), (up_width, up_height), size, turns)
    }

    /// The largest square of a `width` x `height` stored image that
    /// `turns` make upright, centred as nearly as it fits on `centre`
    /// (fractions of the upright image), to be shown at `size` pixels.
    pub(crate) fn around(
        width: u32,
        height: u32,
        size: u32,
        centre: (f64, f64),
        turns: &[Turn],
    ) -> Self {
        let (up_width, up_height) = upright_size(width, height, turns);
        let side = up_width.min(up_height);
        let start = |fraction: f64, length: u32| {
            let left = (fraction * f64::from(length) - f64::from(side) / 2.0).round();
            (left.max(0.0) as u32).min(length - side)
        };
        let corner = (start(centre.0, up_width), start(centre.1, up_height));
        Self::stored(
            (corner.0, corner.1, side),
            (up_width, up_height),
            size,
            turns,
        )
    }

    /// The square `(left, top, side)` of the `upright` image, found in the
    /// stored one through `turns`, last first.
    fn stored(square: (u32, u32, u32), upright: (u32, u32), size: u32, turns: &[Turn]) -> Self {
        let (left, top, side) = square;
        let mut rect = (left, top, side, side);
        let (mut out_width, mut out_height) = upright;
        for turn in turns.iter().rev() {
            rect = turn.back(rect, out_width, out_height);
            if turn.swaps() {
                (out_width, out_height) = (out_height, out_width);
            }
        }
        Self {
            left: rect.0,
            top: rect.1,
            crop: side,
            side: side.min(size),
        }
    }

    /// The largest centred square of a `width` x `height` source, to be shown at
    /// `size` pixels without ever enlarging it.
    pub(crate) fn centred(width: u32, height: u32, size: u32) -> Self {
        let crop = width.min(height);
        Self {
            left: (width - crop) / 2,
            top: (height - crop) / 2,
            crop,
            side: crop.min(size),
        }
    }
}

/// The size of a `width` x `height` stored image once `turns` make it upright.
pub(crate) fn upright_size(width: u32, height: u32, turns: &[Turn]) -> (u32, u32) {
    match turns.iter().filter(|t| t.swaps()).count() % 2 == 1 {
        true => (height, width),
        false => (width, height),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the square of `crop` lands, as seen upright: the stored image
    /// is `width` x `height` pixels, each knowing its stored place, turned
    /// upright, and the square's stored corners read back.
    fn upright_corner(
        width: u32,
        height: u32,
        orientation: Orientation,
        crop: &Crop,
    ) -> (u32, u32, u32) {
        let stored = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([
                (x % 256) as u8,
                (y % 256) as u8,
                ((x / 256) * 16 + y / 256) as u8,
            ])
        });
        let square = Square::placed(width, height, 10_000, Some(crop), Turn::of(orientation));
        let mut upright = image::DynamicImage::ImageRgb8(stored);
        upright.apply_orientation(orientation);
        let upright = upright.to_rgb8();
        // The upright pixel at the crop's square corner, found by search.
        let want = |x: u32, y: u32| {
            image::Rgb([
                (x % 256) as u8,
                (y % 256) as u8,
                ((x / 256) * 16 + y / 256) as u8,
            ])
        };
        let corners = [
            (square.left, square.top),
            (square.left + square.crop - 1, square.top),
            (square.left, square.top + square.crop - 1),
            (square.left + square.crop - 1, square.top + square.crop - 1),
        ];
        let found: Vec<(u32, u32)> = corners
            .iter()
            .map(|&(x, y)| {
                let pixel = want(x, y);
                upright
                    .enumerate_pixels()
                    .find(|(_, _, p)| **p == pixel)
                    .map(|(u, v, _)| (u, v))
                    .expect("every stored pixel is somewhere upright")
            })
            .collect();
        let left = found.iter().map(|c| c.0).min().expect("corners");
        let top = found.iter().map(|c| c.1).min().expect("corners");
        (left, top, square.crop)
    }

    #[test]
    fn a_crop_of_the_upright_image_is_found_in_the_stored_one_for_every_orientation() {
        // Upright, 60 x 40 (stored 40 x 60 when turned a quarter): the
        // crop is 15 x 20 at (30, 20), and its centred square 15 x 15 at
        // (30, 22).
        let crop = Crop {
            left: 0.5,
            top: 0.5,
            width: 0.25,
            height: 0.5,
        };
        for orientation in [
            Orientation::NoTransforms,
            Orientation::Rotate90,
            Orientation::Rotate180,
            Orientation::Rotate270,
            Orientation::FlipHorizontal,
            Orientation::FlipVertical,
            Orientation::Rotate90FlipH,
            Orientation::Rotate270FlipH,
        ] {
            let swapped = Turn::of(orientation).iter().filter(|t| t.swaps()).count() % 2 == 1;
            let (width, height) = if swapped { (40, 60) } else { (60, 40) };
            let corner = upright_corner(width, height, orientation, &crop);
            assert_eq!(corner, (30, 22, 15), "{orientation:?}");
        }
    }

    #[test]
    fn a_landscape_source_loses_equal_strips_left_and_right() {
        let square = Square::centred(4032, 3024, 512);
        assert_eq!(
            square,
            Square {
                left: 504,
                top: 0,
                crop: 3024,
                side: 512
            }
        );
    }

    #[test]
    fn a_portrait_source_loses_equal_strips_top_and_bottom() {
        let square = Square::centred(1200, 1800, 512);
        assert_eq!((square.left, square.top, square.crop), (0, 300, 1200));
    }

    #[test]
    fn a_source_smaller_than_the_target_is_not_enlarged() {
        let square = Square::centred(300, 200, 512);
        assert_eq!((square.crop, square.side), (200, 200));
    }
}
