//! Replacing an avatar from a URL that a worker fetches.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, images, source_server};

#[tokio::test]
async fn an_image_at_a_url_of_each_format_becomes_the_avatar() {
    let app = TestApp::spawn().await;
    for (name, bytes) in [
        ("jpeg", images::jpeg(800, 600)),
        ("png", images::png(800, 600)),
        ("webp", images::webp(800, 600)),
        ("gif", images::gif(800, 600)),
    ] {
        let source = source_server::start(bytes, Duration::ZERO).await;
        let response = app
            .put_url("alice", "me", "", &format!("{source}/image"))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let body: Value = response.json().await.expect("json");
        let info = app.stored_avatar(&body).await;
        assert_eq!((info.width, info.height), (512, 512), "{name}");
    }
}

async fn assert_rejected(
    response: reqwest::Response,
    status: StatusCode,
    code: &str,
    needle: &str,
) {
    assert_eq!(response.status(), status, "{needle}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

#[tokio::test]
async fn urls_that_cannot_be_fetched_fail_with_422_saying_why() {
    let app = TestApp::spawn().await;
    let source = source_server::start(images::png(64, 64), Duration::ZERO).await;
    let closed = format!("http://127.0.0.1:{}/a.png", crate::support::s3::free_port());
    assert_rejected(
        app.put_url("bob", "me", "", &closed).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "image_rejected",
        "could not be reached",
    )
    .await;
    assert_rejected(
        app.put_url("bob", "me", "", &format!("{source}/missing"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "image_rejected",
        "HTTP 404",
    )
    .await;
    assert_rejected(
        app.put_url("bob", "me", "", &format!("{source}/text"))
            .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "not an image",
    )
    .await;
}

#[tokio::test]
async fn a_fetched_file_over_the_limit_fails_with_413() {
    let app = TestApp::builder()
        .env("AVATARS_MAX_UPLOAD_BYTES", "20000")
        .start()
        .await;
    let source = source_server::start(images::png(1500, 1500), Duration::ZERO).await;
    assert_rejected(
        app.put_url("carol", "me", "", &format!("{source}/image"))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "20000",
    )
    .await;
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let app = TestApp::builder()
        .env("AVATARS_ALLOW_PRIVATE_SOURCES", "false")
        .start()
        .await;
    let source = source_server::start(images::png(64, 64), Duration::ZERO).await;
    let base = source.to_string();
    let port = base.rsplit(':').next().expect("port");
    for url in [
        format!("{source}/image"),
        format!("http://localhost:{port}/image"),
        format!("http://[::ffff:127.0.0.1]:{port}/image"),
        format!("http://0x7f000001:{port}/image"),
        format!("http://2130706433:{port}/image"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        assert_rejected(
            app.put_url("dave", "me", "", &url).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "image_rejected",
            "not allowed",
        )
        .await;
    }
}

#[tokio::test]
async fn a_bulk_url_job_asks_a_busy_origin_again_after_its_retry_after() {
    let app = TestApp::spawn().await;
    let source = source_server::start(images::png(64, 64), Duration::ZERO).await;
    let response = app
        .put_url(
            "bob",
            "me",
            "?priority=bulk&wait=0",
            &format!("{source}/flaky"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("json");
    let done = app
        .job_outcome("bob", body["jobId"].as_str().expect("jobId"))
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        source.hits("/flaky"),
        2,
        "the origin was not asked exactly twice"
    );
}

#[tokio::test]
async fn an_interactive_url_job_hears_of_a_busy_origin_at_once() {
    let app = TestApp::spawn().await;
    let source = source_server::start(images::png(64, 64), Duration::ZERO).await;
    assert_rejected(
        app.put_url("bob", "me", "?wait=10", &format!("{source}/flaky"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "image_rejected",
        "HTTP 503",
    )
    .await;
    assert_eq!(source.hits("/flaky"), 1);
}

#[tokio::test]
async fn a_bulk_url_job_fails_when_the_origin_asks_to_wait_past_the_budget_or_answers_404() {
    let app = TestApp::spawn().await;
    let source = source_server::start(images::png(64, 64), Duration::ZERO).await;
    for (path, needle) in [("/busy", "HTTP 503"), ("/missing", "HTTP 404")] {
        let response = app
            .put_url(
                "bob",
                "me",
                "?priority=bulk&wait=0",
                &format!("{source}{path}"),
            )
            .await;
        let body: Value = response.json().await.expect("json");
        let done = app
            .job_outcome("bob", body["jobId"].as_str().expect("jobId"))
            .await;
        assert_eq!(done["status"], "failed", "{path}: {done}");
        assert!(
            done["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle)),
            "{path}: {done}"
        );
    }
    assert_eq!(source.hits("/busy"), 1, "/busy was asked again");
}

/// Four bulk URL jobs of four users to one slow origin, on two conversion
/// slots: the most fetches the origin saw at once.
async fn peak_fetches(per_host: &str) -> usize {
    let app = TestApp::builder()
        .env("AVATARS_FETCH_PER_HOST_CONCURRENCY", per_host)
        .start()
        .await;
    let source = source_server::start(images::png(64, 64), Duration::from_millis(400)).await;
    let mut jobs = Vec::new();
    for n in 0..4 {
        let user = format!("imported-{n}");
        let response = app
            .put_url(
                &user,
                "me",
                "?priority=bulk&wait=0",
                &format!("{source}/slow"),
            )
            .await;
        let body: Value = response.json().await.expect("json");
        jobs.push((user, body["jobId"].as_str().expect("jobId").to_owned()));
    }
    for (user, id) in &jobs {
        let done = app.job_outcome(user, id).await;
        assert_eq!(done["status"], "completed", "{done}");
    }
    source.peak()
}

#[tokio::test]
async fn fetches_to_one_host_stay_within_the_per_host_limit() {
    assert_eq!(peak_fetches("1").await, 1);
    // The same load with room for all reaches the origin four times at
    // once (fetches do not wait for the two conversion slots), so the
    // count above is the limit at work.
    assert_eq!(peak_fetches("8").await, 4);
}
