//! Recognises the container format from the first bytes, never from a name
//! or a declared type. Decoding belongs to `decode`.

use image::ImageFormat;

/// A format the pipeline decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceFormat {
    Jpeg,
    Png,
    Gif,
    WebP,
    Bmp,
    Tiff,
}

impl SourceFormat {
    /// The format whose signature the bytes start with, if any we decode.
    pub(crate) fn detect(bytes: &[u8]) -> Option<Self> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        match bytes {
            [0xFF, 0xD8, 0xFF, ..] => Some(Self::Jpeg),
            _ if bytes.starts_with(PNG) => Some(Self::Png),
            [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(Self::Gif),
            [
                b'R',
                b'I',
                b'F',
                b'F',
                _,
                _,
                _,
                _,
                b'W',
                b'E',
                b'B',
                b'P',
                ..,
            ] => Some(Self::WebP),
            [b'B', b'M', ..] => Some(Self::Bmp),
            [b'I', b'I', 42 | 43, 0, ..] | [b'M', b'M', 0, 42 | 43, ..] => Some(Self::Tiff),
            _ => None,
        }
    }

    /// The short lowercase name reported as `Avatar::source_format`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Gif => "gif",
            Self::WebP => "webp",
            Self::Bmp => "bmp",
            Self::Tiff => "tiff",
        }
    }

    /// The matching format of the `image` crate.
    pub(crate) fn image_format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::Gif => ImageFormat::Gif,
            Self::WebP => ImageFormat::WebP,
            Self::Bmp => ImageFormat::Bmp,
            Self::Tiff => ImageFormat::Tiff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signature_is_recognised() {
        let cases: [(&[u8], SourceFormat); 7] = [
            (b"\xFF\xD8\xFF\xE0rest", SourceFormat::Jpeg),
            (b"\x89PNG\r\n\x1a\nrest", SourceFormat::Png),
            (b"GIF89a....", SourceFormat::Gif),
            (b"RIFF\x10\0\0\0WEBPVP8 ", SourceFormat::WebP),
            (b"BM\0\0\0\0", SourceFormat::Bmp),
            (b"II*\0\x08\0\0\0", SourceFormat::Tiff),
            (b"MM\0*\0\0\0\x08", SourceFormat::Tiff),
        ];
        for (bytes, format) in cases {
            assert_eq!(SourceFormat::detect(bytes), Some(format), "{bytes:?}");
        }
    }

    #[test]
    fn text_and_other_formats_are_not_recognised() {
        assert_eq!(SourceFormat::detect(b"<svg xmlns="), None);
        assert_eq!(SourceFormat::detect(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(SourceFormat::detect(b"\0\0\0\x1cftypavif"), None);
        assert_eq!(SourceFormat::detect(b"\xFF\xD8"), None);
        assert_eq!(SourceFormat::detect(b""), None);
    }
}
