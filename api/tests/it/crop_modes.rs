//! `AVATARS_CROP`: without a client's crop, `attention` puts the square on
//! the busy, colourful part of the picture and `face` on the largest face;
//! a client's crop still wins.

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::TestApp;
use crate::support::images::{AvatarInfo, encode, inspect, offset_of};

/// A flat grey 1500 x 500 picture with a striped magenta and yellow patch
/// near its right edge.
fn off_centre(format: ImageFormat) -> Vec<u8> {
    let image = RgbImage::from_fn(1500, 500, |x, y| {
        if (1150..1450).contains(&x) && (100..400).contains(&y) {
            Rgb(if (x / 8 + y / 8) % 2 == 0 {
                [230, 40, 160]
            } else {
                [230, 200, 20]
            })
        } else {
            Rgb([128, 128, 128])
        }
    });
    encode(&DynamicImage::ImageRgb8(image), format)
}

async fn stored(app: &TestApp, response: reqwest::Response) -> AvatarInfo {
    inspect(&avatar_bytes(app, response).await)
}

/// How far the avatar's mean is from flat grey.
fn colourfulness(info: &AvatarInfo) -> f64 {
    info.mean_rgb.iter().map(|m| (m - 128.0).abs()).sum()
}

#[tokio::test]
async fn the_attention_crop_finds_the_subject_the_centre_crop_misses() {
    let attention = TestApp::builder()
        .env("AVATARS_CROP", "attention")
        .start()
        .await;
    let centre = TestApp::spawn().await;
    for format in [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP] {
        let found = stored(
            &attention,
            attention
                .put_bytes("ann", "me", "", off_centre(format))
                .await,
        )
        .await;
        let missed = stored(
            &centre,
            centre.put_bytes("ann", "me", "", off_centre(format)).await,
        )
        .await;
        assert!(
            colourfulness(&found) > 30.0 && colourfulness(&missed) < 10.0,
            "{format:?}: attention {:?}, centre {:?}",
            found.mean_rgb,
            missed.mean_rgb
        );
    }
    // A client's crop is what it says, whatever the setting: the grey left.
    let chosen = stored(
        &attention,
        attention
            .put_bytes("ann", "me", "?crop=0,0,0.3,1", off_centre(ImageFormat::Png))
            .await,
    )
    .await;
    assert!(colourfulness(&chosen) < 10.0, "{:?}", chosen.mean_rgb);
}

/// One of the pictures with a person off centre (pipeline/tests/fixtures/README.md).
fn with_a_face(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../pipeline/tests/fixtures/faces/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn avatar_bytes(app: &TestApp, response: reqwest::Response) -> Vec<u8> {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    app.stored_avatar_bytes(&body).await
}

#[tokio::test]
async fn the_face_crop_keeps_the_face_and_falls_back_to_attention_without_one() {
    let face = TestApp::builder().env("AVATARS_CROP", "face").start().await;
    let centre = TestApp::spawn().await;
    // 1280 x 512: the astronaut's face spans about 950 to 1080 in one, 180
    // to 310 in the other; the centre square, from 384 to 896, holds neither.
    for (name, face_at) in [
        ("astronaut-right-of-a-cat.jpg", 950..1080),
        ("astronaut-left-of-a-coffee.jpg", 180..310),
    ] {
        let source = with_a_face(name);
        let picture = image::load_from_memory(&source).expect("the fixture decodes");
        for (app, found) in [(&face, true), (&centre, false)] {
            let avatar = avatar_bytes(
                app,
                app.put_bytes("ann", "me", "?wait=30", source.clone()).await,
            )
            .await;
            let (left, distance) = offset_of(&avatar, &picture);
            assert!(
                distance < 15.0,
                "{name}: the avatar is no square of the picture"
            );
            let holds = left <= face_at.start && face_at.end <= left + 512;
            assert_eq!(
                holds, found,
                "{name}: the square at {left}, the face at {face_at:?}"
            );
        }
    }
    // The cameraman is in profile, which the frontal detector does not
    // find: the square is then the attention crop's.
    let attention = TestApp::builder()
        .env("AVATARS_CROP", "attention")
        .start()
        .await;
    let profile = with_a_face("cameraman-left-of-a-rocket.jpg");
    let by_face = avatar_bytes(
        &face,
        face.put_bytes("ann", "me", "", profile.clone()).await,
    )
    .await;
    let by_attention = avatar_bytes(
        &attention,
        attention.put_bytes("ann", "me", "", profile).await,
    )
    .await;
    assert!(
        by_face == by_attention,
        "without a face, the face crop is not the attention crop"
    );
}
