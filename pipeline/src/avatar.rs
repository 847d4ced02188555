//! The result of a conversion: the JPEG bytes, what describes them and
//! how long making them took. How they are made belongs to `convert`.

use std::time::Duration;

/// A finished avatar: a square, progressive, metadata-free sRGB JPEG, the
/// smaller sides asked for, and its placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avatar {
    /// The encoded JPEG.
    pub jpeg: Vec<u8>,
    /// Side of the square in pixels.
    pub side: u32,
    /// The smaller sides of [`Options::smaller`](crate::Options), largest
    /// first.
    pub smaller: Vec<Resized>,
    /// The ThumbHash of the smallest side: a few dozen bytes a page paints
    /// as a blurred preview.
    pub placeholder: Vec<u8>,
    /// The format the source was recognised as, e.g. `"jpeg"` or `"png"`.
    pub source_format: &'static str,
    /// How long each stage took.
    pub stages: Stages,
}

/// One of the smaller sides of an avatar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resized {
    /// The side asked for.
    pub requested: u32,
    /// The side made: the one asked for, or the avatar's own when that is
    /// smaller (never enlarged).
    pub side: u32,
    pub jpeg: Vec<u8>,
}

/// How long the stages of one conversion took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages {
    /// Reading the header and decoding the pixels the avatar needs.
    pub decode: Duration,
    /// Scaling to the avatar's sides, turning upright, converting the
    /// colours to sRGB and making the placeholder.
    pub resize: Duration,
    /// Encoding the JPEGs.
    pub encode: Duration,
}
