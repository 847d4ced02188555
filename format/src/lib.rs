//! The image formats the service accepts, recognised from the first bytes
//! of a source, never from a file name or a declared type. The API refuses
//! anything else with 415 before a job exists, and the pipeline picks its
//! decoder from the same answer, so the two can never disagree. No codec is
//! linked here: the API uses it without the image libraries.

#![forbid(unsafe_code)]

use std::fmt;

/// How many leading bytes [`SourceFormat::detect`] reads at most.
pub const SNIFF_LEN: usize = 12;

/// A format the pipeline decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    Jpeg,
    Png,
    WebP,
    Gif,
    Bmp,
    Tiff,
}

impl SourceFormat {
    /// Every accepted format, in the order error messages list them.
    pub const ALL: [Self; 6] = [
        Self::Jpeg,
        Self::Png,
        Self::WebP,
        Self::Gif,
        Self::Bmp,
        Self::Tiff,
    ];

    /// The format whose signature the bytes start with, if any we decode.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
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

    /// The short lowercase name, as in logs and `Avatar::source_format`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::WebP => "webp",
            Self::Gif => "gif",
            Self::Bmp => "bmp",
            Self::Tiff => "tiff",
        }
    }

    /// The name a person knows the format by.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Jpeg => "JPEG",
            Self::Png => "PNG",
            Self::WebP => "WebP",
            Self::Gif => "GIF",
            Self::Bmp => "BMP",
            Self::Tiff => "TIFF",
        }
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// The accepted formats for a person: "JPEG, PNG, WebP, GIF, BMP or TIFF".
pub fn accepted_names() -> String {
    let names: Vec<&str> = SourceFormat::ALL.iter().map(|f| f.display_name()).collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
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
    fn text_and_formats_not_decoded_are_not_recognised() {
        assert_eq!(SourceFormat::detect(b"<svg xmlns="), None);
        assert_eq!(
            SourceFormat::detect(b"hello world, this is not an image"),
            None
        );
        assert_eq!(SourceFormat::detect(b"%PDF-1.7"), None);
        assert_eq!(SourceFormat::detect(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(
            SourceFormat::detect(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1"),
            None
        );
        assert_eq!(
            SourceFormat::detect(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
            None
        );
        assert_eq!(SourceFormat::detect(b"farbfeld\0\0\0\x01\0\0\0\x01"), None);
        assert_eq!(SourceFormat::detect(b"\xFF\xD8"), None);
        assert_eq!(SourceFormat::detect(b""), None);
    }

    #[test]
    fn the_answer_depends_on_the_leading_bytes_only() {
        let long = b"RIFF\x10\0\0\0WEBPVP8 and much more after the signature";
        assert_eq!(
            SourceFormat::detect(long),
            SourceFormat::detect(&long[..SNIFF_LEN])
        );
    }

    #[test]
    fn the_accepted_formats_read_as_a_list() {
        assert_eq!(accepted_names(), "JPEG, PNG, WebP, GIF, BMP or TIFF");
    }
}
