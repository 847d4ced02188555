//! Files that announce far more work than their size: each is refused
//! from its header or a marker walk, with a message naming the limit,
//! before any pixel is decoded.

use avatar_pipeline::{Options, PipelineError, convert, jpeg_scans};
use avatar_testkit::hostile;

fn refusal(bytes: &[u8]) -> PipelineError {
    convert(bytes, &Options::default()).expect_err("is refused")
}

#[test]
fn a_scan_flood_at_100_megapixels_is_refused_by_its_scan_count() {
    let bytes = hostile::progressive_jpeg(10_000, 10_000, 490);
    assert_eq!(jpeg_scans(&bytes), 490);
    let error = refusal(&bytes);
    assert!(
        matches!(
            error,
            PipelineError::TooManyScans {
                scans: 490,
                allowed: 20,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("490 scans") && message.contains("at most 20"),
        "{message}"
    );
    assert_eq!(error.code(), "image_rejected");
}

#[test]
fn more_than_500_scans_are_refused_at_any_size() {
    let error = refusal(&hostile::progressive_jpeg(64, 64, 501));
    assert!(
        matches!(error, PipelineError::TooManyScans { allowed: 500, .. }),
        "{error:?}"
    );
}

#[test]
fn a_gif_whose_screen_is_huge_is_refused_by_the_decode_budget() {
    let error = refusal(&hostile::gif_with_screen(10_000, 10_000));
    assert!(
        matches!(error, PipelineError::DecodeTooLarge { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("the limit is 96 MB"), "{error}");
}

#[test]
fn a_16_bit_rgba_png_of_100_megapixels_is_refused_by_the_decode_budget() {
    let error = refusal(&hostile::png_16_bit_rgba(10_000, 10_000));
    assert!(
        matches!(
            error,
            PipelineError::DecodeTooLarge {
                needed: 1_100_000_000,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn an_rle_bmp_of_100_megapixels_is_refused_by_the_decode_budget() {
    let error = refusal(&hostile::bmp_rle8(10_000, 10_000));
    assert!(
        matches!(error, PipelineError::DecodeTooLarge { .. }),
        "{error:?}"
    );
}

#[test]
fn a_progressive_jpeg_whose_coefficients_exceed_the_budget_is_refused() {
    // 10000x10000 with three full-resolution components: 600 MB of
    // coefficients, in a handful of scans.
    let error = refusal(&hostile::progressive_jpeg(10_000, 10_000, 3));
    assert!(
        matches!(error, PipelineError::DecodeTooLarge { .. }),
        "{error:?}"
    );
}

#[test]
fn a_larger_budget_lets_the_same_header_through_to_decoding() {
    let options = Options {
        max_decode_bytes: u64::MAX,
        ..Options::default()
    };
    // The header passes; the token data then fails as damaged, not as
    // over budget.
    let error = convert(&hostile::png_16_bit_rgba(64, 64), &options).expect_err("no pixels");
    assert!(
        !matches!(error, PipelineError::DecodeTooLarge { .. }),
        "{error:?}"
    );
}
