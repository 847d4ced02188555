//! The size an image announces in its header, and the refusal of sizes the
//! service will not decode. Reading the header belongs to `decode`.

use crate::PipelineError;

/// The longest side any accepted image may have, in pixels.
pub(crate) const MAX_SIDE: u32 = 65_535;

/// Accepts a header's size when it has pixels, no side above [`MAX_SIDE`] and
/// at most `max_pixels` pixels.
pub(crate) fn check(width: u32, height: u32, max_pixels: u64) -> Result<(), PipelineError> {
    if width == 0 || height == 0 {
        return Err(PipelineError::NoPixels { width, height });
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(PipelineError::SideTooLong { width, height });
    }
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(PipelineError::TooManyPixels {
            width,
            height,
            limit: max_pixels,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_within_the_limits_is_accepted() {
        assert!(check(4032, 3024, 100_000_000).is_ok());
    }

    #[test]
    fn a_side_above_65535_is_refused_even_under_the_pixel_limit() {
        let error = check(65_536, 1, u64::MAX);
        assert!(matches!(error, Err(PipelineError::SideTooLong { .. })));
    }

    #[test]
    fn more_pixels_than_the_limit_are_refused() {
        let error = check(20_000, 14_000, 100_000_000);
        assert!(matches!(error, Err(PipelineError::TooManyPixels { .. })));
    }

    #[test]
    fn an_empty_image_is_refused() {
        let error = check(0, 10, 100);
        assert!(matches!(error, Err(PipelineError::NoPixels { .. })));
    }
}
