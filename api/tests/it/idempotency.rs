//! A retried PUT with the same `Idempotency-Key` returns the first job.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, images};

async fn put_with_key(app: &TestApp, sub: &str, key: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .put(app.url("/api/public/user/me/avatarBytes"))
        .bearer_auth(app.token(sub))
        .header("idempotency-key", key)
        .body(body)
        .send()
        .await
        .expect("request failed")
}

#[tokio::test]
async fn a_retried_put_with_the_same_idempotency_key_returns_the_same_job() {
    let app = TestApp::spawn().await;
    let first = put_with_key(&app, "alice", "upload-7f3a", images::jpeg(200, 200)).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.expect("json");
    let again = put_with_key(&app, "alice", "upload-7f3a", images::png(300, 300)).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["jobId"], first["jobId"]);
    assert_eq!(again["avatarUrl"], first["avatarUrl"]);
    let keys = crate::support::s3::keys(app.bucket.as_deref().expect("bucket")).await;
    assert_eq!(keys.len(), 1, "the repeat made another object: {keys:?}");

    // The same key from another user, or another key, is a new job.
    let other_user = put_with_key(&app, "bob", "upload-7f3a", images::jpeg(64, 64)).await;
    let other_user: Value = other_user.json().await.expect("json");
    assert_ne!(other_user["jobId"], first["jobId"]);
    let other_key = put_with_key(&app, "alice", "upload-7f3b", images::jpeg(64, 64)).await;
    let other_key: Value = other_key.json().await.expect("json");
    assert_ne!(other_key["jobId"], first["jobId"]);
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_refused_with_400() {
    let app = TestApp::spawn().await;
    let response = put_with_key(&app, "alice", "has spaces", images::jpeg(64, 64)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_request");
}
