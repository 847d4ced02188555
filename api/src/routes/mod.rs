//! The HTTP routes, one file per resource, and the router that joins them
//! with the layers every request passes: request limits, rate limits on
//! the PUT routes, and tracing.

pub mod avatar;
pub mod health;
pub mod imports;
pub mod jobs;
mod json_import;
mod lines;
pub mod metrics;
mod submit;

use std::sync::Arc;
use std::time::Duration;

use avatar_common::storage::{AVATAR_CACHE_CONTROL, Storage};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::admission::{self, Admission};
use crate::error::ApiError;
use crate::rate_limit::RateLimits;
use crate::request_limits::{self, RequestLimits};
use crate::state::AppState;

/// The cache lifetime of an answer under `/media` that is not an avatar.
const NOT_CACHED: &str = "no-store";

/// Room for multipart framing on top of the image itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// The whole API.
pub fn router(
    state: Arc<AppState>,
    rate_limits: Arc<RateLimits>,
    request_limits: RequestLimits,
) -> Router {
    let admission = Admission {
        app: state.clone(),
        limits: rate_limits,
    };
    let body_limit = (state.max_upload_bytes + MULTIPART_OVERHEAD) as usize;
    let public = Router::new()
        .route(
            "/user/{user_id}/avatar",
            get(avatar::current).put(avatar::from_url),
        )
        .route(
            "/user/{user_id}/updateAvatarFile",
            axum::routing::put(avatar::from_multipart),
        )
        .route(
            "/user/{user_id}/avatarBytes",
            axum::routing::put(avatar::from_bytes),
        )
        .route("/jobs/{job_id}", get(jobs::show))
        .route("/imports", axum::routing::post(imports::create))
        .route(
            "/imports/{import_id}",
            get(imports::show).delete(imports::cancel),
        )
        .route("/imports/{import_id}/failures", get(imports::failures))
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(from_fn_with_state(admission, admission::limit_puts))
        .layer(DefaultBodyLimit::max(body_limit));

    let mut app = Router::new()
        .nest("/api/public", public)
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(metrics::render))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);

    if let Storage::Local(local) = &state.storage {
        let media = Router::new()
            .fallback_service(ServeDir::new(local.media_dir()))
            .layer(axum::middleware::from_fn(media_answer));
        app = app.nest("/media", media);
    }

    app.with_state(state)
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(from_fn_with_state(
            request_limits,
            request_limits::limit_requests,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", MatchedPath::as_str);
                    let method = metrics::method_label(request.method());
                    let request_id = crate::request_id::of(request.headers());
                    let request_id = request_id.as_ref().map(|id| id.as_str());
                    tracing::info_span!("request", method, route, request_id)
                })
                .on_response(
                    |response: &axum::response::Response,
                     latency: Duration,
                     _span: &tracing::Span| {
                        tracing::info!(
                            status = response.status().as_u16(),
                            ms = latency.as_millis() as u64,
                            "answered"
                        );
                    },
                ),
        )
        .layer(axum::middleware::from_fn(crate::request_id::assign))
}

/// Gives a stored avatar its long immutable cache lifetime, and anything
/// else under `/media` (a 404, for one) a JSON body that no cache keeps:
/// avatar URLs are predictable, so a cached 404 would hide a future avatar.
async fn media_answer(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status().is_success() {
        let mut response = response;
        response.headers_mut().insert(
            CACHE_CONTROL,
            HeaderValue::from_static(AVATAR_CACHE_CONTROL),
        );
        return response;
    }
    let error = match response.status() {
        StatusCode::NOT_FOUND => ApiError::NotFound("no avatar at this address".into()),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        _ => return response,
    };
    let mut answer = error.into_response();
    answer
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(NOT_CACHED));
    answer
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; see the API documentation for the routes".into())
}
