//! The placeholder: the [ThumbHash](https://evanw.github.io/thumbhash/) of
//! the avatar's smallest side, a few dozen bytes from which a page paints
//! a blurred preview before the image loads. The `thumbhash` crate is its
//! author's own Rust implementation of the published algorithm.

use image::RgbImage;

use crate::PipelineError;
use crate::resize::shrink;

/// The side the image is reduced to before hashing, at most: ThumbHash
/// keeps no more than 7 cosine terms on a side, which 32 samples hold
/// (the algorithm takes at most 100, and hashing costs grow with the
/// pixels).
const HASHED_SIDE: u32 = 32;

/// The ThumbHash of the square `image`.
pub(crate) fn placeholder(image: &RgbImage) -> Result<Vec<u8>, PipelineError> {
    let reduced;
    let image = if image.width() > HASHED_SIDE {
        reduced = shrink(image, HASHED_SIDE)?;
        &reduced
    } else {
        image
    };
    let rgba: Vec<u8> = image
        .pixels()
        .flat_map(|pixel| {
            let [r, g, b] = pixel.0;
            [r, g, b, u8::MAX]
        })
        .collect();
    let (width, height) = (image.width() as usize, image.height() as usize);
    Ok(thumbhash::rgba_to_thumb_hash(width, height, &rgba))
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;
    use crate::fixtures::{RED, near};

    #[test]
    fn the_placeholder_decodes_to_the_avatars_colours() {
        let mut image = RgbImage::from_pixel(200, 200, Rgb(RED));
        for y in 100..200 {
            for x in 0..200 {
                image.put_pixel(x, y, Rgb([0, 0, 255]));
            }
        }
        let hash = placeholder(&image).expect("hashes");
        assert!(hash.len() <= 32, "{} bytes", hash.len());
        let (width, height, rgba) = thumbhash::thumb_hash_to_rgba(&hash).expect("decodes");
        let at = |x: usize, y: usize| {
            let i = (y * width + x) * 4;
            [rgba[i], rgba[i + 1], rgba[i + 2]]
        };
        assert!(
            near(at(width / 2, height / 8), RED, 60),
            "{:?}",
            at(width / 2, height / 8)
        );
        assert!(
            near(at(width / 2, height * 7 / 8), [0, 0, 255], 60),
            "{:?}",
            at(width / 2, height * 7 / 8)
        );
    }
}
