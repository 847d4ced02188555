//! The centre square cut from a source (cover) and the side it is scaled to.
//! Doing the scaling belongs to `resize`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
