//! What decoding an image will cost, known before any pixel is decoded,
//! and the refusal of what is over budget: the memory a full decode needs
//! (from the header: width x height x bytes per pixel, plus the RGB copy
//! the pipeline makes), and for a progressive JPEG the scans it holds
//! (counted by walking its markers, which takes microseconds), since each
//! scan is a pass over the whole image. The time bound of a conversion is
//! sized from the same header.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use image::ImageReader;

use crate::PipelineError;
use crate::format::{SourceFormat, image_format};
use crate::jpeg_header::JpegHeader;

/// The most scans a progressive JPEG may have at any size. Real files have
/// about ten.
pub(crate) const MAX_SCANS: u32 = 500;

/// The most scan-pixels (scans times pixels) a progressive JPEG may need:
/// each scan is a pass over every coefficient of the image, so a crafted
/// 100-megapixel file of near-empty refinement scans costs a minute of CPU
/// while a 12-megapixel photo of ten scans needs 120 million.
pub(crate) const MAX_SCAN_PIXELS: u64 = 2_000_000_000;

/// How long one conversion may take: `base`, plus `per_megapixel` for
/// each megapixel its header announces, at most `ceiling`. An unreadable
/// header gets `base`, since such a file fails at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBudget {
    /// The least time any conversion is given.
    pub base: Duration,
    /// The time given per megapixel of source, on top of `base`.
    pub per_megapixel: Duration,
    /// The most any conversion is given.
    pub ceiling: Duration,
}

impl TimeBudget {
    /// The base used when the caller does not choose one.
    pub const DEFAULT_BASE: Duration = Duration::from_secs(2);
    /// The time per megapixel used when the caller does not choose one:
    /// about twenty times what a photo takes on one core.
    pub const DEFAULT_PER_MEGAPIXEL: Duration = Duration::from_millis(250);
    /// The ceiling used when the caller does not choose one.
    pub const DEFAULT_CEILING: Duration = Duration::from_secs(60);

    /// How long converting `bytes` may take, sized from the pixels its
    /// header announces.
    pub fn bound(&self, bytes: &[u8]) -> Duration {
        self.bound_for(header_pixels(bytes).unwrap_or(0))
    }

    /// How long converting an image of `pixels` may take.
    fn bound_for(&self, pixels: u64) -> Duration {
        let megapixels = u32::try_from(pixels.div_ceil(1_000_000)).unwrap_or(u32::MAX);
        self.base
            .saturating_add(self.per_megapixel.saturating_mul(megapixels))
            .min(self.ceiling)
    }
}

impl Default for TimeBudget {
    fn default() -> Self {
        Self {
            base: Self::DEFAULT_BASE,
            per_megapixel: Self::DEFAULT_PER_MEGAPIXEL,
            ceiling: Self::DEFAULT_CEILING,
        }
    }
}

/// Refuses a decode that needs more than `limit` bytes.
pub(crate) fn check_decode_bytes(needed: u64, limit: u64) -> Result<(), PipelineError> {
    if needed > limit {
        return Err(PipelineError::DecodeTooLarge { needed, limit });
    }
    Ok(())
}

/// Refuses a progressive JPEG of `pixels` with more `scans` than its size
/// allows: at most [`MAX_SCANS`], and at most [`MAX_SCAN_PIXELS`] in all.
pub(crate) fn check_scans(scans: u32, pixels: u64) -> Result<(), PipelineError> {
    let allowed = u32::try_from(MAX_SCAN_PIXELS / pixels.max(1))
        .unwrap_or(u32::MAX)
        .min(MAX_SCANS);
    if scans > allowed {
        return Err(PipelineError::TooManyScans {
            scans,
            pixels,
            allowed,
        });
    }
    Ok(())
}

/// The bytes a decode to `bytes_per_pixel` needs for `width` x `height`,
/// counting the 8-bit RGB copy the pipeline flattens it into unless the
/// decoder already gives that.
pub(crate) fn decode_bytes(width: u32, height: u32, bytes_per_pixel: u64) -> u64 {
    let pixels = u64::from(width) * u64::from(height);
    let copy = if bytes_per_pixel == 3 { 0 } else { 3 };
    pixels.saturating_mul(bytes_per_pixel + copy)
}

/// The pixels the header of `bytes` announces, if it can be read.
fn header_pixels(bytes: &[u8]) -> Option<u64> {
    let format = SourceFormat::detect(bytes)?;
    let (width, height) = match (format, image_format(format)) {
        (SourceFormat::Jpeg, _) => {
            let header = JpegHeader::parse(bytes).ok()?;
            (header.width, header.height)
        }
        (_, Some(image_format)) => {
            let reader = ImageReader::with_format(Cursor::new(bytes), image_format);
            catch_unwind(AssertUnwindSafe(|| reader.into_dimensions()))
                .ok()?
                .ok()?
        }
        (_, None) => return crate::heif::pixels(bytes, format),
    };
    Some(u64::from(width) * u64::from(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_with_ten_scans_passes_and_a_crafted_scan_flood_does_not() {
        assert!(check_scans(10, 12_000_000).is_ok());
        assert!(check_scans(150, 12_000_000).is_ok());
        // The reproduced attack: 10000x10000 with 489 extra scans.
        assert!(matches!(
            check_scans(500, 100_000_000),
            Err(PipelineError::TooManyScans { allowed: 20, .. })
        ));
        assert!(check_scans(501, 1).is_err());
    }

    #[test]
    fn the_decode_budget_counts_the_rgb_copy() {
        assert_eq!(decode_bytes(100, 100, 3), 30_000);
        assert_eq!(decode_bytes(100, 100, 8), 110_000);
        assert!(check_decode_bytes(decode_bytes(10_000, 10_000, 8), 96 << 20).is_err());
        assert!(check_decode_bytes(decode_bytes(4032, 3024, 4), 96 << 20).is_ok());
    }

    #[test]
    fn the_time_bound_grows_with_the_image_up_to_the_ceiling() {
        let budget = TimeBudget::default();
        assert_eq!(budget.bound_for(64 * 64), Duration::from_millis(2250));
        assert_eq!(budget.bound_for(12_000_000), Duration::from_secs(5));
        assert_eq!(budget.bound_for(100_000_000), Duration::from_secs(27));
        assert_eq!(budget.bound_for(u64::MAX), budget.ceiling);
        assert_eq!(budget.bound(b"not an image"), budget.base);
    }
}
