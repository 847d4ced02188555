//! HDR pixels (BT.2020 primaries with the PQ or HLG transfer, as 10- and
//! 12-bit HEIF and AVIF carry them) tone-mapped to 8-bit sRGB. Clipping
//! them, as an 8-bit decode does, leaves a flat grey picture; here the
//! signal becomes light, reference white (203 cd/m², ITU-R BT.2408) becomes
//! SDR white, the primaries are converted to BT.709, highlights above 80 %
//! roll off smoothly instead of clipping (on the largest channel, so hues
//! keep their ratio), and the sRGB curve encodes the result. Which images
//! are HDR is decided by `heif`, from the colour description.

use image::RgbImage;

/// How HDR samples are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transfer {
    /// SMPTE ST 2084, absolute luminance up to 10000 cd/m².
    Pq,
    /// ITU-R BT.2100 hybrid log-gamma, relative scene light.
    Hlg,
}

/// Reference white in cd/m²: where SDR white sits in an HDR signal.
const REFERENCE_WHITE: f32 = 203.0;

/// The display an HLG signal is shown on, in cd/m², and its system gamma.
const HLG_DISPLAY_PEAK: f32 = 1000.0;
const HLG_SYSTEM_GAMMA: f32 = 1.2;

/// Below this share of SDR white the tone curve leaves light unchanged.
const KNEE: f32 = 0.8;

/// Linear BT.2020 to linear BT.709 (ITU-R BT.2087).
const BT2020_TO_BT709: [[f32; 3]; 3] = [
    [1.6605, -0.5876, -0.0728],
    [-0.1246, 1.1329, -0.0083],
    [-0.0182, -0.1006, 1.1187],
];

/// BT.2020 luma weights, for the HLG system gamma.
const BT2020_LUMA: [f32; 3] = [0.2627, 0.6780, 0.0593];

/// The largest code value of `bits`-bit samples (1 to 16 bits).
pub(crate) fn max_code(bits: u8) -> u32 {
    (1u32 << bits.clamp(1, 16)) - 1
}

/// `samples`, interleaved RGB (`channels` 3) or RGBA (4, alpha left out)
/// of `bits` bits per channel in native-endian `u16`s, rows `stride` bytes
/// apart, as 8-bit sRGB.
pub(crate) fn to_srgb(
    samples: &[u8],
    stride: usize,
    (width, height): (u32, u32),
    channels: usize,
    bits: u8,
    transfer: Transfer,
) -> RgbImage {
    let max = max_code(bits);
    // The transfer function of every code value, once.
    let light: Vec<f32> = (0..=max)
        .map(|code| signal_to_light(code as f32 / max as f32, transfer))
        .collect();
    let last = light.len() - 1;
    let encode = SrgbEncoder::new();
    let mut out = RgbImage::new(width, height);
    let row_bytes = width as usize * channels * 2;
    for (y, row) in out.rows_mut().enumerate() {
        let start = y * stride;
        let Some(line) = samples.get(start..start + row_bytes) else {
            break;
        };
        for (pixel, sample) in row.zip(line.chunks_exact(channels * 2)) {
            let code = |i: usize| usize::from(u16::from_ne_bytes([sample[i], sample[i + 1]]));
            let rgb = [0, 2, 4].map(|i| light[code(i).min(last)]);
            let rgb = match transfer {
                Transfer::Pq => rgb,
                Transfer::Hlg => hlg_ootf(rgb),
            };
            pixel.0 = tone_map(to_bt709(rgb)).map(|c| encode.encode(c));
        }
    }
    out
}

/// One normalised code value as light relative to reference white; for
/// HLG, scene light before the system gamma.
fn signal_to_light(signal: f32, transfer: Transfer) -> f32 {
    match transfer {
        Transfer::Pq => pq_eotf(signal) * 10_000.0 / REFERENCE_WHITE,
        Transfer::Hlg => hlg_inverse_oetf(signal),
    }
}

/// SMPTE ST 2084: signal to luminance as a share of 10000 cd/m².
fn pq_eotf(signal: f32) -> f32 {
    const M1: f32 = 2610.0 / 16384.0;
    const M2: f32 = 2523.0 / 4096.0 * 128.0;
    const C1: f32 = 3424.0 / 4096.0;
    const C2: f32 = 2413.0 / 4096.0 * 32.0;
    const C3: f32 = 2392.0 / 4096.0 * 32.0;
    let p = signal.clamp(0.0, 1.0).powf(1.0 / M2);
    ((p - C1).max(0.0) / (C2 - C3 * p)).powf(1.0 / M1)
}

/// ITU-R BT.2100 HLG: signal to scene light, 0 to 1.
fn hlg_inverse_oetf(signal: f32) -> f32 {
    const A: f32 = 0.178_832_77;
    const B: f32 = 1.0 - 4.0 * A;
    const C: f32 = 0.559_910_7;
    let signal = signal.clamp(0.0, 1.0);
    if signal <= 0.5 {
        signal * signal / 3.0
    } else {
        (((signal - C) / A).exp() + B) / 12.0
    }
}

/// The HLG system gamma for a [`HLG_DISPLAY_PEAK`] display: scene light to
/// display light relative to reference white.
fn hlg_ootf(rgb: [f32; 3]) -> [f32; 3] {
    let luma: f32 = rgb.iter().zip(BT2020_LUMA).map(|(c, w)| c * w).sum();
    let gain = HLG_DISPLAY_PEAK / REFERENCE_WHITE * luma.max(0.0).powf(HLG_SYSTEM_GAMMA - 1.0);
    rgb.map(|c| c * gain)
}

/// Linear BT.2020 to linear BT.709, out-of-gamut negatives dropped.
fn to_bt709(rgb: [f32; 3]) -> [f32; 3] {
    BT2020_TO_BT709.map(|row| {
        row.iter()
            .zip(rgb)
            .map(|(m, c)| m * c)
            .sum::<f32>()
            .max(0.0)
    })
}

/// Light above [`KNEE`] compressed into what is left below SDR white,
/// approaching it without reaching it, with the same slope at the knee.
fn tone_map(rgb: [f32; 3]) -> [f32; 3] {
    let peak = rgb[0].max(rgb[1]).max(rgb[2]);
    if peak <= KNEE {
        return rgb;
    }
    let room = 1.0 - KNEE;
    let mapped = KNEE + room * (1.0 - (-(peak - KNEE) / room).exp());
    rgb.map(|c| (c * mapped / peak).min(1.0))
}

/// The sRGB curve to 8 bits, through a table of 4096 steps.
struct SrgbEncoder {
    table: Vec<u8>,
}

impl SrgbEncoder {
    const STEPS: usize = 4096;

    fn new() -> Self {
        let table = (0..=Self::STEPS)
            .map(|i| {
                let linear = i as f32 / Self::STEPS as f32;
                let encoded = if linear <= 0.003_130_8 {
                    12.92 * linear
                } else {
                    1.055 * linear.powf(1.0 / 2.4) - 0.055
                };
                (encoded * 255.0).round().clamp(0.0, 255.0) as u8
            })
            .collect();
        Self { table }
    }

    fn encode(&self, linear: f32) -> u8 {
        let index = (linear.clamp(0.0, 1.0) * Self::STEPS as f32).round() as usize;
        self.table.get(index).copied().unwrap_or(u8::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_pixel(code: [u16; 3], bits: u8, transfer: Transfer) -> [u8; 3] {
        let samples: Vec<u8> = code.iter().flat_map(|c| c.to_ne_bytes()).collect();
        to_srgb(&samples, 6, (1, 1), 3, bits, transfer)
            .get_pixel(0, 0)
            .0
    }

    #[test]
    fn pq_reference_white_becomes_near_sdr_white_not_grey() {
        // 203 cd/m² is PQ signal 0.5806: code 594 of 1023.
        let [r, g, b] = one_pixel([594, 594, 594], 10, Transfer::Pq);
        assert!(r > 235 && r == g && g == b, "{r} {g} {b}");
    }

    #[test]
    fn pq_mid_grey_and_black_keep_their_place() {
        // 26 cd/m² (about 13 % of reference white) is a mid-tone, not black.
        let [grey, ..] = one_pixel([380, 380, 380], 10, Transfer::Pq);
        assert!((80..=140).contains(&grey), "{grey}");
        assert_eq!(one_pixel([0, 0, 0], 10, Transfer::Pq), [0, 0, 0]);
    }

    #[test]
    fn highlights_roll_off_instead_of_clipping() {
        let steps = [600u16, 700, 800, 900].map(|c| one_pixel([c, c / 2, c / 2], 10, Transfer::Pq));
        for pair in steps.windows(2) {
            assert!(pair[0][1] <= pair[1][1], "{steps:?}");
        }
        // A 1000 cd/m² red highlight keeps its hue rather than turning white.
        let [r, g, b] = one_pixel([769, 500, 500], 10, Transfer::Pq);
        assert!(r > g + 100 && r > b + 100, "{r} {g} {b}");
    }

    #[test]
    fn bt2020_green_is_brought_into_bt709() {
        let [r, g, b] = one_pixel([0, 520, 0], 10, Transfer::Pq);
        assert!(g > 150 && r < 30 && b < 60, "{r} {g} {b}");
    }

    #[test]
    fn hlg_reference_white_is_near_sdr_white() {
        // HLG signal 0.75 is reference white on a 1000 cd/m² display.
        let code = (0.75 * 1023.0_f32).round() as u16;
        let [r, ..] = one_pixel([code; 3], 10, Transfer::Hlg);
        assert!(r > 235, "{r}");
        let [dark, ..] = one_pixel([200; 3], 10, Transfer::Hlg);
        assert!((10..120).contains(&dark), "{dark}");
    }

    #[test]
    fn alpha_samples_are_skipped_not_read_as_colour() {
        let rgb: Vec<u8> = [594u16, 0, 0]
            .iter()
            .flat_map(|c| c.to_ne_bytes())
            .collect();
        let rgba: Vec<u8> = [594u16, 0, 0, 1023, 594, 0, 0, 1023]
            .iter()
            .flat_map(|c| c.to_ne_bytes())
            .collect();
        let one = to_srgb(&rgb, 6, (1, 1), 3, 10, Transfer::Pq);
        let two = to_srgb(&rgba, 16, (2, 1), 4, 10, Transfer::Pq);
        assert_eq!(two.get_pixel(0, 0), one.get_pixel(0, 0));
        assert_eq!(two.get_pixel(1, 0), one.get_pixel(0, 0));
    }

    #[test]
    fn twelve_bit_samples_read_their_own_scale() {
        let ten = one_pixel([594, 594, 594], 10, Transfer::Pq);
        let twelve = one_pixel([2377, 2377, 2377], 12, Transfer::Pq);
        assert!(ten[0].abs_diff(twelve[0]) <= 1, "{ten:?} {twelve:?}");
    }
}
