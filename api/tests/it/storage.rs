//! Where avatars go: the documented key layout in the bucket, a local
//! directory served under /media, and staged uploads cleaned up.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Storage, TestApp, eventually, images, s3};

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
    // Uploads are filed by user, staging/{userId}/{jobId}: no file is left.
    let staging = dir.join("staging");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|user| {
            std::fs::read_dir(user.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|file| file.path())
        .collect();
    assert!(left.is_empty(), "staged uploads were left: {left:?}");
    let escaped = app
        .client
        .get(app.url("/media/../staging"))
        .send()
        .await
        .expect("request");
    assert_ne!(escaped.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_avatar_that_stops_being_current_is_deleted_after_its_retention() {
    let app = TestApp::builder()
        .env("AVATARS_SUPERSEDED_RETENTION_SECS", "1")
        .start()
        .await;
    let first: Value = app
        .put_bytes("carol", "me", "", images::jpeg(200, 200))
        .await
        .json()
        .await
        .expect("json");
    let second: Value = app
        .put_bytes("carol", "me", "", images::png(200, 200))
        .await
        .json()
        .await
        .expect("json");
    let bucket = app.bucket.clone().expect("bucket");
    let second_url = second["avatarUrl"].as_str().expect("url").to_owned();
    let keys = s3::keys_once(
        &bucket,
        |keys| keys.len() == 1,
        "the superseded avatar stayed",
    )
    .await;
    assert!(
        second_url.ends_with(&keys[0]),
        "the current avatar was deleted"
    );
    let gone = app
        .download(first["avatarUrl"].as_str().expect("url"))
        .await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.download(&second_url).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_staged_upload_left_behind_without_a_job_is_swept() {
    let app = TestApp::builder()
        .env("AVATARS_STAGING_RETENTION_SECS", "1")
        .env("AVATARS_SWEEP_INTERVAL_SECS", "1")
        .start()
        .await;
    let bucket = app.bucket.clone().expect("bucket");
    // What an API that died between staging and enqueueing leaves behind.
    let orphan = format!("staging/{}", ulid::Ulid::generate());
    s3::client()
        .await
        .put_object()
        .bucket(&bucket)
        .key(&orphan)
        .body(images::png(32, 32).into())
        .send()
        .await
        .expect("put");
    s3::keys_once(
        &bucket,
        |keys| !keys.contains(&orphan),
        &format!("{orphan} was never swept"),
    )
    .await;
}

#[tokio::test]
async fn a_local_write_cut_short_by_a_crash_is_swept() {
    let app = TestApp::builder()
        .storage(Storage::Local)
        .env("AVATARS_STAGING_RETENTION_SECS", "1")
        .env("AVATARS_SWEEP_INTERVAL_SECS", "1")
        .start()
        .await;
    // What a process killed in the middle of a write leaves behind, and a
    // write still going on: older than the retention, but not an hour old.
    let partial = app.data_dir.as_ref().expect("data dir").join(".partial");
    std::fs::create_dir_all(&partial).expect("partial dir");
    let now = crate::support::app::now();
    let plant = |secs_ago: u64| {
        let stamp_ms = now.saturating_sub(secs_ago) * 1000;
        let path = partial.join(ulid::Ulid::from_parts(stamp_ms, 7).to_string());
        std::fs::write(&path, b"half an upload").expect("write");
        path
    };
    let cut_short = plant(7200);
    let going_on = plant(60);

    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        "a write cut short was never swept",
        || async {
            if cut_short.exists() {
                Err(format!("{} is still there", cut_short.display()))
            } else {
                Ok(())
            }
        },
    )
    .await;
    assert!(going_on.exists(), "a write still going on was swept");
}
