//! One caller's callbacks cannot hold back anyone else's webhooks: the
//! operator's endpoint has a lane of its own, deliveries to one host are
//! bounded, a host that keeps failing is backed off as a whole, and one
//! user's pending callbacks are capped.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::receiver::{Behaviour, Received, Receiver};
use crate::support::{TestApp, images};
use crate::webhooks::with_webhooks;

/// A PUT of a small PNG for `user` whose events also go to `callback`.
async fn put_with_callback(app: &TestApp, user: &str, n: u32, callback: &Receiver) -> StatusCode {
    app.client
        .put(with_query(
            &app.url(&format!("/api/public/user/{user}/avatarBytes")),
            &[("wait", "10"), ("callbackUrl", &callback.to_string())],
        ))
        .bearer_auth(app.token(user))
        .body(images::png(40 + n, 40))
        .send()
        .await
        .expect("sent")
        .status()
}

/// `url` with `query`, each pair percent-encoded.
fn with_query(url: &str, query: &[(&str, &str)]) -> url::Url {
    url::Url::parse_with_params(url, query).expect("a URL")
}

/// When the event of a delivery happened (unix ms), from its `webhook-id`.
fn event_ms(received: &Received) -> u64 {
    received
        .header("webhook-id")
        .split('_')
        .nth(1)
        .and_then(|ms| ms.parse().ok())
        .expect("webhook-id is msg_<ms>_<n>")
}

#[tokio::test]
async fn the_operators_events_never_wait_behind_callbacks_that_hang() {
    let operator = Receiver::start(Behaviour::Accept).await;
    let hung = Receiver::start(Behaviour::Hang).await;
    // The attack of the issue: four accounts, twenty PUTs each, every
    // event also to a receiver that never answers; with one lane, those
    // held the pool's 16 connections for 10 s at a time.
    let app = with_webhooks(&operator)
        .env("AVATARS_USER_RATE_BURST", "30")
        .start()
        .await;
    for user in ["attacker-1", "attacker-2", "attacker-3", "attacker-4"] {
        for n in 0..20 {
            assert_eq!(
                put_with_callback(&app, user, n, &hung).await,
                StatusCode::OK
            );
        }
    }
    // An unrelated user's updates, while the callbacks hang.
    for n in 0..25 {
        let response = app
            .put_bytes("bystander", "me", "?wait=10", images::png(50 + n, 50))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let delivered = operator.wait_accepted(105, Duration::from_secs(60)).await;
    let mut delays: Vec<u64> = delivered
        .iter()
        .filter(|r| r.json()["data"]["userId"] == "bystander")
        .map(|r| r.at_unix_ms.saturating_sub(event_ms(r)))
        .collect();
    delays.sort_unstable();
    assert_eq!(delays.len(), 25, "{delays:?}");
    let longest = delays[delays.len() - 1];
    println!(
        "the bystander's 25 events reached the operator after p50 {} ms, max {longest} ms",
        delays[12]
    );
    // Behind a hung callback, they would have waited its 10 s answer time.
    assert!(
        longest < 5_000,
        "the operator's events waited behind the hung callbacks: {delays:?} ms"
    );
    // At most two callbacks at once to the hung host from the one pool: an
    // attempt holds its connection for the 10 s answer time, so no more
    // than two arrive within 9 s of each other (on a slow run, those two
    // give up and the next two follow).
    let arrivals: Vec<u64> = hung.received().iter().map(|r| r.at_unix_ms).collect();
    for at in &arrivals {
        let together = arrivals
            .iter()
            .filter(|other| *other <= at && at - *other < 9_000)
            .count();
        assert!(
            together <= 2,
            "the hung host got {together} callbacks at once: {arrivals:?}"
        );
    }
}

#[tokio::test]
async fn a_callback_host_that_keeps_failing_is_backed_off_as_a_whole() {
    let operator = Receiver::start(Behaviour::Accept).await;
    let failing = Receiver::start(Behaviour::FailFirst(usize::MAX)).await;
    let app = with_webhooks(&operator).start().await;
    for n in 0..8 {
        assert_eq!(
            put_with_callback(&app, "breaker", n, &failing).await,
            StatusCode::OK
        );
    }
    // Five failures in a row trip the breaker; the attempts in flight
    // then (two at most) end too, and nothing more is sent for 30 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while failing.received().len() < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "the host was not tried 5 times"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tried = failing.received().len();
    assert!(
        tried <= 7,
        "a host that kept failing was tried {tried} times in 3 s after it failed 5 times"
    );
    let mut redis = app.redis().await;
    let host = failing.to_string();
    let authority = host
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("authority")
        .to_owned();
    let state: Option<String> = redis::cmd("HGET")
        .arg(app.key("hook:hosts"))
        .arg(&authority)
        .query_async(&mut redis)
        .await
        .expect("HGET");
    let state = state.expect("the failing host has a back-off");
    let (failures, until) = state.split_once('|').expect("failures|until");
    assert!(failures.parse::<u32>().expect("failures") >= 5, "{state}");
    assert!(
        until.parse::<u64>().expect("until") > crate::support::app::now() * 1000,
        "{state}"
    );
    // The operator's events are not held back by it.
    operator.wait_accepted(8, Duration::from_secs(30)).await;
}

#[tokio::test]
async fn one_user_has_at_most_so_many_callbacks_pending() {
    let operator = Receiver::start(Behaviour::Accept).await;
    let hung = Receiver::start(Behaviour::Hang).await;
    let app = with_webhooks(&operator)
        .env("AVATARS_WEBHOOK_MAX_PENDING_CALLBACKS", "3")
        .start()
        .await;
    for n in 0..3 {
        assert_eq!(
            put_with_callback(&app, "piler", n, &hung).await,
            StatusCode::OK
        );
    }
    let response = app
        .client
        .put(with_query(
            &app.url("/api/public/user/piler/avatarBytes"),
            &[("callbackUrl", &hung.to_string())],
        ))
        .bearer_auth(app.token("piler"))
        .body(images::png(60, 60))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("callbackUrl"), "{message}");
    // Without a callback, and for another user, updates go on.
    let plain = app
        .put_bytes("piler", "me", "?wait=10", images::png(61, 61))
        .await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(
        put_with_callback(&app, "other", 0, &hung).await,
        StatusCode::OK
    );
}
