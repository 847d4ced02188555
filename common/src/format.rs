//! Which image formats the service accepts, read from the leading bytes of
//! the upload. The `Content-Type` header and the file name are never trusted.

use image::ImageFormat;

/// How many leading bytes [`sniff`] needs at most.
pub const SNIFF_LEN: usize = 32;

/// The formats the workers decode.
pub const ACCEPTED: &[ImageFormat] = &[
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Gif,
    ImageFormat::Bmp,
    ImageFormat::Tiff,
];

/// The human-readable list of accepted formats, for error messages.
pub const ACCEPTED_NAMES: &str = "JPEG, PNG, WebP, GIF, BMP or TIFF";

/// The format of `bytes` if it is one the service decodes.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    image::guess_format(bytes)
        .ok()
        .filter(|format| ACCEPTED.contains(format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_bytes_decide_the_format() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some(ImageFormat::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(ImageFormat::Png));
        assert_eq!(sniff(b"GIF89a rest"), Some(ImageFormat::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ImageFormat::WebP));
    }

    #[test]
    fn text_and_unsupported_formats_are_not_accepted() {
        assert_eq!(sniff(b"hello world, this is not an image"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"%PDF-1.7"), None);
        // AVIF and HEIC are images, but not ones the workers decode.
        assert_eq!(sniff(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1"), None);
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), None);
        // Farbfeld is an image format, but not one the workers decode.
        assert_eq!(sniff(b"farbfeld\0\0\0\x01\0\0\0\x01"), None);
    }
}
