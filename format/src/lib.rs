//! The image formats the service accepts, recognised from the first bytes
//! of a source, never from a file name or a declared type. The API refuses
//! anything else with 415 before a job exists, and the pipeline picks its
//! decoder from the same answer, so the two can never disagree. No codec is
//! linked here: the API uses it without the image libraries.

#![forbid(unsafe_code)]

mod crop;

use std::fmt;

pub use crop::Crop;

/// How many leading bytes [`SourceFormat::detect`] reads at most: enough for
/// an ISO-BMFF `ftyp` box with a dozen compatible brands.
pub const SNIFF_LEN: usize = 64;

/// A format the pipeline decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    Jpeg,
    Png,
    WebP,
    Gif,
    Bmp,
    Tiff,
    /// HEIF with HEVC (or another non-AV1) coding: what iPhones call HEIC.
    Heif,
    /// HEIF with AV1 coding.
    Avif,
}

impl SourceFormat {
    /// Every accepted format, in the order error messages list them.
    pub const ALL: [Self; 8] = [
        Self::Jpeg,
        Self::Png,
        Self::WebP,
        Self::Gif,
        Self::Bmp,
        Self::Tiff,
        Self::Heif,
        Self::Avif,
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
            [_, _, _, _, b'f', b't', b'y', b'p', ..] => heif_brand(bytes),
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
            Self::Heif => "heif",
            Self::Avif => "avif",
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
            Self::Heif => "HEIC/HEIF",
            Self::Avif => "AVIF",
        }
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// The HEIF flavour an ISO-BMFF `ftyp` box at the start of `bytes` names
/// by its brands (ISO/IEC 23008-12 and the AV1 image format), if any: the
/// major brand decides, then the compatible ones. A structural brand alone
/// (`mif1`, `msf1`) is HEIF whose coding libheif finds out; MP4 video
/// brands (`isom`, `mp42`, ...) are not images.
fn heif_brand(bytes: &[u8]) -> Option<SourceFormat> {
    const AV1: [&[u8]; 2] = [b"avif", b"avis"];
    const HEVC: [&[u8]; 8] = [
        b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
    ];
    const STRUCTURAL: [&[u8]; 2] = [b"mif1", b"msf1"];
    let declared = bytes
        .get(..4)
        .and_then(|size| <[u8; 4]>::try_from(size).ok())
        .map_or(0, |size| u32::from_be_bytes(size) as usize);
    let end = declared.min(SNIFF_LEN).min(bytes.len());
    // The major brand, then, after the minor version, the compatible ones.
    let major = bytes.get(8..12);
    let compatible = bytes.get(16..end).unwrap_or_default().chunks_exact(4);
    let brands: Vec<&[u8]> = major.into_iter().chain(compatible).collect();
    let coded = brands.iter().find_map(|brand| {
        if AV1.contains(brand) {
            Some(SourceFormat::Avif)
        } else {
            HEVC.contains(brand).then_some(SourceFormat::Heif)
        }
    });
    coded.or_else(|| {
        brands
            .iter()
            .any(|brand| STRUCTURAL.contains(brand))
            .then_some(SourceFormat::Heif)
    })
}

/// The accepted formats for a person: "JPEG, PNG, WebP, GIF, BMP, TIFF,
/// HEIC/HEIF or AVIF".
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
            SourceFormat::detect(b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom"),
            None
        );
        assert_eq!(SourceFormat::detect(b"\0\0\0\x10ftypmp42\0\0\0\0"), None);
        assert_eq!(SourceFormat::detect(b"farbfeld\0\0\0\x01\0\0\0\x01"), None);
        assert_eq!(SourceFormat::detect(b"\xFF\xD8"), None);
        assert_eq!(SourceFormat::detect(b""), None);
    }

    #[test]
    fn the_answer_depends_on_the_leading_bytes_only() {
        for start in [
            &b"RIFF\x10\0\0\0WEBPVP8 "[..],
            b"\0\0\x01\0ftypmif1\0\0\0\0mif1",
        ] {
            let mut long = start.to_vec();
            long.resize(SNIFF_LEN * 2, b'x');
            assert_eq!(
                SourceFormat::detect(&long),
                SourceFormat::detect(&long[..SNIFF_LEN])
            );
        }
    }

    #[test]
    fn the_accepted_formats_read_as_a_list() {
        assert_eq!(
            accepted_names(),
            "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF or AVIF"
        );
    }

    #[test]
    fn heif_files_are_told_apart_by_their_brands() {
        let cases: [(&[u8], SourceFormat); 6] = [
            // iPhone, iOS 11 to 17, and iOS 18's 10-bit files.
            (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", SourceFormat::Heif),
            (b"\0\0\0\x18ftypheix\0\0\0\0heixmif1", SourceFormat::Heif),
            // An image sequence, and a structural brand before the coded one.
            (
                b"\0\0\0\x1cftypmsf1\0\0\0\0msf1hevcheic",
                SourceFormat::Heif,
            ),
            (
                b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf",
                SourceFormat::Avif,
            ),
            (
                b"\0\0\0\x20ftypavif\0\0\0\0avifmif1miafMA1B",
                SourceFormat::Avif,
            ),
            // Generic HEIF, whose coding the decoder finds out.
            (b"\0\0\0\x18ftypmif1\0\0\0\0mif1miaf", SourceFormat::Heif),
        ];
        for (bytes, format) in cases {
            assert_eq!(SourceFormat::detect(bytes), Some(format), "{bytes:?}");
        }
    }

    #[test]
    fn brands_past_the_box_or_the_sniffed_bytes_do_not_count() {
        // A 16-byte box whose major brand is video, followed by other bytes.
        assert_eq!(
            SourceFormat::detect(b"\0\0\0\x10ftypmp42\0\0\0\0avif"),
            None
        );
        let mut long = b"\0\0\x01\0ftypmp42\0\0\0\0".to_vec();
        long.resize(SNIFF_LEN, b'x');
        long.extend_from_slice(b"avif");
        assert_eq!(SourceFormat::detect(&long), None);
    }
}
