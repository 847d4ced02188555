//! The result of a conversion: the JPEG bytes, what describes them and
//! how long making them took. How they are made belongs to `convert`.

use std::time::Duration;

/// A finished avatar: a square, progressive, metadata-free sRGB JPEG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avatar {
    /// The encoded JPEG.
    pub jpeg: Vec<u8>,
    /// Side of the square in pixels.
    pub side: u32,
    /// The format the source was recognised as, e.g. `"jpeg"` or `"png"`.
    pub source_format: &'static str,
    /// How long each stage took.
    pub stages: Stages,
}

/// How long the stages of one conversion took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages {
    /// Reading the header and decoding the pixels the avatar needs.
    pub decode: Duration,
    /// Scaling to the avatar's side, turning upright and converting the
    /// colours to sRGB.
    pub resize: Duration,
    /// Encoding the JPEG.
    pub encode: Duration,
}
