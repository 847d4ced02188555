//! The `attention` crop: the square placed on the most interesting part
//! of the picture, as libvips's `attention` crop does, without a client's
//! crop. It is computed on the image as decoded (already reduced by the
//! decoder's scaling), reduced again to [`ANALYSED_SIDE`] pixels on its
//! longer side: each pixel scores its edges (a Sobel filter on
//! lightness), skin tone and saturated colour; the scores are summed on a
//! coarse grid of [`CELL`]-pixel cells, each with its neighbours, and the
//! square is centred on the highest sum, kept inside the picture.

use image::RgbImage;

use crate::PipelineError;
use crate::resize::reduce;
use crate::square::Square;

/// The longer side the picture is analysed at.
const ANALYSED_SIDE: u32 = 128;
/// The side of a grid cell, in analysed pixels.
const CELL: u32 = 8;
/// What a skin-toned pixel and a saturated one add to its edge score.
const SKIN_WEIGHT: f32 = 96.0;
const SATURATION_WEIGHT: f32 = 48.0;

/// `square` (the centred square the decoder placed in `pixels`) moved to
/// where the picture holds most interest, at the same size.
pub(crate) fn place(pixels: &RgbImage, square: Square) -> Result<Square, PipelineError> {
    let (width, height) = pixels.dimensions();
    if square.crop >= width.max(height) || width < 2 || height < 2 {
        return Ok(square);
    }
    let scale = f64::from(ANALYSED_SIDE) / f64::from(width.max(height));
    let (small_w, small_h) = (
        ((f64::from(width) * scale).round() as u32).clamp(3, ANALYSED_SIDE),
        ((f64::from(height) * scale).round() as u32).clamp(3, ANALYSED_SIDE),
    );
    let small = reduce(pixels, small_w, small_h)?;
    let scores = scores(&small, small_w as usize, small_h as usize);
    let Some((cx, cy)) = busiest(&scores, small_w as usize, small_h as usize) else {
        return Ok(square);
    };
    // Back to the decoded picture's pixels, and kept inside it.
    let (fx, fy) = (
        f64::from(width) / f64::from(small_w),
        f64::from(height) / f64::from(small_h),
    );
    let centre = |at: f64, factor: f64, length: u32| {
        let left = (at * factor - f64::from(square.crop) / 2.0).round();
        (left.max(0.0) as u32).min(length - square.crop)
    };
    Ok(Square {
        left: centre(cx, fx, width),
        top: centre(cy, fy, height),
        ..square
    })
}

/// Each pixel's interest: its Sobel edge strength on lightness, plus
/// weights for skin tone and saturated colour.
fn scores(rgb: &[u8], width: usize, height: usize) -> Vec<f32> {
    let lightness: Vec<f32> = rgb
        .chunks_exact(3)
        .map(|p| 0.2126 * f32::from(p[0]) + 0.7152 * f32::from(p[1]) + 0.0722 * f32::from(p[2]))
        .collect();
    let mut scores = vec![0.0; width * height];
    for y in 0..height {
        for x in 0..width {
            let at = |dx: isize, dy: isize| {
                let xx = (x as isize + dx).clamp(0, width as isize - 1) as usize;
                let yy = (y as isize + dy).clamp(0, height as isize - 1) as usize;
                lightness[yy * width + xx]
            };
            let gx =
                at(1, -1) + 2.0 * at(1, 0) + at(1, 1) - at(-1, -1) - 2.0 * at(-1, 0) - at(-1, 1);
            let gy =
                at(-1, 1) + 2.0 * at(0, 1) + at(1, 1) - at(-1, -1) - 2.0 * at(0, -1) - at(1, -1);
            let i = y * width + x;
            let [r, g, b] = [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]].map(i32::from);
            let (max, min) = (r.max(g).max(b), r.min(g).min(b));
            // A common RGB rule for skin under daylight.
            let skin = r > 95
                && g > 40
                && b > 20
                && r > g
                && r > b
                && max - min > 15
                && (r - g).abs() > 15;
            let saturated = max > 64 && (max - min) * 100 > 45 * max;
            scores[i] = (gx * gx + gy * gy).sqrt() / 4.0
                + if skin { SKIN_WEIGHT } else { 0.0 }
                + if saturated { SATURATION_WEIGHT } else { 0.0 };
        }
    }
    scores
}

/// The centre, in analysed pixels, of the grid cell whose sum with its
/// eight neighbours is the highest, the one nearest the picture's centre
/// on a tie; `None` where every cell scores the same (a flat picture).
fn busiest(scores: &[f32], width: usize, height: usize) -> Option<(f64, f64)> {
    let cell = CELL as usize;
    let (columns, rows) = (width.div_ceil(cell), height.div_ceil(cell));
    let mut cells = vec![0.0f32; columns * rows];
    for y in 0..height {
        for x in 0..width {
            cells[(y / cell) * columns + x / cell] += scores[y * width + x];
        }
    }
    let (mid_x, mid_y) = (width as f64 / 2.0, height as f64 / 2.0);
    let mut best = (f32::MIN, f64::MAX, mid_x, mid_y);
    for row in 0..rows {
        for column in 0..columns {
            let mut sum = 0.0;
            for r in row.saturating_sub(1)..(row + 2).min(rows) {
                for c in column.saturating_sub(1)..(column + 2).min(columns) {
                    sum += cells[r * columns + c];
                }
            }
            let x = ((column * cell) as f64 + (cell as f64 / 2.0)).min(width as f64);
            let y = ((row * cell) as f64 + (cell as f64 / 2.0)).min(height as f64);
            // Ties go to the cell nearest the centre.
            let distance = (x - mid_x).powi(2) + (y - mid_y).powi(2);
            if sum > best.0 || (sum == best.0 && distance < best.1) {
                best = (sum, distance, x, y);
            }
        }
    }
    let lowest = cells.iter().copied().fold(f32::MAX, f32::min);
    let highest = cells.iter().copied().fold(f32::MIN, f32::max);
    (highest > lowest).then_some((best.2, best.3))
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    /// A flat grey 1200 x 400 picture with a busy, colourful patch at `x`.
    fn with_patch_at(x: u32) -> RgbImage {
        RgbImage::from_fn(1200, 400, |px, py| {
            if (x..x + 200).contains(&px) && (100..300).contains(&py) {
                let stripe = (px / 6 + py / 6) % 2 == 0;
                Rgb(if stripe {
                    [230, 40, 160]
                } else {
                    [20, 180, 230]
                })
            } else {
                Rgb([128, 128, 128])
            }
        })
    }

    #[test]
    fn the_square_moves_onto_what_is_busy() {
        let centred = Square::centred(1200, 400, 100);
        for patch in [0, 1000, 300] {
            let placed = place(&with_patch_at(patch), centred).expect("placed");
            assert_eq!((placed.crop, placed.side, placed.top), (400, 100, 0));
            // The patch is inside the square, which is as nearly centred
            // on it as the picture's edges let it be.
            let middle = (placed.left + 200).clamp(200, 1000);
            assert!(
                placed.left <= patch && patch + 200 <= placed.left + 400,
                "a patch at {patch}: the square is at {}",
                placed.left
            );
            assert!(
                middle.abs_diff((patch + 100).clamp(200, 1000)) <= 16,
                "{patch}: {middle}"
            );
        }
    }

    #[test]
    fn a_flat_picture_keeps_the_centre_square() {
        let flat = RgbImage::from_pixel(900, 300, Rgb([90, 90, 90]));
        let centred = Square::centred(900, 300, 64);
        assert_eq!(place(&flat, centred).expect("placed"), centred);
    }
}
