//! Everything that can go wrong while turning bytes into an avatar, each case
//! with a message for the person who uploaded the image and a stable code.
//! Mapping codes to HTTP statuses belongs to the API, not here.

use crate::dimensions::MAX_SIDE;

/// Why an image could not become an avatar.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The upload has no bytes at all.
    #[error(
        "the file is empty; upload an image ({})",
        avatar_format::accepted_names()
    )]
    Empty,

    /// The bytes do not start like any format the pipeline decodes.
    #[error(
        "the bytes are not an image in a supported format ({})",
        avatar_format::accepted_names()
    )]
    UnsupportedFormat,

    /// The header announces more pixels than the configured limit.
    #[error(
        "the image is {width}x{height} ({} megapixels); the limit is {} megapixels",
        megapixels(u64::from(*.width) * u64::from(*.height)),
        megapixels(*.limit)
    )]
    TooManyPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// The configured limit in pixels.
        limit: u64,
    },

    /// The header announces a side longer than any accepted image may have.
    #[error("the image is {width}x{height}; neither side may exceed {MAX_SIDE} pixels")]
    SideTooLong {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },

    /// The header announces an image with no pixels.
    #[error("the image is {width}x{height}; it has no pixels to make an avatar from")]
    NoPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },

    /// A full decode would need more bytes than the configured budget.
    #[error(
        "decoding the image would need {} MB of memory; the limit is {} MB; upload a smaller image, or one with 8 bits per channel",
        .needed.div_ceil(1 << 20),
        .limit / (1 << 20)
    )]
    DecodeTooLarge {
        /// Bytes the decode needs, from the header.
        needed: u64,
        /// The configured budget.
        limit: u64,
    },

    /// A progressive JPEG with more scans than its size allows.
    #[error(
        "the progressive JPEG has {scans} scans; at {} megapixels at most {allowed} are accepted; save it as a baseline JPEG or with fewer scans",
        megapixels(*.pixels)
    )]
    TooManyScans {
        /// Scans counted in the file.
        scans: u32,
        /// Pixels from the frame header.
        pixels: u64,
        /// Scans allowed at that size.
        allowed: u32,
    },

    /// Decoding would need more memory than the pipeline allows for one image.
    #[error("the image needs too much memory to decode ({0}); upload a smaller image")]
    TooMuchMemory(String),

    /// The data ends early or does not follow its format.
    #[error("the file is truncated or corrupt: {0}")]
    Corrupt(String),

    /// The format is known but this file uses a variant of it the pipeline cannot decode.
    #[error(
        "the {format} file uses a feature that is not supported ({detail}); save it as a standard 8-bit JPEG or PNG and try again"
    )]
    UnsupportedVariant {
        /// The recognised format.
        format: &'static str,
        /// What the decoder said it cannot do.
        detail: String,
    },

    /// The container's structure is beyond anything a camera or an editor
    /// writes, and reading it would cost more than any photo does.
    #[error("the {format} file was refused: {detail}; save the photo again as HEIC or JPEG")]
    ImplausibleContainer {
        /// The recognised format, for a person.
        format: &'static str,
        /// What was beyond the limits.
        detail: String,
    },

    /// The caller passed options no avatar can be made with.
    #[error("invalid pipeline options: {0}")]
    InvalidOptions(&'static str),

    /// A failure inside the pipeline that says nothing about the image.
    #[error("the image could not be processed ({0}); try another image or try again later")]
    Internal(String),
}

impl PipelineError {
    /// A stable code for the error: `"unsupported_media_type"` when the bytes
    /// are not a format the pipeline decodes, `"image_rejected"` for everything else.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedFormat => "unsupported_media_type",
            Self::Empty
            | Self::TooManyPixels { .. }
            | Self::SideTooLong { .. }
            | Self::NoPixels { .. }
            | Self::DecodeTooLarge { .. }
            | Self::TooManyScans { .. }
            | Self::TooMuchMemory(_)
            | Self::Corrupt(_)
            | Self::UnsupportedVariant { .. }
            | Self::ImplausibleContainer { .. }
            | Self::InvalidOptions(_)
            | Self::Internal(_) => "image_rejected",
        }
    }
}

/// Pixels as megapixels for a person: whole numbers stay whole, others get one decimal.
fn megapixels(pixels: u64) -> String {
    let tenths = pixels.saturating_add(50_000) / 100_000;
    if tenths.is_multiple_of(10) {
        format!("{}", tenths / 10)
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_pixels_names_the_size_and_the_limit_in_megapixels() {
        let error = PipelineError::TooManyPixels {
            width: 20_000,
            height: 14_000,
            limit: 100_000_000,
        };
        assert_eq!(
            error.to_string(),
            "the image is 20000x14000 (280 megapixels); the limit is 100 megapixels"
        );
    }

    #[test]
    fn megapixels_keep_one_decimal_when_not_whole() {
        assert_eq!(megapixels(12_192_768), "12.2");
        assert_eq!(megapixels(0), "0");
    }

    #[test]
    fn only_unrecognised_bytes_are_an_unsupported_media_type() {
        assert_eq!(
            PipelineError::UnsupportedFormat.code(),
            "unsupported_media_type"
        );
        assert_eq!(PipelineError::Corrupt("x".into()).code(), "image_rejected");
        assert_eq!(PipelineError::Empty.code(), "image_rejected");
    }
}
