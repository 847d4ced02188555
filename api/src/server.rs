//! The HTTP server: accepts connections and serves the router on each with
//! hyper, within the caps and timeouts of [`crate::connections`], and on
//! shutdown answers the requests in flight before it returns. What a
//! request may do once its head is in is the router's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::connections::{Admission, ConnState, Connections, Refusal, ServerIo};
use crate::error::ApiError;

/// Pause after a failed accept (out of file descriptors, say) before the
/// next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The longest an overflow connection has to send its one request.
const OVERFLOW_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves `router` on `listener` until `shutdown` is cancelled, then waits
/// for the connections in flight to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    connections: Arc<Connections>,
    max_header_bytes: u64,
    shutdown: CancellationToken,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        // The header and idle timeouts are `ConnState`'s.
        .header_read_timeout(None)
        // Room for the head plus the first body bytes; a head that does not
        // fit is answered 431 by hyper. Heads that fit but are over the
        // limit get the JSON 431 of `request_limits`.
        .max_buf_size(2 * max_header_bytes as usize);
    let mut overflow_http = http.clone();
    overflow_http.keep_alive(false);
    let graceful = GracefulShutdown::new();
    let limits = connections.limits().clone();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let served = ConnState::new(limits.header_timeout, limits.idle_timeout);
        let (slot, refusal, state) = match connections.admit(peer.ip(), &served) {
            Admission::Served(slot) => (slot, None, served),
            Admission::Overflow(slot, refusal) => {
                let state = ConnState::new(
                    limits.header_timeout.min(OVERFLOW_HEADER_TIMEOUT),
                    Duration::ZERO,
                );
                (slot, Some(refusal), state)
            }
            Admission::Closed => {
                tracing::debug!(%peer, "over the connection caps and the overflow: closed");
                continue;
            }
        };
        let service = service(router.clone(), peer, state.clone(), refusal);
        let io = TokioIo::new(ServerIo::new(stream, state.clone(), max_header_bytes));
        let builder = if refusal.is_some() {
            &overflow_http
        } else {
            &http
        };
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            let _slot = slot;
            tokio::pin!(connection);
            loop {
                let deadline = state.deadline();
                tokio::select! {
                    result = &mut connection => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, %peer, "connection closed with an error");
                        }
                        break;
                    }
                    () = sleep_until(deadline) => {
                        if state.deadline().is_some_and(|d| d <= tokio::time::Instant::now().into_std()) {
                            tracing::debug!(%peer, "connection closed: its head or its next request did not come in time");
                            break;
                        }
                    }
                    () = state.changed() => {}
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The service of one connection: the router, with the peer's address;
/// for an overflow connection, only the health routes, and the refusal
/// for anything else.
fn service(
    router: Router,
    peer: SocketAddr,
    state: Arc<ConnState>,
    refusal: Option<Refusal>,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let guard = state.request();
        request
            .extensions_mut()
            .insert(ConnectInfo::<SocketAddr>(peer));
        let health = matches!(request.uri().path(), "/healthz" | "/readyz");
        let router = router.clone();
        async move {
            let response = match refusal {
                Some(refusal) if !health => ApiError::from(refusal).into_response(),
                _ => router.oneshot(request).await?,
            };
            // The request ends when its response's body has been sent.
            Ok(response.map(|body| {
                axum::body::Body::new(Guarded {
                    body,
                    _guard: guard,
                })
            }))
        }
    })
}

pin_project_lite::pin_project! {
    /// A response body that holds its request's guard until it is dropped.
    struct Guarded {
        #[pin]
        body: axum::body::Body,
        _guard: crate::connections::RequestGuard,
    }
}

impl http_body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}
