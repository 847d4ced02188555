//! `/healthz` (the process is alive) and `/readyz` (Redis and storage
//! answer). Neither needs a token.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

pub async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn ready(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let (redis, storage) = tokio::join!(state.queue.ping(), state.storage.check());
    let body = json!({
        "redis": if redis.is_ok() { "ok" } else { "unavailable" },
        "storage": if storage.is_ok() { "ok" } else { "unavailable" },
    });
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
