//! Replacing an avatar from raw bytes and from a multipart upload.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, images};

type Encoder = fn(u32, u32) -> Vec<u8>;

const FORMATS: [(&str, Encoder); 4] = [
    ("jpeg", images::jpeg),
    ("png", images::png),
    ("webp", images::webp),
    ("gif", images::gif),
];

#[tokio::test]
async fn raw_bytes_of_jpeg_png_webp_and_gif_become_the_avatar() {
    let app = TestApp::spawn().await;
    for (name, encode) in FORMATS {
        let response = app.put_bytes("alice", "me", "", encode(640, 480)).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let body: Value = response.json().await.expect("json");
        assert!(body["jobId"].is_string(), "{name}: {body}");
        let info = app.stored_avatar(&body).await;
        assert_eq!((info.width, info.height), (480, 480), "{name}");
    }
}

#[tokio::test]
async fn multipart_uploads_of_jpeg_png_webp_and_gif_become_the_avatar() {
    let app = TestApp::spawn().await;
    for (name, encode) in FORMATS {
        let response = app.put_file("bob", "bob", encode(600, 900)).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let body: Value = response.json().await.expect("json");
        let current: Value = app.current_avatar("bob", "bob").await;
        assert_eq!(current["avatarUrl"], body["avatarUrl"], "{name}");
    }
}

#[tokio::test]
async fn the_stored_avatar_is_a_progressive_512_square_jpeg_without_metadata() {
    let app = TestApp::spawn().await;
    let response = app
        .put_bytes("carol", "me", "", images::jpeg(1200, 800))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let url = body["avatarUrl"].as_str().expect("avatarUrl");
    let bucket = app.bucket.as_deref().expect("bucket");
    assert!(url.contains(bucket), "{url} is not in bucket {bucket}");
    assert!(url.ends_with("/userAvatars/carol/avatar.jpg"), "{url}");

    let download = app.download(url).await;
    assert_eq!(download.status(), StatusCode::OK);
    let headers = download.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    let cache = headers["cache-control"].to_str().expect("ascii");
    assert!(
        cache.contains("immutable") && cache.contains("max-age=31536000"),
        "{cache}"
    );
    let info = images::inspect(&download.bytes().await.expect("body"));
    assert_eq!((info.width, info.height), (512, 512));
    assert!(info.progressive, "the avatar is not progressive");
    assert!(!info.has_exif, "the avatar carries EXIF");
}

#[tokio::test]
async fn a_source_smaller_than_the_target_is_not_enlarged() {
    let app = TestApp::spawn().await;
    let body: Value = app
        .put_bytes("dave", "me", "", images::png(120, 90))
        .await
        .json()
        .await
        .expect("json");
    let info = app.stored_avatar(&body).await;
    assert_eq!((info.width, info.height), (90, 90));
}

#[tokio::test]
async fn transparency_is_flattened_onto_white() {
    let app = TestApp::spawn().await;
    let body: Value = app
        .put_bytes("erin", "me", "", images::transparent_png(300, 300))
        .await
        .json()
        .await
        .expect("json");
    let info = app.stored_avatar(&body).await;
    assert!(
        info.mean_rgb.iter().all(|&c| c > 250.0),
        "{:?}",
        info.mean_rgb
    );
}

#[tokio::test]
async fn the_current_avatar_is_the_last_one_set_and_readable_by_anyone_signed_in() {
    let app = TestApp::spawn().await;
    let missing = app.get_avatar("frank", "frank").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");

    app.put_bytes("frank", "me", "", images::jpeg(300, 300))
        .await;
    let second: Value = app
        .put_bytes("frank", "me", "", images::png(300, 300))
        .await
        .json()
        .await
        .expect("json");
    let current: Value = app.current_avatar("grace", "frank").await;
    assert_eq!(current["avatarUrl"], second["avatarUrl"]);
    let own: Value = app.current_avatar("frank", "me").await;
    assert_eq!(own["avatarUrl"], second["avatarUrl"]);
}
