//! The JSON bodies the API answers with, as types that mirror the
//! contract (`shared/API.md`): field names, which fields are optional, and
//! nothing else. Handlers build these; none writes JSON by hand.

use serde::Serialize;
use utoipa::ToSchema;

/// `GET /user/{USER_ID}/avatar`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentAvatar {
    pub avatar_url: String,
}

/// A PUT whose job completed within the wait window.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Completed {
    pub avatar_url: String,
    pub job_id: String,
}

/// A PUT answered before its job ended: `202`, with where to poll.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub job_id: String,
    /// `queued` or `processing`.
    #[schema(pattern = "^(queued|processing)$")]
    pub status: &'static str,
    pub status_url: String,
}

/// `GET /jobs/{jobId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub job_id: String,
    pub user_id: String,
    /// `queued`, `processing`, `completed` or `failed`.
    #[schema(pattern = "^(queued|processing|completed|failed)$")]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// `POST /imports`: the import was accepted.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportAccepted {
    pub import_id: String,
    pub status_url: String,
    pub total: u64,
}

/// `GET /imports/{importId}` and the answer of `DELETE`; also the data of
/// the `import.completed` event, hence declared beside the import record.
pub use avatar_common::imports::ImportState as Import;

/// `GET /imports/{importId}/failures`: a page, in index order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportFailures {
    pub items: Vec<avatar_common::imports::ImportFailure>,
    /// Null on the last page.
    pub next_cursor: Option<String>,
}

/// Every error: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Error {
    pub error: ErrorDetail,
}

/// An error's stable code and a message written for a person.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    pub status: &'static str,
}

/// `GET /readyz`: `ok` or `unavailable` for each dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    #[schema(pattern = "^(ok|unavailable)$")]
    pub redis: &'static str,
    #[schema(pattern = "^(ok|unavailable)$")]
    pub storage: &'static str,
}
