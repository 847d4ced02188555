//! AVIFs whose container crops the picture (a `clap` clean aperture),
//! alone and before a turn and a mirror: each is decoded cropped as the
//! box says, then turned. The files and how they were made are in
//! `tests/fixtures/README.md`.

use avatar_pipeline::{Options, convert};

const RED: [u8; 3] = [220, 30, 30];
const GREEN: [u8; 3] = [30, 200, 30];

fn near(got: [u8; 3], want: [u8; 3]) -> bool {
    got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 40)
}

/// The avatar of `file` at 64 pixels: the colours of its left, right,
/// top and bottom quarters' middles.
fn avatar(file: &str) -> (u32, [[u8; 3]; 4]) {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let options = Options {
        size: 64,
        ..Options::default()
    };
    let avatar = convert(&bytes, &options).unwrap_or_else(|e| panic!("{file}: {e}"));
    let pixels = image::load_from_memory(&avatar.jpeg)
        .expect("a JPEG")
        .to_rgb8();
    let at = |x: u32, y: u32| pixels.get_pixel(x, y).0;
    (
        avatar.side,
        [at(12, 32), at(52, 32), at(32, 12), at(32, 52)],
    )
}

#[test]
fn the_clean_aperture_is_what_the_avatar_shows() {
    let (side, [left, right, _, _]) = avatar("clap.avif");
    assert_eq!(side, 64);
    assert!(near(left, RED), "left {left:?}");
    assert!(near(right, GREEN), "right {right:?}");
}

#[test]
fn the_clean_aperture_turns_and_mirrors_with_the_picture() {
    let (_, [_, _, top, bottom]) = avatar("clap-irot.avif");
    assert!(
        near(top, GREEN) && near(bottom, RED),
        "turned: {top:?} above {bottom:?}"
    );
    let (_, [_, _, top, bottom]) = avatar("clap-irot-imir.avif");
    assert!(
        near(top, RED) && near(bottom, GREEN),
        "mirrored: {top:?} above {bottom:?}"
    );
}
