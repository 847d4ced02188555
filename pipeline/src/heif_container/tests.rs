use std::time::{Duration, Instant};

use avatar_testkit::hostile_heif::{
    boxed, ftyp, meta, reference_fan, sample_bomb, sample_table_flood,
};

use super::*;

fn refusal(bytes: &[u8]) -> String {
    match inspect(bytes, SourceFormat::Heif) {
        Err(PipelineError::ImplausibleContainer { detail, .. }) => detail,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_plain_still_image_passes_with_its_size() {
    let file = [ftyp(b"heic", &[b"mif1", b"heic"]), meta(1, &[])].concat();
    let container = inspect(&file, SourceFormat::Heif).expect("passes");
    assert_eq!(container.primary_pixels, Some(64 * 64));
    assert_eq!(container.primary_type, Some(*b"hvc1"));
}

#[test]
fn a_grid_of_768_tiles_passes() {
    let tiles: Vec<u16> = (2..=769).collect();
    let file = [ftyp(b"heic", &[b"mif1", b"heic"]), meta(769, &[(1, tiles)])].concat();
    let container = inspect(&file, SourceFormat::Heif).expect("passes");
    assert_eq!(container.primary_type, Some(*b"grid"));
}

#[test]
fn a_reference_fan_is_refused_at_once_whatever_its_size() {
    for k in [12u16, 30, 200] {
        let started = Instant::now();
        let detail = refusal(&reference_fan(k));
        assert!(started.elapsed() < Duration::from_millis(100), "k={k}");
        assert!(
            detail.contains("levels deep") || detail.contains("references"),
            "k={k}: {detail}"
        );
    }
}

#[test]
fn a_wide_fan_within_the_depth_is_refused_for_its_paths() {
    // Four levels of 20 items below the primary one, every item of a level
    // deriving from every item of the next: 168,421 paths, 1,220 references.
    let level = |n: u16| (2 + 20 * n)..(22 + 20 * n);
    let mut links = vec![(1u16, level(0).collect())];
    for n in 0..3 {
        for from in level(n) {
            links.push((from, level(n + 1).collect()));
        }
    }
    let file = [ftyp(b"heic", &[b"mif1", b"heic"]), meta(81, &links)].concat();
    assert!(refusal(&file).contains("paths"));
}

#[test]
fn a_derivation_loop_is_refused() {
    let file = [
        ftyp(b"heic", &[b"mif1", b"heic"]),
        meta(3, &[(1, vec![2]), (2, vec![3]), (3, vec![2])]),
    ]
    .concat();
    assert!(refusal(&file).contains("loop"));
}

#[test]
fn a_movie_in_a_still_image_is_refused() {
    let detail = refusal(&sample_bomb(18_000_000));
    assert!(detail.contains("moov"), "{detail}");
}

#[test]
fn a_sequence_with_too_many_samples_is_refused_and_a_short_one_passes() {
    let detail = refusal(&sample_table_flood(200_000));
    assert!(
        detail.contains("stts") && detail.contains("200000"),
        "{detail}"
    );
    assert!(inspect(&sample_table_flood(300), SourceFormat::Heif).is_ok());
}

#[test]
fn too_many_items_are_refused() {
    let file = [ftyp(b"heic", &[b"mif1", b"heic"]), meta(1001, &[])].concat();
    assert!(refusal(&file).contains("1001 items"));
}

#[test]
fn a_box_larger_than_the_file_is_refused_as_truncated() {
    let mut file = [ftyp(b"heic", &[b"mif1", b"heic"]), meta(1, &[])].concat();
    let at = boxed(b"ftyp", &[0; 16]).len();
    file[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let error = inspect(&file, SourceFormat::Heif).expect_err("refused");
    assert!(matches!(error, PipelineError::Corrupt(_)), "{error:?}");
    assert!(error.to_string().contains("truncated"), "{error}");
}
