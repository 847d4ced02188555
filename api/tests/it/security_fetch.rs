//! URL imports that cannot reach inside or hold a worker: more spellings of
//! internal addresses, redirects re-checked, an endless body and a source
//! that trickles, all through the running service.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode as Status, header};
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, images};

/// Serves `/image` (a small PNG), `/redirect?to=URL`, `/endless` (zeros
/// without end, no length) and `/trickle` (one byte a second) on
/// 127.0.0.1; returns its port.
async fn hostile_source() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let png = images::png(64, 64);
    let app = Router::new()
        .route(
            "/image",
            get(move || async move { ([(header::CONTENT_TYPE, "image/png")], png) }),
        )
        .route(
            "/redirect",
            get(
                |axum::extract::RawQuery(query): axum::extract::RawQuery| async move {
                    let target = query.unwrap_or_default().replacen("to=", "", 1);
                    (Status::FOUND, [(header::LOCATION, target)]).into_response()
                },
            ),
        )
        .route(
            "/endless",
            get(|| async {
                let chunk = Bytes::from(vec![0u8; 256 * 1024]);
                let stream =
                    futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
                Body::from_stream(stream)
            }),
        )
        .route(
            "/trickle",
            get(|| async {
                let ticks = one_byte_every(Duration::from_secs(1));
                (
                    [(header::CONTENT_LENGTH, "100000")],
                    Body::from_stream(ticks),
                )
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

/// One PNG signature byte at a time, one every `every`, without end.
fn one_byte_every(every: Duration) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::unfold(0usize, move |i| async move {
        tokio::time::sleep(every).await;
        let signature = b"\x89PNG\r\n\x1a\n";
        let byte = signature.get(i).copied().unwrap_or(0);
        Some((Ok(Bytes::copy_from_slice(&[byte])), i + 1))
    })
}

async fn assert_refused(response: reqwest::Response, status: StatusCode, needle: &str) {
    assert_eq!(response.status(), status, "{needle}");
    let body: Value = response.json().await.expect("json");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    assert!(
        !message.contains("127.0.0.1") && !message.contains("reqwest"),
        "{message:?} shows internal details"
    );
}

#[tokio::test]
async fn every_spelling_of_an_internal_address_is_refused() {
    let app = TestApp::builder()
        .env("AVATARS_ALLOW_PRIVATE_SOURCES", "false")
        .start()
        .await;
    let port = hostile_source().await;
    for url in [
        format!("http://127.1:{port}/image"),
        format!("http://0177.0.0.1:{port}/image"),
        format!("http://127.0.0.1.:{port}/image"),
        format!("http://[::1]:{port}/image"),
        format!("http://[::127.0.0.1]:{port}/image"),
        format!("http://[0:0:0:0:0:ffff:7f00:1]:{port}/image"),
        format!("http://[::ffff:0:7f00:1]:{port}/image"),
        format!("http://0.0.0.0:{port}/image"),
        "http://10.0.0.1/a.png".to_owned(),
        "http://100.64.0.1/a.png".to_owned(),
        "http://[fd00::1]/a.png".to_owned(),
        "http://[fe80::1]/a.png".to_owned(),
        "http://[64:ff9b::a9fe:a9fe]/a.png".to_owned(),
    ] {
        let response = app.put_url("erin", "me", "", &url).await;
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "image_rejected", "{url}: {body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains("not allowed"), "{url}: {message}");
    }
}

#[tokio::test]
async fn a_url_on_a_port_outside_the_allowed_ones_is_refused_without_connecting() {
    let app = TestApp::builder()
        .env("AVATARS_FETCH_ALLOWED_PORTS", "80,443")
        .start()
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let response = app
        .put_url("erin", "me", "", &format!("http://127.0.0.1:{port}/a.png"))
        .await;
    assert_refused(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("port {port}"),
    )
    .await;
    let knocked = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(knocked.is_err(), "the worker connected to the refused port");
}

#[tokio::test]
async fn a_redirect_to_a_host_outside_the_allow_list_is_refused() {
    let app = TestApp::builder()
        .env("AVATARS_FETCH_ALLOWED_HOSTS", "localhost")
        .start()
        .await;
    let port = hostile_source().await;
    let allowed = format!("http://localhost:{port}/image");
    assert_eq!(
        app.put_url("fay", "me", "", &allowed).await.status(),
        StatusCode::OK
    );
    for target in [
        format!("http://127.0.0.1:{port}/image"),
        format!("http://127.0.0.2:{port}/image"),
    ] {
        let url = format!("http://localhost:{port}/redirect?to={target}");
        let response = app.put_url("fay", "me", "", &url).await;
        assert_refused(response, StatusCode::UNPROCESSABLE_ENTITY, "not allowed").await;
        let direct = app.put_url("fay", "me", "", &target).await;
        assert_refused(direct, StatusCode::UNPROCESSABLE_ENTITY, "not allowed").await;
    }
}

#[tokio::test]
async fn an_endless_source_is_cut_off_at_the_byte_limit_quickly() {
    let app = TestApp::spawn().await;
    let port = hostile_source().await;
    let started = Instant::now();
    let response = app
        .put_url("gus", "me", "", &format!("http://127.0.0.1:{port}/endless"))
        .await;
    assert_refused(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than the limit",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_source_that_sends_a_byte_a_second_is_given_up_at_the_minimum_rate() {
    let app = TestApp::builder()
        .env("AVATARS_FETCH_RATE_WINDOW_SECS", "2")
        .start()
        .await;
    let port = hostile_source().await;
    let started = Instant::now();
    let response = app
        .put_url(
            "hal",
            "me",
            "?wait=30",
            &format!("http://127.0.0.1:{port}/trickle"),
        )
        .await;
    assert_refused(response, StatusCode::UNPROCESSABLE_ENTITY, "too slowly").await;
    // Far sooner than the 30 s total timeout.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}
