//! The asynchronous paths: 202 with a job to poll, and `GET /jobs/{id}`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, images, source_server};

#[tokio::test]
async fn respond_async_answers_202_with_a_job_that_can_be_polled_to_completion() {
    let app = TestApp::spawn().await;
    // `Prefer: respond-async` asks not to wait, and wins over `?wait`.
    let response = app
        .client
        .put(app.url("/api/public/user/me/avatarBytes?wait=30"))
        .bearer_auth(app.token("alice"))
        .header("prefer", "respond-async")
        .body(images::jpeg(700, 500))
        .send()
        .await
        .expect("request failed");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = response.json().await.expect("json");
    let id = body["jobId"].as_str().expect("jobId");
    assert_eq!(body["statusUrl"], location);
    assert_eq!(location, format!("/api/public/jobs/{id}"));
    assert!(matches!(
        body["status"].as_str(),
        Some("queued" | "processing" | "completed")
    ));

    let job = app.job_outcome("alice", id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["userId"], "alice");
    assert_eq!(job["jobId"], id);
    for field in ["createdAt", "updatedAt"] {
        let stamp = job[field].as_str().expect(field);
        assert!(
            stamp.ends_with('Z') && stamp.contains('T'),
            "{field}: {stamp}"
        );
    }
    let current: Value = app.current_avatar("alice", "me").await;
    assert_eq!(job["avatarUrl"], current["avatarUrl"]);

    let polled = app
        .client
        .get(app.url(&location))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .expect("poll");
    assert_eq!(polled.status(), StatusCode::OK);
}

#[tokio::test]
async fn wait_zero_answers_202_at_once() {
    let app = TestApp::spawn().await;
    let response = app
        .put_bytes("bob", "me", "?wait=0", images::png(64, 64))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("json");
    let job = app
        .job_outcome("bob", body["jobId"].as_str().expect("jobId"))
        .await;
    assert_eq!(job["status"], "completed");
}

#[tokio::test]
async fn a_job_still_running_when_the_window_closes_answers_202() {
    let app = TestApp::spawn().await;
    let source = source_server::start(images::png(300, 300), Duration::from_secs(3)).await;
    let response = app
        .put_url("carol", "me", "?wait=1", &format!("{source}/slow"))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("json");
    let id = body["jobId"].as_str().expect("jobId");
    let running: Value = app.get_job("carol", id).await.json().await.expect("json");
    assert!(
        matches!(running["status"].as_str(), Some("queued" | "processing")),
        "{running}"
    );
    let job = app.job_outcome("carol", id).await;
    assert_eq!(job["status"], "completed", "{job}");
}

#[tokio::test]
async fn a_failed_job_reports_its_error_when_polled() {
    let app = TestApp::spawn().await;
    let response = app
        .put_bytes("dave", "me", "?wait=0", images::truncated_jpeg())
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("json");
    let job = app
        .job_outcome("dave", body["jobId"].as_str().expect("jobId"))
        .await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["code"], "image_rejected");
    assert!(job.get("avatarUrl").is_none());
}

#[tokio::test]
async fn a_job_is_visible_only_to_its_user_and_admins() {
    let app = TestApp::spawn().await;
    let body: Value = app
        .put_bytes("erin", "me", "?wait=0", images::jpeg(64, 64))
        .await
        .json()
        .await
        .expect("json");
    let id = body["jobId"].as_str().expect("jobId");
    assert_eq!(app.get_job("erin", id).await.status(), StatusCode::OK);
    assert_eq!(
        app.get_job("mallory", id).await.status(),
        StatusCode::NOT_FOUND
    );
    let admin = app
        .client
        .get(app.url(&format!("/api/public/jobs/{id}")))
        .bearer_auth(app.admin_token("root"))
        .send()
        .await
        .expect("request failed");
    assert_eq!(admin.status(), StatusCode::OK);
    let unknown = app.get_job("erin", "01J9Z3G6TQ5V8X2M4N7P0R1S2T").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let malformed = app.get_job("erin", "..%2f..%2fetc").await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}
