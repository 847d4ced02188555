//! `GET /metrics` serves the Prometheus text format.

use reqwest::StatusCode;

use crate::support::{TestApp, images};

#[tokio::test]
async fn metrics_show_jobs_queue_depth_and_requests_by_route() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.put_bytes("alice", "me", "", images::png(64, 64))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.put_bytes("alice", "me", "", images::truncated_jpeg())
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request failed");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("body");
    for needle in [
        "avatar_jobs_total{outcome=\"completed\"",
        "avatar_jobs_total{outcome=\"failed\",code=\"image_rejected\"}",
        "avatar_queue_depth{lane=\"interactive\"} 0",
        "avatar_queue_depth{lane=\"bulk\"} 0",
        "avatar_queue_oldest_seconds{lane=\"bulk\"} 0",
        "avatar_job_wait_seconds_bucket{lane=\"interactive\"",
        "avatar_job_wait_seconds_bucket",
        "avatar_http_requests_total{route=\"/api/public/user/{user_id}/avatarBytes\",method=\"PUT\",status=\"200\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(!text.contains("user/alice"), "a user id became a label");
}
