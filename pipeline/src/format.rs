//! The container format, recognised by `avatar-format` from the first
//! bytes; here only its mapping to the `image` crate's decoders.

pub use avatar_format::SourceFormat;
use image::ImageFormat;

/// The `image` crate's format for `format`; HEIF and AVIF go to libheif.
pub(crate) fn image_format(format: SourceFormat) -> Option<ImageFormat> {
    match format {
        SourceFormat::Jpeg => Some(ImageFormat::Jpeg),
        SourceFormat::Png => Some(ImageFormat::Png),
        SourceFormat::Gif => Some(ImageFormat::Gif),
        SourceFormat::WebP => Some(ImageFormat::WebP),
        SourceFormat::Bmp => Some(ImageFormat::Bmp),
        SourceFormat::Tiff => Some(ImageFormat::Tiff),
        SourceFormat::Heif | SourceFormat::Avif => None,
    }
}
