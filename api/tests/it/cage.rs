//! The cage: images are decoded in converter processes, so a file that
//! makes its decoder hang, abort or swell fails only its own job, within
//! its time bound, while other users' uploads are answered and the
//! service's own processes go on.

use reqwest::StatusCode;

use crate::support::{TestApp, assert_error, hostile_heif, images};

/// A small PNG with a test-only fault marker after its end.
fn faulty(marker: &str) -> Vec<u8> {
    let mut png = images::png(64, 64);
    png.extend_from_slice(format!("avatars-fault:{marker}").as_bytes());
    png
}

/// Uploads `bytes` for `user` and expects a 422 `image_rejected` within
/// the wait window; returns its message.
async fn rejected(app: &TestApp, user: &str, bytes: Vec<u8>) -> String {
    let response = app.put_bytes(user, "me", "?wait=20", bytes).await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "image_rejected").await
}

/// Uploads a good picture for `user` and expects its avatar.
async fn accepted(app: &TestApp, user: &str) {
    let response = app
        .put_bytes(user, "me", "?wait=20", images::jpeg(300, 200))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{user}'s upload");
}

#[tokio::test]
async fn a_hanging_an_aborting_and_a_swelling_decoder_each_fail_only_their_own_job() {
    let app = TestApp::builder()
        .env("AVATARS_FAULT_CONVERTER_HOOKS", "true")
        .env("AVATARS_CONVERTER_MEMORY_MB", "256")
        .env("AVATARS_CONVERT_TIME_BASE_MS", "3000")
        .start()
        .await;
    for (marker, says) in [
        ("hang", "took longer than the 3.2 s its size allows"),
        ("abort", "the decoder stopped on it (it aborted)"),
        ("allocate", "more than the 256 MB of memory"),
    ] {
        let (message, ()) = tokio::join!(
            rejected(&app, "mallory", faulty(marker)),
            accepted(&app, "alice")
        );
        assert!(message.contains(says), "{marker}: {message}");
    }
    // Both slots still convert: the converters that died were replaced.
    tokio::join!(accepted(&app, "bob"), accepted(&app, "carol"));
}

#[tokio::test]
async fn heic_files_that_cost_libheif_dearly_are_refused_from_their_structure() {
    let app = TestApp::spawn().await;
    for (name, bytes, says) in [
        (
            "a reference fan",
            hostile_heif::reference_fan(30),
            "levels deep",
        ),
        (
            "a movie of 18 million samples",
            hostile_heif::sample_bomb(18_000_000),
            "moov",
        ),
        (
            "a sample table of 200,000 entries",
            hostile_heif::sample_table_flood(200_000),
            "200000 entries",
        ),
    ] {
        let (message, ()) = tokio::join!(rejected(&app, "mallory", bytes), accepted(&app, "alice"));
        assert!(message.contains(says), "{name}: {message}");
        assert!(
            message.contains("HEIC/HEIF file was refused"),
            "{name}: {message}"
        );
    }
}

#[tokio::test]
async fn separate_worker_processes_convert_in_converters_too() {
    let app = TestApp::builder()
        .in_process_workers(0)
        .worker_processes(1)
        .env("AVATARS_FAULT_CONVERTER_HOOKS", "true")
        .start()
        .await;
    let message = rejected(&app, "mallory", faulty("abort")).await;
    assert!(message.contains("it aborted"), "{message}");
    accepted(&app, "alice").await;
}
