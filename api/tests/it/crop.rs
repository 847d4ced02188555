//! `crop=LEFT,TOP,WIDTH,HEIGHT` on the PUT routes: checked before any job
//! exists, and applied to the upright image, whatever the EXIF orientation.

use std::time::Duration;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::images::{AvatarInfo, encode};
use crate::support::{TestApp, assert_error, corpus, source_server};

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const WHITE: [u8; 3] = [255, 255, 255];

/// A 400 x 400 picture in four colours: red, green on top; blue, white
/// below.
fn quadrants() -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(400, 400, |x, y| {
        Rgb(match (x < 200, y < 200) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        })
    }))
}

async fn stored(app: &TestApp, response: reqwest::Response) -> AvatarInfo {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    app.stored_avatar(&body).await
}

fn near(mean: [f64; 3], colour: [u8; 3]) -> bool {
    mean.iter()
        .zip(colour)
        .all(|(m, c)| (m - f64::from(c)).abs() < 25.0)
}

#[tokio::test]
async fn the_avatar_is_cut_from_the_crop_on_every_route() {
    let app = TestApp::spawn().await;
    let png = encode(&quadrants(), ImageFormat::Png);
    let jpeg = encode(&quadrants(), ImageFormat::Jpeg);

    let green = stored(
        &app,
        app.put_bytes("cropper", "me", "?crop=0.5,0,0.5,0.5", png.clone())
            .await,
    )
    .await;
    assert!(near(green.mean_rgb, GREEN), "{:?}", green.mean_rgb);
    assert_eq!(green.width, 200, "a 200-pixel square is not enlarged");

    let origin = source_server::start(jpeg, Duration::ZERO).await;
    let url = format!("{origin}/image");
    let blue = stored(
        &app,
        app.put_url("cropper", "me", "?crop=0,0.55,0.4,0.4", &url)
            .await,
    )
    .await;
    assert!(near(blue.mean_rgb, BLUE), "{:?}", blue.mean_rgb);

    // A rectangle that is not square gives its centred square: the right
    // half's centre is half green, half white.
    let response = app
        .client
        .put(app.url("/api/public/user/me/updateAvatarFile?crop=0.75,0,0.25,1"))
        .bearer_auth(app.token("cropper"))
        .multipart(reqwest::multipart::Form::new().part(
            "avatar",
            reqwest::multipart::Part::bytes(png).file_name("q.png"),
        ))
        .send()
        .await
        .expect("sent");
    let strip = stored(&app, response).await;
    assert_eq!(strip.width, 100);
    let halfway = [127.0, 255.0, 127.0];
    assert!(
        strip
            .mean_rgb
            .iter()
            .zip(halfway)
            .all(|(m, h)| (m - h).abs() < 25.0),
        "{:?}",
        strip.mean_rgb
    );
}

#[tokio::test]
async fn a_crop_that_is_not_one_is_refused_saying_which_number_is_wrong() {
    let app = TestApp::spawn().await;
    for (crop, says) in [
        ("0,0,0.5", "four numbers"),
        ("0,0,half,0.5", "WIDTH"),
        ("-0.1,0,0.5,0.5", "LEFT"),
        ("0,1.2,0.5,0.5", "TOP"),
        ("0,0,0,0.5", "more than 0"),
        ("0.6,0,0.5,0.5", "right edge"),
        ("0,0.7,0.5,0.5", "bottom edge"),
    ] {
        let response = app
            .put_bytes(
                "picky",
                "me",
                &format!("?crop={crop}"),
                encode(&quadrants(), ImageFormat::Png),
            )
            .await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(message.contains(says), "{crop}: {message}");
    }
    // Nothing of it was taken: the user has no avatar.
    assert_eq!(
        app.get_avatar("picky", "picky").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_same_crop_of_a_photo_in_every_exif_orientation_is_the_same_avatar() {
    let Some(dir) = corpus::dir("crop_orientation") else {
        return;
    };
    let app = TestApp::spawn().await;
    let mut means = Vec::new();
    for n in 1..=8 {
        let path = dir.join("orientation").join(format!("Landscape_{n}.jpg"));
        let bytes = std::fs::read(&path).expect("a corpus photo");
        let info = stored(
            &app,
            app.put_bytes("turner", "me", "?crop=0.05,0.1,0.3,0.45", bytes)
                .await,
        )
        .await;
        means.push(info.mean_rgb);
    }
    for (n, mean) in means.iter().enumerate() {
        let apart = mean
            .iter()
            .zip(means[0])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            apart < 6.0,
            "Landscape_{} cropped to {mean:?}, Landscape_1 to {:?}",
            n + 1,
            means[0]
        );
    }
    // And a crop elsewhere is another picture.
    let bytes = std::fs::read(dir.join("orientation/Landscape_6.jpg")).expect("a corpus photo");
    let other = stored(
        &app,
        app.put_bytes("turner", "me", "?crop=0.6,0.5,0.3,0.45", bytes)
            .await,
    )
    .await;
    let apart = other
        .mean_rgb
        .iter()
        .zip(means[0])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        apart > 10.0,
        "two crops gave {:?} and {:?}",
        other.mean_rgb,
        means[0]
    );
}

#[tokio::test]
async fn a_crop_of_a_tiled_iphone_heic_is_of_the_picture_as_shown() {
    let Some(dir) = corpus::dir("crop_heic") else {
        return;
    };
    let app = TestApp::spawn().await;
    // A grid of 48 tiles, turned by its container (irot 270).
    let bytes =
        std::fs::read(dir.join("heic/pillowheif_arrow_iphone8plus.heic")).expect("a corpus photo");
    let whole = stored(&app, app.put_bytes("tiles", "me", "", bytes.clone()).await).await;
    let top = stored(
        &app,
        app.put_bytes("tiles", "me", "?crop=0,0,1,0.3", bytes.clone())
            .await,
    )
    .await;
    let bottom = stored(
        &app,
        app.put_bytes("tiles", "me", "?crop=0,0.7,1,0.3", bytes)
            .await,
    )
    .await;
    assert_eq!((top.width, bottom.width), (512, 512));
    let apart = |a: [f64; 3], b: [f64; 3]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    };
    assert!(
        apart(top.mean_rgb, bottom.mean_rgb) > 5.0,
        "top {:?}, bottom {:?}, whole {:?}",
        top.mean_rgb,
        bottom.mean_rgb,
        whole.mean_rgb
    );
}
