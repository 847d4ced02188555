//! `GET /metrics`: Prometheus text format, and the middleware that counts
//! and times every request by route.

use std::sync::Arc;
use std::time::Instant;

use avatar_common::metrics::{REQUEST_DURATION, REQUESTS};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Renders every metric of the process, with fresh queue depths.
#[utoipa::path(
    get,
    operation_id = "metrics",
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics of this process",
    responses(
        (status = 200, description = "The Prometheus text format.", body = String, content_type = "text/plain"),
        (status = 404, description = "This process records no metrics.", body = crate::body::Error),
    ),
)]
pub async fn render(State(state): State<Arc<AppState>>) -> Response {
    let Some(handle) = &state.metrics else {
        return ApiError::NotFound("this process records no metrics".into()).into_response();
    };
    avatar_common::metrics::report_queue_depths(&state.queue).await;
    avatar_common::metrics::report_webhooks(&state.queue).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// The label of a request's method: one of the standard methods, or
/// `other`, so a client cannot make up label values.
pub fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD
        .iter()
        .find(|standard| *standard == method)
        .map_or("other", Method::as_str)
}

/// Counts and times a request under its route template (never the raw
/// path, so user ids do not become labels).
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(REQUESTS, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(REQUEST_DURATION, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}
