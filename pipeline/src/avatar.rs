//! The result of a conversion: the JPEG bytes and what describes them.
//! How they are made belongs to `convert`.

/// A finished avatar: a square, progressive, metadata-free sRGB JPEG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avatar {
    /// The encoded JPEG.
    pub jpeg: Vec<u8>,
    /// Side of the square in pixels.
    pub side: u32,
    /// The format the source was recognised as, e.g. `"jpeg"` or `"png"`.
    pub source_format: &'static str,
}
