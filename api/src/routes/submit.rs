//! What the three PUT routes share: stage the source, enqueue the job, and
//! answer with the result, the failure, or a job id to poll, depending on
//! how the job fares within the wait window.

use std::sync::Arc;
use std::time::Duration;

use avatar_common::address::UrlRefusal;
use avatar_common::idempotency_key::InvalidIdempotencyKey;
use avatar_common::jobs::Lane;
use avatar_common::storage::ObjectKind;
use avatar_common::{
    IdempotencyKey, Job, JobId, JobSource, JobStatus, ObjectKey, RequestId, SourceUrl, UserId,
};
use avatar_format::{Crop, SourceFormat};
use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use tokio::time::Instant;
use utoipa::{IntoParams, IntoResponses};

use crate::body;
use crate::error::ApiError;
use crate::state::AppState;

/// The longest wait a request may ask for, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;

/// The query of a PUT.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// How long to wait for the job, 0 to 30 seconds; the default is the
    /// service's (10 s unless configured).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 30)]
    wait: Option<String>,
    /// `bulk` puts the job in the bulk lane; `interactive` is the default.
    #[param(pattern = "^(interactive|bulk)$")]
    priority: Option<String>,
    /// Also deliver this job's webhook events to this URL.
    callback_url: Option<String>,
    /// `LEFT,TOP,WIDTH,HEIGHT`, fractions from 0 to 1 of the upright image;
    /// a rectangle that is not square gives its centred square.
    #[param(
        pattern = "^[01](\\.[0-9]+)?(,[01](\\.[0-9]+)?){3}$",
        example = "0.25,0,0.5,0.5"
    )]
    crop: Option<String>,
}

/// The headers a PUT reads, for the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct PutHeaders {
    /// `respond-async`: answer 202 at once, whatever `wait` says.
    #[param(rename = "Prefer")]
    prefer: Option<String>,
    /// A retried PUT with the same key within 24 hours names the same job
    /// instead of making another: 1 to 128 letters, digits and `_ - . :`.
    #[param(rename = "Idempotency-Key", pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    idempotency_key: Option<String>,
}

/// What a PUT may answer, for the document.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum PutResponses {
    /// The job completed within the wait window.
    #[response(status = 200)]
    Completed(body::Completed),
    /// The job is still running when the wait window closed, or the
    /// request asked not to wait: poll `statusUrl`.
    #[response(status = 202, headers(("Location" = String, description = "The job's statusUrl.")))]
    Accepted(body::Accepted),
    /// Refused before any job existed: a bad user id, query, header or
    /// body, or a URL that is not acceptable.
    #[response(status = 400)]
    BadRequest(body::Error),
    /// No valid bearer token.
    #[response(status = 401)]
    Unauthenticated(body::Error),
    /// Another user's avatar, without the admin scope.
    #[response(status = 403)]
    Forbidden(body::Error),
    /// The body or the fetched file is over the upload limit.
    #[response(status = 413)]
    PayloadTooLarge(body::Error),
    /// The bytes are not an image format the service decodes.
    #[response(status = 415)]
    UnsupportedMediaType(body::Error),
    /// The job failed: the image is undecodable, truncated or too large in
    /// pixels, or the URL could not be fetched.
    #[response(status = 422)]
    ImageRejected(body::Error),
    /// A rate limit, or the cap on pending callback deliveries, was
    /// reached; `Retry-After` says when to retry.
    #[response(status = 429, headers(("Retry-After" = u64, description = "Seconds to wait.")))]
    RateLimited(body::Error),
    /// Redis or the object store is unreachable.
    #[response(status = 503)]
    Unavailable(body::Error),
}

/// Where a new avatar comes from.
pub enum Source {
    Bytes(Bytes),
    Url(SourceUrl),
}

/// How long to wait for the job: 0 with `Prefer: respond-async` (the
/// request asked not to wait, whatever else it says), else `?wait=N` (0 to
/// 30 s), else the default. A malformed `?wait` is refused either way.
fn wait_window(
    state: &AppState,
    query: &WaitQuery,
    headers: &HeaderMap,
) -> Result<Duration, ApiError> {
    let asked = query
        .wait
        .as_deref()
        .map(|raw| match raw.parse::<u64>() {
            Ok(secs) if secs <= MAX_WAIT_SECS => Ok(Duration::from_secs(secs)),
            _ => Err(ApiError::InvalidRequest(format!(
                "wait must be a whole number of seconds from 0 to {MAX_WAIT_SECS}"
            ))),
        })
        .transpose()?;
    let respond_async = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"));
    Ok(if respond_async {
        Duration::ZERO
    } else {
        asked.unwrap_or(state.default_wait)
    })
}

/// How long an idempotency key names its job.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// How a PUT asks to be handled: its wait window, idempotency key, lane
/// and the URL that hears of its end.
pub struct Preferences {
    pub wait: Duration,
    pub idempotency_key: Option<IdempotencyKey>,
    pub lane: Lane,
    pub callback_url: Option<SourceUrl>,
    /// The request's id (see [`crate::request_id`]), which the job carries.
    pub request_id: Option<RequestId>,
    /// The rectangle of the upright image to cut the avatar from.
    pub crop: Option<Crop>,
}

impl Preferences {
    /// Reads `?wait=`, `?priority=`, `?callbackUrl=`, `?crop=`, `Prefer`
    /// and `Idempotency-Key`.
    pub fn read(
        state: &AppState,
        query: &Result<Query<WaitQuery>, QueryRejection>,
        headers: &HeaderMap,
    ) -> Result<Self, ApiError> {
        let query = query.as_ref().map_err(|e| {
            ApiError::InvalidRequest(format!(
                "the query string could not be read: {}; give each parameter once",
                e.body_text()
            ))
        })?;
        let idempotency_key = match headers.get("idempotency-key") {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(|v| v.parse::<IdempotencyKey>().ok())
                    .ok_or_else(|| ApiError::InvalidRequest(InvalidIdempotencyKey.to_string()))?,
            ),
        };
        // Anyone may lower their own priority; nobody may raise it.
        let lane = query
            .priority
            .as_deref()
            .map(str::parse::<Lane>)
            .transpose()
            .map_err(ApiError::InvalidRequest)?
            .unwrap_or_default();
        let callback_url = query
            .callback_url
            .as_deref()
            .map(|url| callback_url(state, url))
            .transpose()?;
        let crop = query
            .crop
            .as_deref()
            .map(Crop::parse)
            .transpose()
            .map_err(|e| {
                ApiError::InvalidRequest(format!(
                    "{e} (crop=LEFT,TOP,WIDTH,HEIGHT: fractions of the upright image)"
                ))
            })?;
        Ok(Self {
            wait: wait_window(state, query, headers)?,
            idempotency_key,
            lane,
            callback_url,
            request_id: crate::request_id::of(headers),
            crop,
        })
    }
}

/// A client's `callbackUrl`, checked against every rule a delivery would
/// meet that does not need a DNS answer: webhooks must be on, and the URL
/// must be HTTP(S) without credentials, on an allowed port
/// (`AVATARS_FETCH_ALLOWED_PORTS`), on an allowed host when
/// `AVATARS_FETCH_ALLOWED_HOSTS` lists some, and not an IP literal that is
/// not public. A host name is judged on what it resolves to when a
/// delivery connects, and a delivery refused so is given up at once.
pub fn callback_url(state: &AppState, text: &str) -> Result<SourceUrl, ApiError> {
    let outbound = &state.outbound;
    if !outbound.webhooks_enabled() {
        return Err(ApiError::InvalidRequest(
            "this service sends no webhooks (it has no AVATARS_WEBHOOK_SECRET); leave callbackUrl out".into(),
        ));
    }
    let url: SourceUrl = text
        .parse()
        .map_err(|e| ApiError::InvalidRequest(format!("callbackUrl is not acceptable: {e}")))?;
    if let Err(refusal) = outbound.url_rules().check(url.as_url()) {
        let why = match refusal {
            UrlRefusal::Port(port) => format!(
                "names port {port}, which this service does not send to; use one of {}",
                outbound.fetch_allowed_ports
            ),
            UrlRefusal::Host => format!(
                "names {}, which is not among the hosts this service sends to",
                url.as_url().host_str().unwrap_or_default()
            ),
            UrlRefusal::Address | UrlRefusal::NoHost => {
                "names a private or reserved address; give a public one".into()
            }
            UrlRefusal::Scheme | UrlRefusal::Credentials => {
                "must be an http or https URL without a user name or password".into()
            }
        };
        return Err(ApiError::InvalidRequest(format!("callbackUrl {why}")));
    }
    Ok(url)
}

/// Refuses a callback for `user` who has as many callback deliveries
/// pending as one user may (`AVATARS_WEBHOOK_MAX_PENDING_CALLBACKS`).
async fn check_pending_callbacks(state: &AppState, user: &UserId) -> Result<(), ApiError> {
    let limit = state.outbound.webhook_max_pending_callbacks;
    if limit == 0 {
        return Ok(());
    }
    let pending = state.queue.pending_callbacks(user).await?;
    if pending >= limit {
        return Err(ApiError::TooManyCallbacks { limit });
    }
    Ok(())
}

/// Accepts a new avatar for `user` and answers as the API contract says.
pub async fn submit(
    state: &Arc<AppState>,
    user: UserId,
    source: Source,
    preferences: Preferences,
) -> Result<Response, ApiError> {
    if preferences.callback_url.is_some() {
        check_pending_callbacks(state, &user).await?;
    }
    let id = JobId::generate();
    let (source, staged) = match source {
        Source::Bytes(bytes) => {
            check_image(&bytes, state.max_upload_bytes)?;
            let key = ObjectKey::staged_source(&user, &id);
            state.storage.put(&key, bytes, ObjectKind::Staged).await?;
            (JobSource::Staged { key: key.clone() }, Some(key))
        }
        Source::Url(url) => (JobSource::Url { url }, None),
    };
    let job = Job {
        id,
        user,
        source,
        lane: preferences.lane,
        import: None,
        request_id: preferences.request_id.clone(),
        crop: preferences.crop,
    };
    let idempotency = preferences
        .idempotency_key
        .as_ref()
        .map(|k| (k, IDEMPOTENCY_TTL));
    let callback = preferences.callback_url.as_ref();
    let wait = preferences.wait;
    // Registered first, so that the job's end cannot be announced unheard.
    let registration = (!wait.is_zero()).then(|| state.completions.register(&id));
    let enqueued = match state.queue.enqueue(&job, idempotency, callback).await {
        Ok(enqueued) => enqueued,
        Err(e) => {
            if let Some(registration) = registration {
                state.completions.cancel(registration);
            }
            if let Some(key) = staged {
                let _ = state.storage.delete(&key).await;
            }
            return Err(e.into());
        }
    };
    if enqueued.repeated {
        if let Some(key) = staged {
            let _ = state.storage.delete(&key).await;
        }
        tracing::info!(job_id = %enqueued.id, user_id = %job.user, "repeated request; answering for the earlier job");
    } else {
        tracing::info!(job_id = %id, user_id = %job.user, "accepted");
    }
    let id = enqueued.id;
    let Some(registration) = registration else {
        return Ok(accepted(id, JobStatus::Queued));
    };
    let deadline = Instant::now() + wait;
    let record = if enqueued.repeated {
        state.completions.cancel(registration);
        state.completions.wait(&state.queue, &id, deadline).await?
    } else {
        state
            .completions
            .wait_registered(&state.queue, registration, deadline)
            .await?
    };
    Ok(match record {
        Some(r) if r.status == JobStatus::Completed => match &r.avatar_key {
            Some(key) => Json(body::Completed {
                avatar: state.avatar(key, r.avatar_sides.as_ref(), r.placeholder.as_ref()),
                job_id: id.to_string(),
            })
            .into_response(),
            None => accepted(id, r.status),
        },
        Some(r) if r.status == JobStatus::Failed => match r.error {
            Some(failure) => ApiError::Job(failure).into_response(),
            None => accepted(id, r.status),
        },
        Some(r) => accepted(id, r.status),
        None => accepted(id, JobStatus::Queued),
    })
}

/// Refuses empty, oversized and non-image bodies before any job exists.
fn check_image(bytes: &Bytes, limit: u64) -> Result<(), ApiError> {
    if bytes.len() as u64 > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    if bytes.is_empty() {
        return Err(ApiError::InvalidRequest("the image is empty".into()));
    }
    if SourceFormat::detect(bytes).is_none() {
        return Err(ApiError::UnsupportedMediaType(format!(
            "the body is not an image in a supported format; send {}",
            avatar_format::accepted_names()
        )));
    }
    Ok(())
}

/// `202` with the job id and where to poll it.
fn accepted(id: JobId, status: JobStatus) -> Response {
    let status_url = format!("/api/public/jobs/{id}");
    let mut response = (
        StatusCode::ACCEPTED,
        Json(body::Accepted {
            job_id: id.to_string(),
            status: status.api_name(),
            status_url: status_url.clone(),
        }),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&status_url) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}
