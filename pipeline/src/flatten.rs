//! Reduces any decoded pixel layout to 8-bit RGB: grey is spread to three
//! channels, 16-bit samples are rounded to 8 bits and transparency is
//! composited over white. Geometry belongs to `square` and `resize`.

use image::{DynamicImage, RgbImage};

/// The image as opaque 8-bit RGB, any transparency composited over white.
pub(crate) fn onto_white(image: DynamicImage) -> RgbImage {
    let color = image.color();
    if !color.has_alpha() {
        return image.into_rgb8();
    }
    let (width, height) = (image.width(), image.height());
    let mut out = RgbImage::new(width, height);
    if color.bytes_per_pixel() / color.channel_count() > 1 {
        let rgba = image.into_rgba16();
        for (src, dst) in rgba.pixels().zip(out.pixels_mut()) {
            let [r, g, b, a] = src.0.map(u64::from);
            dst.0 = [r, g, b].map(|c| over_white(c, a, u64::from(u16::MAX)));
        }
    } else {
        let rgba = image.into_rgba8();
        for (src, dst) in rgba.pixels().zip(out.pixels_mut()) {
            let [r, g, b, a] = src.0.map(u64::from);
            dst.0 = [r, g, b].map(|c| over_white(c, a, u64::from(u8::MAX)));
        }
    }
    out
}

/// One channel `c` with alpha `a`, both on a scale of `0..=max`, composited
/// over white and rounded to 8 bits.
pub(crate) fn over_white(c: u64, a: u64, max: u64) -> u8 {
    let scaled = c * a + max * (max - a);
    let divisor = max * max;
    let value = (scaled * 255 + divisor / 2) / divisor;
    // `scaled` never exceeds `max * max`, so `value` is at most 255.
    u8::try_from(value).unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, LumaA, Rgba};

    #[test]
    fn transparent_pixels_become_white_and_opaque_ones_keep_their_colour() {
        let mut rgba = ImageBuffer::<Rgba<u8>, _>::new(2, 1);
        rgba.put_pixel(0, 0, Rgba([10, 20, 30, 0]));
        rgba.put_pixel(1, 0, Rgba([10, 20, 30, 255]));
        let out = onto_white(DynamicImage::ImageRgba8(rgba));
        assert_eq!(out.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(out.get_pixel(1, 0).0, [10, 20, 30]);
    }

    #[test]
    fn half_transparent_black_becomes_mid_grey() {
        let rgba = ImageBuffer::from_pixel(1, 1, Rgba([0u8, 0, 0, 128]));
        let out = onto_white(DynamicImage::ImageRgba8(rgba));
        assert_eq!(out.get_pixel(0, 0).0, [127, 127, 127]);
    }

    #[test]
    fn sixteen_bit_grey_with_alpha_is_composited_before_rounding() {
        let grey = ImageBuffer::from_pixel(1, 1, LumaA([0u16, 32_768]));
        let out = onto_white(DynamicImage::ImageLumaA16(grey));
        assert_eq!(out.get_pixel(0, 0).0, [127, 127, 127]);
    }

    #[test]
    fn sixteen_bit_opaque_colour_is_rounded_to_eight_bits() {
        let rgb = ImageBuffer::from_pixel(1, 1, image::Rgb([65_535u16, 0, 32_896]));
        let out = onto_white(DynamicImage::ImageRgb16(rgb));
        assert_eq!(out.get_pixel(0, 0).0, [255, 0, 128]);
    }
}
