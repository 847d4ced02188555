//! Webhooks through the running service, to receivers the tests run:
//! signed deliveries, retries with one `webhook-id`, a receiver that
//! hangs, `callbackUrl` on a PUT and on an import.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::TestAppBuilder;
use crate::support::receiver::{Behaviour, Received, Receiver};
use crate::support::{TestApp, assert_error, images, source_server};

/// The signing secret of these tests: `whsec_` and base64.
pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Long enough for a delivery with retries on this machine.
const WITHIN: Duration = Duration::from_secs(30);

/// An app whose every event goes to `receiver`, retried after 100 ms.
pub(crate) fn with_webhooks(receiver: &Receiver) -> TestAppBuilder {
    TestApp::builder()
        .env("AVATARS_WEBHOOK_URL", &receiver.to_string())
        .env("AVATARS_WEBHOOK_SECRET", SECRET)
        .env("AVATARS_WEBHOOK_RETRY_BASE_MS", "100")
}

/// Checks the delivery's signature as a receiver would, with the
/// Standard Webhooks library, and returns its body.
fn verified(received: &Received) -> Value {
    let verifier = standardwebhooks::Webhook::new(SECRET).expect("secret");
    verifier
        .verify(&received.body, &received.headers)
        .expect("the signature verifies");
    received.json()
}

#[tokio::test]
async fn an_update_and_a_failure_reach_the_operator_signed() {
    let receiver = Receiver::start(Behaviour::Accept).await;
    let app = with_webhooks(&receiver).start().await;
    let response = app
        .put_bytes("hook-user", "me", "?wait=10", images::png(200, 200))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let put: Value = response.json().await.expect("json");
    let delivered = receiver.wait_accepted(1, WITHIN).await;
    let event = verified(&delivered[0]);
    assert_eq!(event["type"], "avatar.updated", "{event}");
    assert_eq!(event["data"]["userId"], "hook-user");
    assert_eq!(event["data"]["jobId"], put["jobId"]);
    assert_eq!(event["data"]["avatarUrl"], put["avatarUrl"]);
    assert!(event["timestamp"].is_string());
    assert!(delivered[0].header("webhook-id").starts_with("msg_"));

    let mut truncated = images::png(200, 200);
    truncated.truncate(300);
    let response = app
        .put_bytes("hook-user", "me", "?wait=10", truncated)
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let delivered = receiver.wait_accepted(2, WITHIN).await;
    let event = verified(&delivered[1]);
    assert_eq!(event["type"], "avatar.failed", "{event}");
    assert_eq!(event["data"]["error"]["code"], "image_rejected");
    assert_ne!(
        delivered[0].header("webhook-id"),
        delivered[1].header("webhook-id")
    );
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_gets_the_event_again_with_the_same_id() {
    let receiver = Receiver::start(Behaviour::FailFirst(3)).await;
    let app = with_webhooks(&receiver).start().await;
    let response = app
        .put_bytes("retried", "me", "?wait=10", images::png(64, 64))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    receiver.wait_accepted(1, WITHIN).await;
    let attempts = receiver.received();
    assert_eq!(attempts.len(), 4, "three refusals and one success");
    let id = attempts[0].header("webhook-id");
    for attempt in &attempts {
        assert_eq!(attempt.header("webhook-id"), id);
        assert_eq!(
            attempt.body, attempts[0].body,
            "the body changed between attempts"
        );
        verified(attempt);
    }
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(500), Some(204)]);
    // The pauses grow: the third is longer than the first.
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps[2] > gaps[0], "{gaps:?}");
}

#[tokio::test]
async fn a_receiver_that_hangs_does_not_hold_up_conversions() {
    let receiver = Receiver::start(Behaviour::Hang).await;
    let app = with_webhooks(&receiver)
        .in_process_workers(1)
        .env("AVATARS_WEBHOOK_CONCURRENCY", "1")
        .start()
        .await;
    for n in 0..4 {
        let response = app
            .put_bytes("hung", "me", "?wait=10", images::png(64 + n, 64))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "upload {n}");
    }
    assert!(
        !receiver.received().is_empty(),
        "the hanging receiver was never called"
    );
    assert!(receiver.accepted().is_empty());
}

#[tokio::test]
async fn a_callback_url_hears_of_its_job_and_an_import_of_its_end() {
    let operator = Receiver::start(Behaviour::Accept).await;
    let client = Receiver::start(Behaviour::Accept).await;
    let app = with_webhooks(&operator).start().await;
    let origin = source_server::start(images::png(64, 64), Duration::ZERO).await;

    let response = app
        .client
        .put(app.url("/api/public/user/me/avatar?wait=10"))
        .bearer_auth(app.token("called-back"))
        .json(&json!({"avatarUrl": format!("{origin}/image"), "callbackUrl": client.to_string()}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let event = verified(&client.wait_accepted(1, WITHIN).await[0]);
    assert_eq!(event["type"], "avatar.updated");
    assert_eq!(event["data"]["userId"], "called-back");

    let items = json!([
        {"userId": "cb-1", "avatarUrl": format!("{origin}/image/1")},
        {"userId": "cb-2", "avatarUrl": format!("{origin}/missing")},
    ]);
    let response = app
        .post_import(&json!({"items": items, "callbackUrl": client.to_string()}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let import: Value = response.json().await.expect("json");
    let delivered = client.wait_accepted(2, WITHIN).await;
    let event = verified(&delivered[1]);
    assert_eq!(event["type"], "import.completed", "{event}");
    assert_eq!(event["data"]["importId"], import["importId"]);
    assert_eq!(event["data"]["status"], "completed");
    assert_eq!(
        (
            event["data"]["completed"].clone(),
            event["data"]["failed"].clone()
        ),
        (json!(1), json!(1))
    );
    // The operator heard everything: the PUT, both items and the import.
    let types: Vec<String> = operator
        .wait_accepted(4, WITHIN)
        .await
        .iter()
        .map(|r| verified(r)["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    for kind in ["avatar.updated", "avatar.failed", "import.completed"] {
        assert!(
            types.iter().any(|t| t == kind),
            "{kind} missing from {types:?}"
        );
    }
}

#[tokio::test]
async fn callback_urls_are_refused_when_they_cannot_be_called() {
    // Without a secret there are no webhooks to ask for.
    let app = TestApp::spawn().await;
    let message = assert_error(
        app.put_bytes(
            "u",
            "me",
            "?callbackUrl=https://hooks.example.com/",
            images::png(64, 64),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(message.contains("AVATARS_WEBHOOK_SECRET"), "{message}");
    drop(app);

    // With them, a private address is refused before any connection.
    let receiver = Receiver::start(Behaviour::Accept).await;
    let app = with_webhooks(&receiver)
        .env("AVATARS_ALLOW_PRIVATE_SOURCES", "false")
        .start()
        .await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "ftp://hooks.example.com/",
    ] {
        refused_callback(&app, url).await;
    }
}

/// Asserts that a PUT with `callbackUrl` `url` is refused as a bad
/// request; returns the message.
async fn refused_callback(app: &TestApp, url: &str) -> String {
    assert_error(
        app.put_bytes(
            "u",
            "me",
            &format!("?callbackUrl={url}"),
            images::png(64, 64),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await
}

#[tokio::test]
async fn a_callback_url_meets_the_port_host_and_address_rules_when_it_arrives() {
    let receiver = Receiver::start(Behaviour::Accept).await;
    let app = with_webhooks(&receiver)
        .env("AVATARS_ALLOW_PRIVATE_SOURCES", "false")
        .env("AVATARS_FETCH_ALLOWED_PORTS", "80,443")
        .env(
            "AVATARS_FETCH_ALLOWED_HOSTS",
            "*.example.com,[2001:0:4136:e378:8000:63bf:3fff:fdd2]",
        )
        .start()
        .await;
    for (url, says) in [
        ("http://hooks.example.com:6379/", "port 6379"),
        ("https://hooks.example.net/", "hooks.example.net"),
        // Teredo, 2001::/32: allowed by name, refused as not public.
        (
            "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "private or reserved",
        ),
    ] {
        let message = refused_callback(&app, url).await;
        assert!(message.contains(says), "{url}: {message}");
    }
}

#[tokio::test]
async fn a_callback_refused_by_an_address_rule_when_it_connects_is_given_up_at_once() {
    let receiver = Receiver::start(Behaviour::Accept).await;
    let app = with_webhooks(&receiver)
        .env("AVATARS_ALLOW_PRIVATE_SOURCES", "false")
        .env("AVATARS_FETCH_ALLOWED_PORTS", "80,443")
        .start()
        .await;
    // A host name is accepted; it resolves to loopback only, which the
    // delivery refuses before connecting.
    assert_eq!(
        app.put_bytes(
            "u",
            "me",
            "?wait=30&callbackUrl=http://localhost/hook",
            images::png(64, 64),
        )
        .await
        .status(),
        StatusCode::OK
    );
    let pending = app.key("hook:pending");
    let redis = redis::Client::open(app.redis_url.as_str()).expect("redis url");
    crate::support::eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        "the callback's delivery was kept for a retry",
        || {
            let count: Result<u64, _> = redis
                .get_connection()
                .and_then(|mut conn| redis::cmd("ZCARD").arg(&pending).query(&mut conn));
            async move {
                match count {
                    Ok(0) => Ok(()),
                    other => Err(format!("{other:?} pending")),
                }
            }
        },
    )
    .await;
    // The operator's own event was delivered all the same.
    assert!(!receiver.wait_accepted(1, WITHIN).await.is_empty());
}
