//! A local HTTP server that URL-import tests point the workers at.

use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// Serves `image` at `/image`, the same after a delay at `/slow`, a 404 at
/// `/missing`, and text at `/text`. Returns the base URL.
pub async fn start(image: Vec<u8>, slow: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("cannot bind the source server");
    let address = listener.local_addr().expect("address");
    let (fast, delayed) = (image.clone(), image);
    let app = Router::new()
        .route(
            "/image",
            get(move || async move { ([(header::CONTENT_TYPE, "image/png")], fast) }),
        )
        .route(
            "/slow",
            get(move || async move {
                tokio::time::sleep(slow).await;
                delayed.into_response()
            }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/text", get(|| async { "just some text, not a picture" }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}
