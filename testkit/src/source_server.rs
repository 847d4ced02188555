//! A local HTTP origin that URL-import tests point the workers at.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// A running origin. Its paths, each also under `/{path}/{any name}` so
/// that tests can make many distinct URLs of one kind:
///
/// - `/image`: the image;
/// - `/slow`: the image after the delay given to [`start`];
/// - `/missing`: 404; `/text`: a text that is no picture;
/// - `/flaky`: 503 with `Retry-After: 1` on a path's first request, then
///   the image;
/// - `/busy`: always 503 with `Retry-After: 3600`;
/// - `/photo/{n}`: image `n` (modulo their number) of those given to
///   [`start_many`], after the delay; the first at any other name.
///
/// Formats as its base URL.
#[derive(Clone)]
pub struct Origin {
    base: String,
    seen: Arc<Seen>,
}

#[derive(Default)]
struct Seen {
    hits: Mutex<HashMap<String, usize>>,
    slow_now: AtomicUsize,
    slow_peak: AtomicUsize,
}

impl Seen {
    fn hits(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.hits.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Origin {
    /// How many requests `path` got.
    pub fn hits(&self, path: &str) -> usize {
        self.seen.hits().get(path).copied().unwrap_or(0)
    }

    /// How many requests paths starting with `prefix` got in all.
    pub fn hits_under(&self, prefix: &str) -> usize {
        self.seen
            .hits()
            .iter()
            .filter(|(path, _)| path.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// The most requests to slow paths that were answered at once.
    pub fn peak(&self) -> usize {
        self.seen.slow_peak.load(Ordering::SeqCst)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

#[derive(Clone)]
struct Served {
    images: Arc<Vec<Vec<u8>>>,
    slow: Duration,
    seen: Arc<Seen>,
}

/// Starts an origin that serves `image`, slow paths after `slow`.
pub async fn start(image: Vec<u8>, slow: Duration) -> Origin {
    start_many(vec![image], slow).await
}

/// Starts an origin that serves the first of `images` as its image, and
/// each at `/photo/{n}`; slow paths and photos after `slow`.
pub async fn start_many(images: Vec<Vec<u8>>, slow: Duration) -> Origin {
    assert!(!images.is_empty(), "an origin needs an image to serve");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("cannot bind the source server");
    let address = listener.local_addr().expect("address");
    let served = Served {
        images: Arc::new(images),
        slow,
        seen: Arc::new(Seen::default()),
    };
    let mut app = Router::new();
    for (path, kind) in [
        ("/image", Kind::Image),
        ("/slow", Kind::Slow),
        ("/missing", Kind::Missing),
        ("/text", Kind::Text),
        ("/flaky", Kind::Flaky),
        ("/busy", Kind::Busy),
    ] {
        let answer = move |State(served): State<Served>, request: Request| async move {
            answer(&served, kind, request.uri().path()).await
        };
        app = app
            .route(path, get(answer))
            .route(&format!("{path}/{{name}}"), get(answer));
    }
    let photo = move |State(served): State<Served>, Path(name): Path<String>| async move {
        tokio::time::sleep(served.slow).await;
        let images = &served.images;
        let n = name.parse::<usize>().unwrap_or(0);
        (
            [(header::CONTENT_TYPE, "image/jpeg")],
            images[n % images.len()].clone(),
        )
            .into_response()
    };
    let seen = served.seen.clone();
    let app = app
        .route("/photo/{n}", get(photo))
        .layer(from_fn_with_state(served.clone(), count))
        .with_state(served);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Origin {
        base: format!("http://{address}"),
        seen,
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Image,
    Slow,
    Missing,
    Text,
    Flaky,
    Busy,
}

async fn count(State(served): State<Served>, request: Request, next: Next) -> Response {
    *served
        .seen
        .hits()
        .entry(request.uri().path().to_owned())
        .or_default() += 1;
    next.run(request).await
}

async fn answer(served: &Served, kind: Kind, path: &str) -> Response {
    let image = || {
        (
            [(header::CONTENT_TYPE, "image/png")],
            served.images[0].clone(),
        )
            .into_response()
    };
    match kind {
        Kind::Image => image(),
        Kind::Slow => {
            let seen = &served.seen;
            let now = seen.slow_now.fetch_add(1, Ordering::SeqCst) + 1;
            seen.slow_peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(served.slow).await;
            seen.slow_now.fetch_sub(1, Ordering::SeqCst);
            image()
        }
        Kind::Missing => StatusCode::NOT_FOUND.into_response(),
        Kind::Text => "just some text, not a picture".into_response(),
        Kind::Flaky => {
            let first = served.seen.hits().get(path).copied().unwrap_or(0) <= 1;
            if first {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "1")],
                )
                    .into_response()
            } else {
                image()
            }
        }
        Kind::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "3600")],
        )
            .into_response(),
    }
}
