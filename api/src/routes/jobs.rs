//! `GET /jobs/{jobId}`: a job's state, for polling. A job is shown only to
//! its user and to admins; to anyone else it does not exist.

use std::sync::Arc;

use avatar_common::{JobId, JobRecord};
use axum::Json;
use axum::extract::{Path, State};
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::body;
use crate::error::ApiError;
use crate::state::AppState;
use avatar_common::timestamps::rfc3339;

/// The path of `GET /jobs/{jobId}`, for the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct JobPath {
    /// The `jobId` a PUT answered with: a 26-character ULID.
    #[param(pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    job_id: String,
}

#[utoipa::path(
    get,
    operation_id = "getJob",
    path = "/jobs/{job_id}",
    tag = "jobs",
    summary = "A job's state, for polling",
    description = "Shown only to the job's user and to admins; to anyone else it does not exist (404).",
    params(JobPath),
    responses(
        (status = 200, description = "The job's state.", body = body::Job),
        (status = 400, description = "Not a job id.", body = body::Error),
        (status = 401, description = "No valid bearer token.", body = body::Error),
        (status = 404, description = "No such job, or not the caller's.", body = body::Error),
        (status = 503, description = "Redis is unreachable.", body = body::Error),
    ),
    security(("bearer" = [])),
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(job_id): Path<String>,
) -> Result<Json<body::Job>, ApiError> {
    let id: JobId = job_id
        .parse()
        .map_err(|e: avatar_common::job_id::InvalidJobId| {
            ApiError::InvalidRequest(e.to_string())
        })?;
    match state.queue.record(&id).await? {
        Some(record) if caller.may_see(&record.user) => Ok(Json(job_body(&state, &record))),
        _ => Err(ApiError::NotFound(format!("no job {id}"))),
    }
}

/// The body of a job's state.
pub fn job_body(state: &AppState, record: &JobRecord) -> body::Job {
    body::Job {
        job_id: record.id.to_string(),
        user_id: record.user.as_str().to_owned(),
        status: record.status.api_name(),
        avatar: record.avatar_key.as_ref().map(|key| {
            state.avatar(
                key,
                record.avatar_sides.as_ref(),
                record.placeholder.as_ref(),
            )
        }),
        error: record.error.as_ref().map(|error| body::ErrorDetail {
            code: error.code.as_str(),
            message: error.message.clone(),
        }),
        created_at: rfc3339(record.created_at),
        updated_at: rfc3339(record.updated_at),
    }
}
