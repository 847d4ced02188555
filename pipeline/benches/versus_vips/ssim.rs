//! Structural similarity of two grey images of one size: the mean SSIM over
//! 8x8 windows taken every 4 pixels, with the usual constants for 8-bit data.

use image::GrayImage;

const WINDOW: u32 = 8;
const STEP: u32 = 4;
const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// SSIM of `a` and `b`, 1.0 for identical images.
pub fn ssim(a: &GrayImage, b: &GrayImage) -> f64 {
    assert_eq!(
        a.dimensions(),
        b.dimensions(),
        "SSIM needs images of one size"
    );
    let (width, height) = a.dimensions();
    let mut total = 0.0;
    let mut windows = 0u32;
    for top in (0..=height.saturating_sub(WINDOW)).step_by(STEP as usize) {
        for left in (0..=width.saturating_sub(WINDOW)).step_by(STEP as usize) {
            total += window(a, b, left, top);
            windows += 1;
        }
    }
    total / f64::from(windows.max(1))
}

fn window(a: &GrayImage, b: &GrayImage, left: u32, top: u32) -> f64 {
    let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut count = 0.0;
    for y in top..(top + WINDOW).min(a.height()) {
        for x in left..(left + WINDOW).min(a.width()) {
            let va = f64::from(a.get_pixel(x, y).0[0]);
            let vb = f64::from(b.get_pixel(x, y).0[0]);
            sa += va;
            sb += vb;
            saa += va * va;
            sbb += vb * vb;
            sab += va * vb;
            count += 1.0;
        }
    }
    let (ma, mb) = (sa / count, sb / count);
    let va = saa / count - ma * ma;
    let vb = sbb / count - mb * mb;
    let cov = sab / count - ma * mb;
    ((2.0 * ma * mb + C1) * (2.0 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2))
}
