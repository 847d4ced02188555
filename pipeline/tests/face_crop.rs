//! The face crop on pictures with a person off centre
//! (`tests/fixtures/faces`, see its README): the square holds the face, at
//! every output size (the decoder scales the picture differently for
//! each), and without a frontal face it is the attention crop's.

use avatar_pipeline::{Options, Placement, convert};
use avatar_testkit::images::offset_of;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/faces/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn placed(bytes: &[u8], size: u32, placement: Placement) -> Vec<u8> {
    let options = Options {
        size,
        placement,
        ..Options::default()
    };
    convert(bytes, &options).expect("converts").jpeg
}

#[test]
fn the_square_holds_the_face_at_every_size() {
    // 1280 x 512: the astronaut's face spans about 950 to 1080 in one, 180
    // to 310 in the other (measured on the pictures); the centre square,
    // from 384 to 896, holds neither.
    for (name, face) in [
        ("astronaut-right-of-a-cat.jpg", 950..1080),
        ("astronaut-left-of-a-coffee.jpg", 180..310),
    ] {
        let bytes = fixture(name);
        let picture = image::load_from_memory(&bytes).expect("decodes");
        for size in [512, 256, 128, 64] {
            let (left, distance) = offset_of(&placed(&bytes, size, Placement::Face), &picture);
            assert!(
                distance < 15.0,
                "{name} at {size}: no square of the picture is like it ({left}: {distance:.1})"
            );
            assert!(
                left <= face.start && face.end <= left + 512,
                "{name} at {size}: the square at {left} leaves out the face at {face:?}"
            );
        }
    }
}

#[test]
fn without_a_frontal_face_the_attention_crop_places_the_square() {
    // The cameraman is in profile.
    let bytes = fixture("cameraman-left-of-a-rocket.jpg");
    assert_eq!(
        placed(&bytes, 512, Placement::Face),
        placed(&bytes, 512, Placement::Attention)
    );
}
