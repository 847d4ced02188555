//! A local HTTP server that URL-import tests point the workers at.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// Serves `image` at `/image`, the same after a delay at `/slow`, a 404 at
/// `/missing`, text at `/text`, `/flaky`: 503 with `Retry-After: 1` on the
/// first request and the image after, `/busy`: always 503 with
/// `Retry-After: 3600`, and at `/hits` how many requests `/flaky` and
/// `/busy` got. Returns the base URL.
pub async fn start(image: Vec<u8>, slow: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("cannot bind the source server");
    let address = listener.local_addr().expect("address");
    let (fast, delayed, flaky) = (image.clone(), image.clone(), image);
    let hits = Arc::new(AtomicUsize::new(0));
    let slow_now = Arc::new(AtomicUsize::new(0));
    let slow_peak = Arc::new(AtomicUsize::new(0));
    let peak_seen = slow_peak.clone();
    let (flaky_hits, busy_hits, seen) = (hits.clone(), hits.clone(), hits);
    let app = Router::new()
        .route(
            "/image",
            get(move || async move { ([(header::CONTENT_TYPE, "image/png")], fast) }),
        )
        .route(
            "/slow",
            get(move || async move {
                let now = slow_now.fetch_add(1, Ordering::SeqCst) + 1;
                slow_peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(slow).await;
                slow_now.fetch_sub(1, Ordering::SeqCst);
                delayed.into_response()
            }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/text", get(|| async { "just some text, not a picture" }))
        .route(
            "/flaky",
            get(move || async move {
                match flaky_hits.fetch_add(1, Ordering::SeqCst) {
                    0 => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::RETRY_AFTER, "1")],
                    )
                        .into_response(),
                    _ => ([(header::CONTENT_TYPE, "image/png")], flaky).into_response(),
                }
            }),
        )
        .route(
            "/busy",
            get(move || async move {
                busy_hits.fetch_add(1, Ordering::SeqCst);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "3600")],
                )
            }),
        )
        .route(
            "/peak",
            get(move || async move { peak_seen.load(Ordering::SeqCst).to_string() }),
        )
        .route(
            "/hits",
            get(move || async move { seen.load(Ordering::SeqCst).to_string() }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}
