//! Colour conversion into sRGB: from an embedded ICC profile (Display P3,
//! ProPhoto, grey profiles, ...) and from CMYK. Which profile applies is
//! decided by the decoders; this module only converts.

use image::RgbImage;
use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

/// Converts `pixels` encoded in the ICC `profile` to sRGB in place. A profile
/// that cannot be read, or that does not describe RGB or grey data, is
/// ignored: the pixels are then taken to be sRGB already.
pub(crate) fn rgb_to_srgb(pixels: &mut RgbImage, profile: &[u8]) {
    let Ok(source) = ColorProfile::new_from_slice(profile) else {
        return;
    };
    let count = pixels.pixels().len();
    let converted = match source.color_space {
        DataColorSpace::Rgb => to_srgb(&source, Layout::Rgb, pixels.as_raw(), count),
        DataColorSpace::Gray => {
            let grey: Vec<u8> = pixels.pixels().map(|p| p.0[0]).collect();
            to_srgb(&source, Layout::Gray, &grey, count)
        }
        _ => None,
    };
    if let Some(rgb) = converted {
        pixels.copy_from_slice(&rgb);
    }
}

/// Interleaved CMYK samples as sRGB. `inverted` says the samples count
/// paper rather than ink (255 is no ink), as Adobe applications write them.
/// With a CMYK `profile` the conversion follows it; without one, a plain
/// subtractive formula stands in.
pub(crate) fn cmyk_to_srgb(mut ink: Vec<u8>, inverted: bool, profile: Option<&[u8]>) -> Vec<u8> {
    if inverted {
        // Paper amounts become ink amounts, in place to spare a copy.
        for sample in &mut ink {
            *sample = 255 - *sample;
        }
    }
    if let Some(rgb) = profile.and_then(|profile| cmyk_with_profile(&ink, profile)) {
        return rgb;
    }
    ink.chunks_exact(4)
        .flat_map(|p| {
            let paper = u32::from(255 - p[3]);
            [p[0], p[1], p[2]].map(|c| {
                let value = (u32::from(255 - c) * paper + 127) / 255;
                // Both factors are at most 255, so the value is too.
                u8::try_from(value).unwrap_or(u8::MAX)
            })
        })
        .collect()
}

fn cmyk_with_profile(ink: &[u8], profile: &[u8]) -> Option<Vec<u8>> {
    let source = ColorProfile::new_from_slice(profile).ok()?;
    if source.color_space != DataColorSpace::Cmyk {
        return None;
    }
    // CMYK samples travel in the four-channel layout.
    to_srgb(&source, Layout::Rgba, ink, ink.len() / 4)
}

/// `count` pixels of `samples` in `layout`, described by `source`, as sRGB.
fn to_srgb(source: &ColorProfile, layout: Layout, samples: &[u8], count: usize) -> Option<Vec<u8>> {
    let transform = source
        .create_transform_8bit(
            layout,
            &ColorProfile::new_srgb(),
            Layout::Rgb,
            TransformOptions::default(),
        )
        .ok()?;
    let mut rgb = vec![0; count * 3];
    transform.transform(samples, &mut rgb).ok()?;
    Some(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn srgb_pixels_keep_their_colour_through_the_srgb_profile() {
        let srgb = ColorProfile::new_srgb().encode().expect("sRGB encodes");
        let mut pixels = RgbImage::from_pixel(2, 2, Rgb([200, 100, 50]));
        rgb_to_srgb(&mut pixels, &srgb);
        let [r, g, b] = pixels.get_pixel(1, 1).0;
        assert!(r.abs_diff(200) <= 1 && g.abs_diff(100) <= 1 && b.abs_diff(50) <= 1);
    }

    #[test]
    fn display_p3_red_is_clipped_to_srgb_red() {
        let p3 = ColorProfile::new_display_p3().encode().expect("P3 encodes");
        let mut pixels = RgbImage::from_pixel(1, 1, Rgb([255, 0, 0]));
        rgb_to_srgb(&mut pixels, &p3);
        let [r, g, b] = pixels.get_pixel(0, 0).0;
        assert!(r == 255 && g < 10 && b < 10, "{:?}", [r, g, b]);
    }

    #[test]
    fn a_garbage_profile_leaves_the_pixels_alone() {
        let mut pixels = RgbImage::from_pixel(1, 1, Rgb([1, 2, 3]));
        rgb_to_srgb(&mut pixels, b"not a profile");
        assert_eq!(pixels.get_pixel(0, 0).0, [1, 2, 3]);
    }

    #[test]
    fn inverted_and_plain_cmyk_without_profile_give_the_same_colours() {
        let ink = [0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 255];
        let paper: Vec<u8> = ink.iter().map(|v| 255 - v).collect();
        let expected = vec![255, 255, 255, 255, 0, 0, 0, 0, 0];
        assert_eq!(cmyk_to_srgb(ink.to_vec(), false, None), expected);
        assert_eq!(cmyk_to_srgb(paper, true, None), expected);
    }
}
