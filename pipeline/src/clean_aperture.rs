//! The clean aperture (`clap`) of a HEIF or AVIF image: the rectangle of
//! the coded picture that is shown. libheif 1.23 crops by it itself, but
//! bounds the decoder's frame by the size after the crop plus one coding
//! unit (`tighten_image_size_limit_for_ispe` given the item's displayed
//! size), so an AVIF whose box keeps less than the coded size minus 128
//! pixels fails in dav1d ("Decoder plugin generated an error"). So the box
//! is opened to the whole picture in a copy of the file before libheif
//! reads it, and the rectangle it kept is cut from the decoded picture,
//! once libheif has turned it upright.

use image::RgbImage;

use crate::heif_container::{Container, Transform};

/// A rectangle of a picture, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rect {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

/// `bytes` with the primary image's clean aperture opened to the whole
/// picture, and the rectangle the aperture keeps of the upright picture;
/// `None` when the image has none, or one that keeps it all or that does
/// not fit it (libheif then reads the file as it is).
pub(crate) fn open(bytes: &[u8], container: &Container) -> Option<(Vec<u8>, Rect)> {
    let (mut width, mut height) = container.primary_size?;
    let mut kept: Option<Rect> = None;
    let mut opened = None;
    for transform in &container.transforms {
        match *transform {
            Transform::Clap { numbers, at } if opened.is_none() => {
                let rect = coded_rect(numbers, width, height)?;
                if rect
                    == (Rect {
                        left: 0,
                        top: 0,
                        width,
                        height,
                    })
                {
                    return None;
                }
                // The whole picture: width and height over 1, no offset.
                let whole = [width, 1, height, 1, 0, 1, 0, 1];
                let mut copy = bytes.to_vec();
                let body = copy.get_mut(at..at + 32)?;
                for (slot, number) in body.chunks_exact_mut(4).zip(whole) {
                    slot.copy_from_slice(&number.to_be_bytes());
                }
                opened = Some(copy);
                kept = Some(rect);
            }
            Transform::Clap { .. } => return None,
            Transform::Rotate(quarters) => {
                for _ in 0..quarters {
                    kept = kept.map(|r| Rect {
                        left: r.top,
                        top: width - r.left - r.width,
                        width: r.height,
                        height: r.width,
                    });
                    (width, height) = (height, width);
                }
            }
            Transform::Mirror { axis: 0 } => {
                kept = kept.map(|r| Rect {
                    top: height - r.top - r.height,
                    ..r
                });
            }
            Transform::Mirror { .. } => {
                kept = kept.map(|r| Rect {
                    left: width - r.left - r.width,
                    ..r
                });
            }
        }
    }
    Some((opened?, kept?))
}

/// The rectangle an aperture's numbers keep of a `width` x `height`
/// picture, rounded as libheif rounds it: the centre is the picture's
/// plus the offset, the edges half the aperture's size minus one away.
fn coded_rect(numbers: [u32; 8], width: u32, height: u32) -> Option<Rect> {
    let fraction = |num: u32, den: u32| (den != 0).then(|| f64::from(num) / f64::from(den));
    let signed = |num: u32, den: u32| (den != 0).then(|| f64::from(num as i32) / f64::from(den));
    let [wn, wd, hn, hd, xn, xd, yn, yd] = numbers;
    let (aperture_w, aperture_h) = (fraction(wn, wd)?, fraction(hn, hd)?);
    let (x, y) = (signed(xn, xd)?, signed(yn, yd)?);
    let edges = |offset: f64, size: u32, aperture: f64| {
        let centre = offset + (f64::from(size) - 1.0) / 2.0;
        let first = (centre - (aperture - 1.0) / 2.0).round();
        let last = (centre + (aperture - 1.0) / 2.0).round();
        (first >= 0.0 && last >= first && last < f64::from(size))
            .then(|| (first as u32, (last - first) as u32 + 1))
    };
    let (left, width) = edges(x, width, aperture_w)?;
    let (top, height) = edges(y, height, aperture_h)?;
    Some(Rect {
        left,
        top,
        width,
        height,
    })
}

/// The `rect` of `pixels`.
pub(crate) fn cut(pixels: RgbImage, rect: Rect) -> RgbImage {
    let (width, height) = pixels.dimensions();
    if rect.left + rect.width > width || rect.top + rect.height > height {
        return pixels;
    }
    image::imageops::crop_imm(&pixels, rect.left, rect.top, rect.width, rect.height).to_image()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(transforms: Vec<Transform>) -> Container {
        Container {
            primary_size: Some((480, 320)),
            transforms,
            ..Container::default()
        }
    }

    /// A file of 40 bytes whose clap body starts at 8.
    fn bytes() -> Vec<u8> {
        vec![0xAA; 40]
    }

    /// The numbers `avifenc --crop 160,40,160,240` writes for 480 x 320.
    const CROP: [u32; 8] = [160, 1, 240, 1, 0, 1, 0, 1];

    #[test]
    fn the_aperture_is_opened_and_its_rectangle_kept() {
        let clap = Transform::Clap {
            numbers: CROP,
            at: 8,
        };
        let (opened, kept) = open(&bytes(), &container(vec![clap])).expect("opened");
        let numbers: Vec<u32> = opened[8..40]
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes(b.try_into().expect("four bytes")))
            .collect();
        assert_eq!(numbers, [480, 1, 320, 1, 0, 1, 0, 1]);
        assert_eq!(&opened[..8], &bytes()[..8]);
        assert_eq!(
            kept,
            Rect {
                left: 160,
                top: 40,
                width: 160,
                height: 240
            }
        );
    }

    #[test]
    fn the_rectangle_turns_with_the_picture() {
        let clap = Transform::Clap {
            // 100 x 50 in the top-left corner: centre offset -190, -135.
            numbers: [100, 1, 50, 1, (-190i32) as u32, 1, (-135i32) as u32, 1],
            at: 8,
        };
        let turned = |after: Vec<Transform>| {
            let transforms = [vec![clap], after].concat();
            open(&bytes(), &container(transforms)).expect("opened").1
        };
        assert_eq!(
            turned(vec![]),
            Rect {
                left: 0,
                top: 0,
                width: 100,
                height: 50
            }
        );
        // A quarter turn anticlockwise: the top-left corner goes bottom left.
        assert_eq!(
            turned(vec![Transform::Rotate(1)]),
            Rect {
                left: 0,
                top: 380,
                width: 50,
                height: 100
            }
        );
        assert_eq!(
            turned(vec![Transform::Mirror { axis: 0 }]),
            Rect {
                left: 0,
                top: 270,
                width: 100,
                height: 50
            }
        );
        assert_eq!(
            turned(vec![Transform::Mirror { axis: 1 }]),
            Rect {
                left: 380,
                top: 0,
                width: 100,
                height: 50
            }
        );
    }

    #[test]
    fn an_aperture_that_keeps_all_or_does_not_fit_is_left_to_libheif() {
        let whole = Transform::Clap {
            numbers: [480, 1, 320, 1, 0, 1, 0, 1],
            at: 8,
        };
        assert_eq!(open(&bytes(), &container(vec![whole])), None);
        let past = Transform::Clap {
            numbers: [400, 1, 320, 1, 100, 1, 0, 1],
            at: 8,
        };
        assert_eq!(open(&bytes(), &container(vec![past])), None);
        let no_denominator = Transform::Clap {
            numbers: [160, 0, 240, 1, 0, 1, 0, 1],
            at: 8,
        };
        assert_eq!(open(&bytes(), &container(vec![no_denominator])), None);
        assert_eq!(open(&bytes(), &container(vec![])), None);
    }
}
