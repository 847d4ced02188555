//! Bad input gets an error that says what to fix, in one JSON shape.

use reqwest::StatusCode;

use crate::support::{TestApp, assert_error, images};

#[tokio::test]
async fn bytes_that_are_not_an_image_are_refused_with_415_before_any_job() {
    let app = TestApp::spawn().await;
    let message = assert_error(
        app.put_bytes(
            "alice",
            "me",
            "",
            b"<html>definitely not a picture</html>".to_vec(),
        )
        .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert!(message.contains("JPEG"), "{message}");
    assert_error(
        app.put_file("alice", "me", b"%PDF-1.7 not an image".to_vec())
            .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // The header claims an image; the bytes decide.
    let lying = app
        .client
        .put(app.url("/api/public/user/me/avatarBytes"))
        .bearer_auth(app.token("alice"))
        .header("content-type", "image/png")
        .body(b"plain text".to_vec())
        .send()
        .await
        .expect("request failed");
    assert_error(
        lying,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let keys = crate::support::s3::keys(app.bucket.as_deref().expect("bucket")).await;
    assert!(keys.is_empty(), "refused bodies were stored: {keys:?}");
}

#[tokio::test]
async fn a_truncated_image_fails_its_job_with_422() {
    let app = TestApp::spawn().await;
    let message = assert_error(
        app.put_bytes("alice", "me", "", images::truncated_jpeg())
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "image_rejected",
    )
    .await;
    assert!(
        message.contains("truncated") || message.contains("corrupt"),
        "{message}"
    );
    assert_eq!(
        app.get_avatar("alice", "alice").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = TestApp::builder()
        .env("AVATARS_MAX_UPLOAD_BYTES", "20000")
        .start()
        .await;
    let big = images::png(1500, 1500);
    assert!(big.len() > 20000);
    let message = assert_error(
        app.put_bytes("alice", "me", "", big.clone()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert!(message.contains("20000"), "{message}");
    assert_error(
        app.put_file("alice", "me", big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
}

#[tokio::test]
async fn malformed_json_and_bad_urls_are_refused_with_400() {
    let app = TestApp::spawn().await;
    for body in [
        "{not json",
        r#"{"avatar": "https://example.com/a.png"}"#,
        "[]",
    ] {
        let response = app
            .client
            .put(app.url("/api/public/user/me/avatar"))
            .bearer_auth(app.token("alice"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request failed");
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    for url in [
        "ftp://example.com/a.png",
        "not a url",
        "https://user:pw@example.com/a.png",
        "file:///etc/passwd",
    ] {
        assert_error(
            app.put_url("alice", "me", "", url).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
}

#[tokio::test]
async fn a_multipart_body_without_the_avatar_part_is_refused_with_400() {
    let app = TestApp::spawn().await;
    let form = reqwest::multipart::Form::new().part(
        "picture",
        reqwest::multipart::Part::bytes(images::jpeg(32, 32)).file_name("a.jpg"),
    );
    let response = app
        .client
        .put(app.url("/api/public/user/me/updateAvatarFile"))
        .bearer_auth(app.token("alice"))
        .multipart(form)
        .send()
        .await
        .expect("request failed");
    let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(message.contains("avatar"), "{message}");
    let not_multipart = app
        .client
        .put(app.url("/api/public/user/me/updateAvatarFile"))
        .bearer_auth(app.token("alice"))
        .body(images::jpeg(32, 32))
        .send()
        .await
        .expect("request failed");
    assert_error(not_multipart, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn a_wait_outside_0_to_30_seconds_is_refused_with_400() {
    let app = TestApp::spawn().await;
    for query in ["?wait=31", "?wait=-1", "?wait=soon"] {
        assert_error(
            app.put_bytes("alice", "me", query, images::jpeg(16, 16))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
}

#[tokio::test]
async fn unknown_routes_answer_404_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/nope"))
        .send()
        .await
        .expect("request failed");
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
}
