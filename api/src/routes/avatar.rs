//! `/user/{USER_ID}/avatar` and friends: read the current avatar, and replace
//! it from a multipart upload, raw bytes, or a URL.

use std::sync::Arc;

use avatar_common::SourceUrl;
use axum::Json;
use axum::extract::multipart::MultipartError;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use utoipa::ToSchema;

use super::submit::{
    Preferences, PutHeaders, PutResponses, Source, WaitQuery, callback_url, submit,
};
use crate::auth::Caller;
use crate::body;
use crate::error::ApiError;
use crate::openapi::UserPath;
use crate::state::AppState;

/// The multipart part that carries the image.
const AVATAR_PART: &str = "avatar";

/// `GET /user/{USER_ID}/avatar`: any authenticated caller may read it.
#[utoipa::path(
    get,
    operation_id = "getAvatar",
    path = "/user/{user_id}/avatar",
    tag = "avatars",
    summary = "The user's current avatar",
    description = "Any authenticated caller may read any user's current avatar.",
    params(UserPath),
    responses(
        (status = 200, description = "The current avatar.", body = body::CurrentAvatar),
        (status = 400, description = "The user id is not valid.", body = body::Error),
        (status = 401, description = "No valid bearer token.", body = body::Error),
        (status = 404, description = "The user has no avatar.", body = body::Error),
        (status = 503, description = "Redis is unreachable.", body = body::Error),
    ),
    security(("bearer" = [])),
)]
pub async fn current(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<body::CurrentAvatar>, ApiError> {
    let user = caller.resolve(&user_id)?;
    match state.queue.current_avatar(&user).await? {
        Some(current) => Ok(Json(body::CurrentAvatar {
            avatar: state.avatar(
                &current.key,
                current.sides.as_ref(),
                current.placeholder.as_ref(),
            ),
        })),
        None => Err(ApiError::NotFound(format!("user {user} has no avatar"))),
    }
}

/// `DELETE /user/{USER_ID}/avatar`: the user or an admin removes the
/// avatar; `204` also when there was none.
#[utoipa::path(
    delete,
    operation_id = "deleteAvatar",
    path = "/user/{user_id}/avatar",
    tag = "avatars",
    summary = "Remove the user's avatar",
    description = "Afterwards `GET .../avatar` is 404 and every stored object of the user's avatars (the current one, older ones kept for their retention, every size) is deleted within seconds; a job accepted before the delete never makes an avatar current afterwards, one accepted after it does. Sends `avatar.deleted` when there was an avatar. 204 also when there was none.",
    params(UserPath),
    responses(
        (status = 204, description = "The user has no avatar now."),
        (status = 400, description = "The user id is not valid.", body = body::Error),
        (status = 401, description = "No valid bearer token.", body = body::Error),
        (status = 403, description = "Another user's avatar, without the admin scope.", body = body::Error),
        (status = 503, description = "Redis is unreachable.", body = body::Error),
    ),
    security(("bearer" = [])),
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = caller.may_act_on(&user_id)?;
    let had_one = state.queue.delete_avatar(&user).await?;
    tracing::info!(user_id = %user, had_one, "deleted the avatar");
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /user/{USER_ID}/avatarBytes`: the body is the image.
#[utoipa::path(
    put,
    operation_id = "putAvatarBytes",
    path = "/user/{user_id}/avatarBytes",
    tag = "avatars",
    summary = "Replace the avatar from raw image bytes",
    description = "The body is the image, in any format the service decodes; its type is read from the bytes, not from Content-Type.",
    params(UserPath, WaitQuery, PutHeaders),
    request_body(
        description = "The image.",
        content((String = "application/octet-stream"), (String = "image/*")),
    ),
    responses(PutResponses),
    security(("bearer" = [])),
)]
pub async fn from_bytes(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(user_id): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let user = caller.may_act_on(&user_id)?;
    let preferences = Preferences::read(&state, &query, &headers)?;
    let body = body.map_err(|e| body_error(e.status(), e.body_text(), state.max_upload_bytes))?;
    submit(&state, user, Source::Bytes(body), preferences).await
}

/// `PUT /user/{USER_ID}/updateAvatarFile`: the image is the multipart part
/// named `avatar`.
#[utoipa::path(
    put,
    operation_id = "putAvatarFile",
    path = "/user/{user_id}/updateAvatarFile",
    tag = "avatars",
    summary = "Replace the avatar from a multipart upload",
    description = "The image is the part named `avatar`, in any format the service decodes; other parts are ignored.",
    params(UserPath, WaitQuery, PutHeaders),
    request_body(content = AvatarUpload, content_type = "multipart/form-data"),
    responses(PutResponses),
    security(("bearer" = [])),
)]
pub async fn from_multipart(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(user_id): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let user = caller.may_act_on(&user_id)?;
    let preferences = Preferences::read(&state, &query, &headers)?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::InvalidRequest(format!(
            "send a multipart/form-data body with the image in a part named {AVATAR_PART:?} ({})",
            e.body_text()
        ))
    })?;
    let limit = state.max_upload_bytes;
    let image = loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| multipart_error(&e, limit))?;
        let Some(field) = field else {
            return Err(ApiError::InvalidRequest(format!(
                "the multipart body has no part named {AVATAR_PART:?}; put the image there"
            )));
        };
        if field.name() == Some(AVATAR_PART) {
            break field
                .bytes()
                .await
                .map_err(|e| multipart_error(&e, limit))?;
        }
    };
    submit(&state, user, Source::Bytes(image), preferences).await
}

/// The body of `PUT /user/{USER_ID}/avatar`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UrlBody {
    /// An `http` or `https` URL of the image, on a public address.
    #[schema(pattern = "^https?://")]
    avatar_url: String,
    /// As `?callbackUrl=`; the body's wins when both are given.
    callback_url: Option<String>,
}

/// The body of `PUT /user/{USER_ID}/updateAvatarFile`, for the document.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AvatarUpload {
    /// The image file.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    avatar: String,
}

/// `PUT /user/{USER_ID}/avatar`: a worker fetches the image from a URL.
#[utoipa::path(
    put,
    operation_id = "putAvatarUrl",
    path = "/user/{user_id}/avatar",
    tag = "avatars",
    summary = "Replace the avatar from a URL",
    description = "A worker fetches the image from `avatarUrl`: public addresses only, on the allowed ports and hosts, within the upload limit.",
    params(UserPath, WaitQuery, PutHeaders),
    request_body(content = UrlBody, content_type = "application/json"),
    responses(PutResponses),
    security(("bearer" = [])),
)]
pub async fn from_url(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(user_id): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Json<UrlBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = caller.may_act_on(&user_id)?;
    let mut preferences = Preferences::read(&state, &query, &headers)?;
    let Json(body) = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit: state.max_upload_bytes,
        },
        _ => ApiError::InvalidRequest(format!(
            "send a JSON body {{\"avatarUrl\": \"https://...\", \"callbackUrl\"?: \"https://...\"}} with Content-Type: application/json ({})",
            e.body_text()
        )),
    })?;
    let url: SourceUrl =
        body.avatar_url
            .parse()
            .map_err(|e: avatar_common::source_url::InvalidSourceUrl| {
                ApiError::InvalidRequest(e.to_string())
            })?;
    if let Some(callback) = &body.callback_url {
        preferences.callback_url = Some(callback_url(&state, callback)?);
    }
    submit(&state, user, Source::Url(url), preferences).await
}

fn body_error(status: StatusCode, text: String, limit: u64) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::InvalidRequest(format!("the body could not be read: {text}"))
    }
}

fn multipart_error(error: &MultipartError, limit: u64) -> ApiError {
    body_error(error.status(), error.body_text(), limit)
}
