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
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use bytes::Bytes;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admission::{self, Admission};
use crate::error::ApiError;
use crate::openapi;
use crate::rate_limit::RateLimits;
use crate::request_limits::{self, RequestLimits};
use crate::state::AppState;
use crate::try_page::TryPage;

/// The cache lifetime of an answer under `/media` that is not an avatar.
const NOT_CACHED: &str = "no-store";

/// Room for multipart framing on top of the image itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// Every route of the API, each with its entry in the OpenAPI document:
/// `routes!` takes the method and path from the handler's
/// `#[utoipa::path]` attribute, so a route is added here with its entry or
/// not at all. Only Swagger UI's own files and the local media tree, which
/// are not API operations, are added beside it, in [`router`].
pub fn table() -> OpenApiRouter<Arc<AppState>> {
    let public = OpenApiRouter::new()
        .routes(routes!(avatar::current, avatar::from_url, avatar::delete))
        .routes(routes!(avatar::from_multipart))
        .routes(routes!(avatar::from_bytes))
        .routes(routes!(jobs::show))
        .routes(routes!(imports::create))
        .routes(routes!(imports::show, imports::cancel))
        .routes(routes!(imports::failures));
    OpenApiRouter::new()
        .nest("/api/public", public)
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(metrics::render))
        .routes(routes!(document))
}

/// The OpenAPI document, serialised once.
#[derive(Clone)]
struct Document(Bytes);

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    operation_id = "openapi",
    path = "/openapi.json",
    tag = "operations",
    summary = "This document",
    description = "The OpenAPI 3.1 document of every route, body, response and error, the bearer scheme and the webhook events; `/docs` shows it.",
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object)),
)]
async fn document(Extension(Document(document)): Extension<Document>) -> Response {
    ([(CONTENT_TYPE, "application/json")], document).into_response()
}

/// The whole API.
pub fn router(
    state: Arc<AppState>,
    rate_limits: Arc<RateLimits>,
    request_limits: RequestLimits,
    try_page: Option<TryPage>,
) -> Router {
    let admission = Admission {
        app: state.clone(),
        limits: rate_limits,
    };
    let body_limit = (state.max_upload_bytes + MULTIPART_OVERHEAD) as usize;
    let (routes, paths) = table().split_for_parts();
    let document = serde_json::to_vec(&openapi::document(paths)).unwrap_or_default();
    // The admission check sees only PUTs, and every PUT is under
    // `/api/public`.
    let mut app = routes
        .route_layer(from_fn_with_state(admission, admission::limit_puts))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(Extension(Document(document.into())))
        .merge(openapi::page())
        .merge(try_page.map(TryPage::routes).unwrap_or_default())
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
