//! `/healthz` (the process is alive) and `/readyz` (Redis and storage
//! answer). Neither needs a token.

use std::sync::Arc;

use crate::body::{Live, Ready};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

#[utoipa::path(
    get,
    operation_id = "live",
    path = "/healthz",
    tag = "operations",
    summary = "Liveness: the process answers",
    responses((status = 200, description = "Alive.", body = Live)),
)]
pub async fn live() -> Json<Live> {
    Json(Live { status: "ok" })
}

#[utoipa::path(
    get,
    operation_id = "ready",
    path = "/readyz",
    tag = "operations",
    summary = "Readiness: Redis and the object store answer",
    responses(
        (status = 200, description = "Ready.", body = Ready),
        (status = 503, description = "Redis or the object store does not answer.", body = Ready),
    ),
)]
pub async fn ready(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Ready>) {
    let (redis, storage) = tokio::join!(state.queue.ping(), state.storage.check());
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body = Ready {
        redis: word(redis.is_ok()),
        storage: word(storage.is_ok()),
    };
    if let Err(e) = &redis {
        tracing::warn!(error = %e, "not ready: redis");
    }
    if let Err(e) = &storage {
        tracing::warn!(error = %e, "not ready: storage");
    }
    let status = if redis.is_ok() && storage.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
