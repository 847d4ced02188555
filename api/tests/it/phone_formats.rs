//! HEIC and AVIF, as phones write them, through the running service on all
//! three routes: raw bytes, a multipart file and a URL.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::images::AvatarInfo;
use crate::support::{TestApp, assert_error, corpus, source_server};

fn read(dir: &Path, file: &str) -> Vec<u8> {
    let path = dir.join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The stored avatar of a PUT that must have completed.
async fn stored(app: &TestApp, response: reqwest::Response) -> AvatarInfo {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    app.stored_avatar(&body).await
}

#[tokio::test]
async fn heic_and_avif_photos_become_the_avatar_on_every_route() {
    let Some(dir) = corpus::dir("heic_and_avif_routes") else {
        return;
    };
    let app = TestApp::spawn().await;
    // An iPhone's tiled HEIC, rotated by its container: 3024x4032 shown.
    let iphone = read(&dir, "heic/pillowheif_arrow_iphone8plus.heic");
    let info = stored(&app, app.put_bytes("alice", "me", "", iphone).await).await;
    assert_eq!((info.width, info.height), (512, 512));
    assert!(info.progressive && !info.has_exif);

    // A 10-bit HEIC with alpha from iOS 18, as a multipart file.
    let ios18 = read(&dir, "heic/infer_ios18_heix_10bit_alpha.heic");
    let info = stored(&app, app.put_file("bob", "bob", ios18).await).await;
    assert_eq!(info.width, 512);

    // An AVIF at a URL.
    let avif = read(&dir, "avif/libavif_kodim03_yuv420_8bpc.avif");
    let origin = source_server::start(avif, Duration::ZERO).await;
    let url = format!("{origin}/image");
    let info = stored(&app, app.put_url("carol", "me", "", &url).await).await;
    assert_eq!(info.width, 512);
}

#[tokio::test]
async fn truncated_heic_and_avif_files_are_refused_with_422() {
    let Some(dir) = corpus::dir("truncated_heic_and_avif") else {
        return;
    };
    let app = TestApp::spawn().await;
    for file in ["heic/derived_truncated.heic", "avif/derived_truncated.avif"] {
        let response = app.put_bytes("dave", "me", "", read(&dir, file)).await;
        let message =
            assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "image_rejected").await;
        assert!(message.contains("truncated"), "{file}: {message}");
    }
}

#[tokio::test]
async fn an_avif_whose_container_crops_it_shows_the_crop() {
    // 480 x 320 coded, of which the box keeps the 240 x 160 between the
    // red and green quadrants (pipeline/tests/fixtures/README.md).
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipeline/tests/fixtures/clap.avif"
    );
    let clap = std::fs::read(path).expect("the fixture");
    let app = TestApp::spawn().await;
    let info = stored(&app, app.put_bytes("clara", "me", "", clap).await).await;
    // The 160-pixel square of the 240 x 160 crop: half red, half green.
    assert_eq!((info.width, info.height), (160, 160));
    let halfway = [125.0, 115.0, 30.0];
    assert!(
        info.mean_rgb
            .iter()
            .zip(halfway)
            .all(|(m, h)| (m - h).abs() < 20.0),
        "{:?}",
        info.mean_rgb
    );
}
