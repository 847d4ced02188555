//! The container format, recognised by `avatar-format` from the first
//! bytes; here only its mapping to the `image` crate's decoders.

pub use avatar_format::SourceFormat;
use image::ImageFormat;

/// The `image` crate's format for `format`.
pub(crate) fn image_format(format: SourceFormat) -> ImageFormat {
    match format {
        SourceFormat::Jpeg => ImageFormat::Jpeg,
        SourceFormat::Png => ImageFormat::Png,
        SourceFormat::Gif => ImageFormat::Gif,
        SourceFormat::WebP => ImageFormat::WebP,
        SourceFormat::Bmp => ImageFormat::Bmp,
        SourceFormat::Tiff => ImageFormat::Tiff,
    }
}
