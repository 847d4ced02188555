//! The JSON bodies the API answers with, as types that mirror the
//! contract (`shared/API.md`): field names, which fields are optional, and
//! nothing else. Handlers build these; none writes JSON by hand.

use std::collections::BTreeMap;

use avatar_common::avatar::StoredAvatar;
use serde::Serialize;
use utoipa::ToSchema;

/// Where an avatar is: every answer that names one carries all three.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Avatar {
    /// The largest side.
    #[schema(pattern = "^https?://")]
    pub avatar_url: String,
    /// Every side made (`AVATARS_SIZES`), by its side in pixels.
    #[schema(value_type = BTreeMap<String, String>, example = json!({"512": "https://cdn.example/1733100000000/userAvatars/alice/avatar.jpg", "64": "https://cdn.example/1733100000000/userAvatars/alice/avatar_64.jpg"}))]
    pub avatar_urls: BTreeMap<u32, String>,
    /// The avatar's ThumbHash, base64: a blurred preview to paint before
    /// the image loads. Absent for an avatar made before placeholders were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
}

impl Avatar {
    /// Where `avatar` is, under `base`.
    pub fn new(avatar: &StoredAvatar, base: &str) -> Self {
        Self {
            avatar_url: avatar.url(base),
            avatar_urls: avatar.urls(base),
            placeholder: avatar.placeholder.clone(),
        }
    }
}

/// `GET /user/{USER_ID}/avatar`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentAvatar {
    #[serde(flatten)]
    pub avatar: Avatar,
}

/// A PUT whose job completed within the wait window.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Completed {
    #[serde(flatten)]
    pub avatar: Avatar,
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
    /// A completed job's avatar.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<Avatar>,
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
