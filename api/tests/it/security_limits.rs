//! What one user, one client address and one slow or bloated request may
//! ask of the API: rate limits answered 429 with Retry-After, a cap on the
//! request head, and deadlines on sending the head and the body.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::{TestApp, images};

async fn put_as(
    app: &TestApp,
    token: &str,
    user: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .put(app.url(&format!("/api/public/user/{user}/avatarBytes?wait=0")))
        .bearer_auth(token)
        .body(images::jpeg(16, 16));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.expect("request failed")
}

async fn assert_rate_limited(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds");
    assert!((1..=120).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("retry"))
    );
}

#[tokio::test]
async fn a_user_over_the_limit_is_answered_429_and_others_are_not() {
    let app = TestApp::builder()
        .env("AVATARS_USER_RATE_PER_MINUTE", "1")
        .env("AVATARS_USER_RATE_BURST", "2")
        .start()
        .await;
    let alice = app.token("alice");
    // Requests that are refused anyway cost alice nothing: they spend
    // mallory's own quota, until mallory is limited.
    for _ in 0..2 {
        let forbidden = put_as(&app, &app.token("mallory"), "alice", None).await;
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    }
    assert_rate_limited(put_as(&app, &app.token("mallory"), "alice", None).await).await;
    for _ in 0..2 {
        assert_eq!(
            put_as(&app, &alice, "me", None).await.status(),
            StatusCode::ACCEPTED
        );
    }
    assert_rate_limited(put_as(&app, &alice, "me", None).await).await;
    // An admin acting on alice counts against alice, not against others.
    assert_rate_limited(put_as(&app, &app.admin_token("root"), "alice", None).await).await;
    assert_eq!(
        put_as(&app, &app.admin_token("root"), "bob", None)
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        put_as(&app, &app.token("carol"), "me", None).await.status(),
        StatusCode::ACCEPTED
    );
    // Reading is not limited.
    assert_ne!(
        app.get_avatar("alice", "me").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn two_api_processes_together_allow_what_one_does() {
    let mut app = TestApp::builder()
        .env("AVATARS_USER_RATE_PER_MINUTE", "1")
        .env("AVATARS_USER_RATE_BURST", "3")
        .env("AVATARS_CLIENT_RATE_PER_MINUTE", "1")
        .env("AVATARS_CLIENT_RATE_BURST", "5")
        .start()
        .await;
    let apis = [app.address.clone(), app.add_api().await];
    let put = |api: &str, user: &str| {
        app.client
            .put(format!("{api}/api/public/user/me/avatarBytes?wait=0"))
            .bearer_auth(app.token(user))
            .body(images::jpeg(16, 16))
            .send()
    };
    // erin's burst of 3 is spent across both processes, taking turns.
    let mut statuses = Vec::new();
    for api in apis.iter().cycle().take(4) {
        statuses.push(put(api, "erin").await.expect("request failed").status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::ACCEPTED,
            StatusCode::ACCEPTED,
            StatusCode::ACCEPTED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // The address's burst of 5 (4 PUTs so far) holds across both too.
    assert_eq!(
        put(&apis[1], "frank")
            .await
            .expect("request failed")
            .status(),
        StatusCode::ACCEPTED
    );
    assert_rate_limited(put(&apis[0], "grace").await.expect("request failed")).await;
    assert_rate_limited(put(&apis[1], "grace").await.expect("request failed")).await;
}

#[tokio::test]
async fn the_default_user_limit_lets_a_person_through() {
    let app = TestApp::spawn().await;
    let token = app.token("dora");
    for _ in 0..10 {
        assert_eq!(
            put_as(&app, &token, "me", None).await.status(),
            StatusCode::ACCEPTED
        );
    }
}

#[tokio::test]
async fn a_client_address_over_its_limit_is_answered_429_whoever_it_claims_to_be() {
    let app = TestApp::builder()
        .env("AVATARS_CLIENT_RATE_PER_MINUTE", "1")
        .env("AVATARS_CLIENT_RATE_BURST", "2")
        .start()
        .await;
    assert_eq!(
        put_as(&app, &app.token("u1"), "me", Some("1.1.1.1"))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        put_as(&app, &app.token("u2"), "me", Some("2.2.2.2"))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    // X-Forwarded-For from an untrusted peer changes nothing.
    assert_rate_limited(put_as(&app, &app.token("u3"), "me", Some("3.3.3.3")).await).await;
    // Nor does a missing or bad token.
    let anonymous = app
        .client
        .put(app.url("/api/public/user/me/avatarBytes"))
        .send()
        .await
        .expect("request failed");
    assert_eq!(anonymous.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let app = TestApp::builder()
        .env("AVATARS_CLIENT_RATE_PER_MINUTE", "1")
        .env("AVATARS_CLIENT_RATE_BURST", "2")
        .env("AVATARS_TRUSTED_PROXIES", "127.0.0.0/8,::1")
        .start()
        .await;
    for client in ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"] {
        let response = put_as(&app, &app.token("v1"), "me", Some(client)).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{client}");
    }
    // A client cannot escape by prepending addresses of its own choosing.
    for spoof in ["9.9.9.1, 5.5.5.5", "9.9.9.2, 5.5.5.5"] {
        let response = put_as(&app, &app.token("v2"), "me", Some(spoof)).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{spoof}");
    }
    assert_rate_limited(put_as(&app, &app.token("v3"), "me", Some("9.9.9.3, 5.5.5.5")).await).await;
}

#[tokio::test]
async fn request_heads_over_the_limit_are_refused_with_431() {
    let app = TestApp::builder()
        .env("AVATARS_MAX_HEADER_BYTES", "8192")
        .start()
        .await;
    let padded = |bytes: usize| {
        app.client
            .get(app.url("/healthz"))
            .header("x-padding", "p".repeat(bytes))
            .send()
    };
    assert_eq!(
        padded(1000).await.expect("request").status(),
        StatusCode::OK
    );
    let response = padded(10_000).await.expect("request");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "headers_too_large", "{body}");
    // Past the server's buffer, the connection is refused before routing.
    if let Ok(response) = padded(100_000).await {
        assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }
}

/// Reads from `stream` until the server closes it or `within` passes;
/// returns what was read, or `None` if it was still open.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut read = Vec::new();
    let outcome = tokio::time::timeout(within, stream.read_to_end(&mut read)).await;
    outcome
        .ok()
        .map(|_| String::from_utf8_lossy(&read).into_owned())
}

#[tokio::test]
async fn a_client_that_does_not_finish_its_headers_is_cut_off() {
    let app = TestApp::builder()
        .env("AVATARS_HEADER_TIMEOUT_SECS", "1")
        .start()
        .await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let closed = read_until_closed(&mut stream, Duration::from_secs(6)).await;
    assert!(closed.is_some(), "the connection was still open after 6 s");
    // A prompt client is served as usual.
    let mut prompt = TcpStream::connect(address).await.expect("connect");
    prompt
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut prompt, Duration::from_secs(5))
        .await
        .expect("closed after the answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_client_that_does_not_finish_its_body_is_answered_408() {
    let app = TestApp::builder()
        .env("AVATARS_BODY_TIMEOUT_SECS", "1")
        .start()
        .await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let head = format!(
        "PUT /api/public/user/me/avatarBytes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100000\r\n\r\n",
        app.token("fred")
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
        .write_all(&images::jpeg(16, 16)[..100])
        .await
        .expect("write");
    let answer = read_until_closed(&mut stream, Duration::from_secs(8))
        .await
        .expect("the server should answer and close");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
}
