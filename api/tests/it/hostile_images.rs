//! Small uploads crafted to cost a worker minutes of CPU or gigabytes of
//! memory are refused from their headers, through the running service,
//! with a message that names the limit.

use reqwest::StatusCode;

use crate::support::{TestApp, assert_error, hostile};

async fn refused(app: &TestApp, bytes: Vec<u8>) -> String {
    let response = app.put_bytes("mallory", "me", "?wait=20", bytes).await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "image_rejected").await
}

#[tokio::test]
async fn crafted_files_that_announce_huge_work_are_refused_naming_the_limit() {
    let app = TestApp::spawn().await;
    let scan_flood = refused(&app, hostile::progressive_jpeg(10_000, 10_000, 490)).await;
    assert!(scan_flood.contains("490 scans"), "{scan_flood}");
    let many_scans = refused(&app, hostile::progressive_jpeg(64, 64, 600)).await;
    assert!(many_scans.contains("at most 500"), "{many_scans}");
    for (name, bytes) in [
        ("gif", hostile::gif_with_screen(10_000, 10_000)),
        ("png", hostile::png_16_bit_rgba(10_000, 10_000)),
        ("bmp", hostile::bmp_rle8(10_000, 10_000)),
        ("jpeg", hostile::progressive_jpeg(10_000, 10_000, 3)),
    ] {
        let message = refused(&app, bytes).await;
        assert!(message.contains("the limit is 96 MB"), "{name}: {message}");
    }
}

#[tokio::test]
async fn the_decode_budget_is_a_setting() {
    let app = TestApp::builder()
        .env("AVATARS_MAX_DECODE_BYTES", "1048576")
        .start()
        .await;
    // 1024x1024 of 16-bit RGBA needs 11 MB: over a 1 MB budget.
    let message = refused(&app, hostile::png_16_bit_rgba(1024, 1024)).await;
    assert!(message.contains("the limit is 1 MB"), "{message}");
}
