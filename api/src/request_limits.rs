//! Limits on what one request may hold or take: the size of its head, and
//! the time its body may take to arrive, so a slow client cannot tie up the
//! API. The body's size limit is the routes' own; the time to send the head
//! is bounded by the HTTP server (see [`crate::server`]).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::error::ApiError;

/// The request limits the middleware enforces.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Largest request head: the request line plus every header.
    pub max_header_bytes: u64,
    /// Longest time from the handler's first look at the body to its end.
    pub body_timeout: Duration,
}

/// Refuses a request whose head is over the limit with 431, and answers
/// 408 when its body does not arrive within the body timeout.
pub async fn limit_requests(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    if head_size(&request) > limits.max_header_bytes {
        return ApiError::HeadersTooLarge {
            limit: limits.max_header_bytes,
        }
        .into_response();
    }
    let expired = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(Deadline {
            inner: body,
            sleep: tokio::time::sleep(limits.body_timeout),
            expired: expired.clone(),
        })
    });
    let response = next.run(request).await;
    if expired.load(Ordering::Relaxed) {
        return ApiError::RequestTimeout {
            secs: limits.body_timeout.as_secs(),
        }
        .into_response();
    }
    response
}

/// The size of the request line and headers as sent, near enough.
fn head_size(request: &Request) -> u64 {
    let line = request.method().as_str().len() + request.uri().to_string().len() + 12;
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    (line + headers) as u64
}

/// The body was not received in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

pin_project! {
    /// A body that fails once its deadline has passed, and says so in
    /// `expired`.
    struct Deadline {
        #[pin]
        inner: Body,
        #[pin]
        sleep: Sleep,
        expired: Arc<AtomicBool>,
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.sleep.poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
