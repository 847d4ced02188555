//! Requests shaped to bloat, blind or trick the API: made-up methods, a
//! scope smuggled with a tab, repeated parameters, and probes for avatars
//! that do not exist yet. Each gets a bounded, JSON, uncached answer.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::{now, token_with};
use crate::support::{Storage, TestApp, assert_error, images};

#[tokio::test]
async fn made_up_methods_cannot_become_metrics_labels() {
    let app = TestApp::spawn().await;
    let invented = "X".repeat(2000);
    for n in 0..20 {
        let method = Method::from_bytes(format!("{invented}{n}").as_bytes()).expect("a token");
        let _ = app.client.request(method, app.url("/healthz")).send().await;
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(!metrics.contains(&invented), "a made-up method is a label");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    assert!(
        metrics.len() < 200_000,
        "metrics grew to {} bytes",
        metrics.len()
    );
}

#[tokio::test]
async fn a_wrong_method_on_a_route_is_answered_405_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .delete(app.url("/api/public/jobs/01J9Z3G6TQ5V8X2M4N7P0R1S2T"))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .expect("request");
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let response = app
        .client
        .post(app.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn a_repeated_wait_is_refused_with_400_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let response = app
        .put_bytes("alice", "me", "?wait=1&wait=2", images::jpeg(16, 16))
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(message.contains("once"), "{message}");
}

#[tokio::test]
async fn scopes_are_split_on_spaces_only() {
    let app = TestApp::spawn().await;
    // PUT bob's avatar as `sub` with the scope claim `scope`.
    let put_with_scope = |sub: &str, scope: &str| {
        let token = token_with(json!({"sub": sub, "exp": now() + 3600, "scope": scope}));
        app.client
            .put(app.url("/api/public/user/bob/avatarBytes?wait=0"))
            .bearer_auth(token)
            .body(images::jpeg(16, 16))
            .send()
    };
    let smuggled = put_with_scope("mallory", "read\tavatars:admin")
        .await
        .expect("request");
    assert_eq!(smuggled.status(), StatusCode::FORBIDDEN);
    let admin = put_with_scope("root", "read avatars:admin")
        .await
        .expect("request");
    assert_eq!(admin.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_missing_avatar_under_media_is_a_json_404_that_no_cache_keeps() {
    let app = TestApp::builder().storage(Storage::Local).start().await;
    let response = app
        .client
        .get(app.url("/media/1999999999999/userAvatars/bob/avatar.jpg"))
        .send()
        .await
        .expect("request");
    let cache = response.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(cache, "no-store");
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    // A stored avatar keeps its long lifetime.
    let done: Value = app
        .put_bytes("bob", "me", "?wait=10", images::jpeg(64, 64))
        .await
        .json()
        .await
        .expect("json");
    let url = done["avatarUrl"].as_str().expect("avatarUrl");
    let stored = app.client.get(url).send().await.expect("avatar");
    assert_eq!(stored.status(), StatusCode::OK);
    assert!(
        stored.headers()["cache-control"]
            .to_str()
            .expect("ascii")
            .contains("immutable")
    );
}
