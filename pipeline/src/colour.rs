//! Colour conversion into sRGB: from an embedded ICC profile (Display P3,
//! ProPhoto, grey profiles, ...) and from CMYK. Which profile applies is
//! decided by the decoders; this module only converts.

use std::cell::RefCell;
use std::sync::Arc;

use image::RgbImage;
use moxcms::{ColorProfile, DataColorSpace, Layout, Transform8BitExecutor, TransformOptions};

/// A transform into sRGB, with the colour space of its source.
type Transform = (DataColorSpace, Arc<Transform8BitExecutor>);

thread_local! {
    /// The last profile seen on this thread and its transform, if it has a
    /// usable one. Photos from one camera share their profile, and building
    /// the transform costs as much as running it on a 512-pixel avatar.
    static LAST: RefCell<Option<(Vec<u8>, Option<Transform>)>> = const { RefCell::new(None) };
}

/// Converts `pixels` encoded in the ICC `profile` to sRGB in place. A profile
/// that cannot be read, or that does not describe RGB or grey data, is
/// ignored: the pixels are then taken to be sRGB already.
pub(crate) fn rgb_to_srgb(pixels: &mut RgbImage, profile: &[u8]) {
    let converted = match transform(profile) {
        Some((DataColorSpace::Rgb, transform)) => {
            run(&*transform, pixels.as_raw(), pixels.pixels().len())
        }
        Some((DataColorSpace::Gray, transform)) => {
            let grey: Vec<u8> = pixels.pixels().map(|p| p.0[0]).collect();
            run(&*transform, &grey, grey.len())
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
    if let Some((DataColorSpace::Cmyk, transform)) = profile.and_then(transform)
        && let Some(rgb) = run(&*transform, &ink, ink.len() / 4)
    {
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

/// The transform from `profile` into sRGB, reused when the thread's last
/// profile was the same.
fn transform(profile: &[u8]) -> Option<Transform> {
    LAST.with_borrow_mut(|last| {
        if let Some((bytes, transform)) = last.as_ref()
            && bytes.as_slice() == profile
        {
            return transform.clone();
        }
        let transform = build(profile);
        *last = Some((profile.to_vec(), transform.clone()));
        transform
    })
}

/// A transform into sRGB for RGB, grey and CMYK profiles; CMYK samples
/// travel in the four-channel layout.
fn build(profile: &[u8]) -> Option<Transform> {
    let source = ColorProfile::new_from_slice(profile).ok()?;
    let layout = match source.color_space {
        DataColorSpace::Rgb => Layout::Rgb,
        DataColorSpace::Gray => Layout::Gray,
        DataColorSpace::Cmyk => Layout::Rgba,
        _ => return None,
    };
    let transform = source
        .create_transform_8bit(
            layout,
            &ColorProfile::new_srgb(),
            Layout::Rgb,
            TransformOptions::default(),
        )
        .ok()?;
    Some((source.color_space, transform))
}

/// `count` pixels of `samples` through `transform`, as sRGB.
fn run(transform: &Transform8BitExecutor, samples: &[u8], count: usize) -> Option<Vec<u8>> {
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
    fn each_profile_gets_its_own_transform_when_profiles_alternate() {
        let p3 = ColorProfile::new_display_p3().encode().expect("P3 encodes");
        let srgb = ColorProfile::new_srgb().encode().expect("sRGB encodes");
        for (profile, keeps_red) in [(&p3, false), (&srgb, true), (&p3, false), (&p3, false)] {
            let mut pixels = RgbImage::from_pixel(1, 1, Rgb([200, 100, 50]));
            rgb_to_srgb(&mut pixels, profile);
            let [r, _, _] = pixels.get_pixel(0, 0).0;
            assert_eq!(r.abs_diff(200) <= 1, keeps_red, "red becomes {r}");
        }
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
