//! Where avatars go: the documented key layout in the bucket, a local
//! directory served under /media, and staged uploads cleaned up.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Storage, TestApp, images, s3};

#[tokio::test]
async fn the_bucket_holds_only_the_avatar_under_the_documented_key() {
    let app = TestApp::spawn().await;
    let body: Value = app
        .put_bytes("alice", "me", "", images::jpeg(640, 640))
        .await
        .json()
        .await
        .expect("json");
    let url = body["avatarUrl"].as_str().expect("url");
    let keys = s3::keys(app.bucket.as_deref().expect("bucket")).await;
    assert_eq!(keys.len(), 1, "the staged upload was left behind: {keys:?}");
    let key = &keys[0];
    let (stamp, rest) = key.split_once('/').expect("a stamp");
    assert_eq!(rest, "userAvatars/alice/avatar.jpg");
    let stamp: u64 = stamp.parse().expect("unix millis");
    let now = crate::support::app::now() * 1000;
    assert!(
        now.abs_diff(stamp) < 120_000,
        "{stamp} is not a recent unix-ms time"
    );
    assert!(url.ends_with(key.as_str()), "{url} does not end with {key}");
}

#[tokio::test]
async fn local_storage_is_served_under_media_with_an_immutable_cache_lifetime() {
    let app = TestApp::builder().storage(Storage::Local).start().await;
    let body: Value = app
        .put_file("bob", "me", images::png(700, 400))
        .await
        .json()
        .await
        .expect("json");
    let url = body["avatarUrl"].as_str().expect("url");
    assert!(url.starts_with(&format!("{}/media/", app.address)), "{url}");
    let download = app.download(url).await;
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()["content-type"], "image/jpeg");
    assert!(
        download.headers()["cache-control"]
            .to_str()
            .expect("ascii")
            .contains("immutable")
    );
    let info = images::inspect(&download.bytes().await.expect("body"));
    assert_eq!((info.width, info.height), (400, 400));

    let dir = app.data_dir.as_ref().expect("data dir");
    let staging = dir.join("staging");
    let left = std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "staged uploads were left in {}", staging.display());
    let escaped = app
        .client
        .get(app.url("/media/../staging"))
        .send()
        .await
        .expect("request");
    assert_ne!(escaped.status(), StatusCode::OK);
}
