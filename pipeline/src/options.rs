//! What the caller can tune: output sides, JPEG quality, the client's crop
//! and the limits. Checking the limits belongs to `dimensions` and `cost`;
//! placing the crop, to `square`; using the others, to `convert`.

use avatar_format::Crop;

/// Settings for one conversion.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Side of the square output in pixels; a smaller source is not enlarged.
    pub size: u32,
    /// The other sides made beside it, each from the next larger result
    /// rather than from the source again; any order, each smaller than
    /// `size`.
    pub smaller: Vec<u32>,
    /// JPEG quality, 1 to 100.
    pub quality: u8,
    /// Largest accepted source in pixels (width times height), checked before decoding.
    pub max_pixels: u64,
    /// Most bytes one full decode may need, from the header, checked
    /// before decoding.
    pub max_decode_bytes: u64,
    /// The rectangle of the upright image the avatar is cut from (its
    /// centred square); `None`: the square `placement` places.
    pub crop: Option<Crop>,
    /// Where the square goes without a `crop`.
    pub placement: Placement,
}

/// Where the square of an avatar is cut when the client chose no crop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// The centre of the picture.
    #[default]
    Centre,
    /// Its most interesting part: edges, skin tones and saturated colour
    /// (see `attention`). The decoder then decodes the whole picture,
    /// reduced as for the centre square.
    Attention,
    /// The largest face (see `face`), or `Attention` without one.
    Face,
}

impl Options {
    /// How the square is placed by content, if it is: then the decoder
    /// must decode the whole picture rather than the centre square alone.
    pub(crate) fn by_content(&self) -> Option<Placement> {
        match (&self.crop, self.placement) {
            (None, placement @ (Placement::Attention | Placement::Face)) => Some(placement),
            _ => None,
        }
    }
}

impl Options {
    /// The output side used when the caller does not choose one.
    pub const DEFAULT_SIZE: u32 = 512;
    /// The JPEG quality used when the caller does not choose one.
    pub const DEFAULT_QUALITY: u8 = 85;
    /// The pixel limit used when the caller does not choose one.
    pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;
    /// The decode budget used when the caller does not choose one: 96 MiB,
    /// so two conversions at once stay well under 256 MB.
    pub const DEFAULT_MAX_DECODE_BYTES: u64 = 96 << 20;
}

impl Default for Options {
    fn default() -> Self {
        Self {
            size: Self::DEFAULT_SIZE,
            smaller: Vec::new(),
            quality: Self::DEFAULT_QUALITY,
            max_pixels: Self::DEFAULT_MAX_PIXELS,
            max_decode_bytes: Self::DEFAULT_MAX_DECODE_BYTES,
            crop: None,
            placement: Placement::Centre,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_match_the_service_defaults() {
        let options = Options::default();
        assert_eq!(options.size, 512);
        assert_eq!(options.quality, 85);
        assert_eq!(options.max_pixels, 100_000_000);
    }
}
