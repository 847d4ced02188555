//! `/imports`: bulk imports for platforms bringing in avatars by the
//! hundred thousand. `POST` reads a JSON or NDJSON body of `{userId,
//! avatarUrl}` items and accepts them in batches as it reads, so an NDJSON
//! body of any length takes the memory of one batch and one line; `GET`
//! shows the counts, `GET .../failures` pages through the failed items, and
//! `DELETE` cancels what has not started. Admin scope only.

use std::sync::Arc;

use avatar_common::imports::{ImportError, ImportFailure, ImportMode};
use avatar_common::queue::ImportEntry;
use avatar_common::{ImportId, SourceUrl, UserId};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, IntoResponses, ToSchema};

use super::json_import;
use super::lines::{Line, LineSplitter};
use crate::auth::{ADMIN_SCOPE, Caller};
use crate::body;
use crate::error::ApiError;
use crate::state::AppState;

/// Items accepted in one round trip to Redis: one script, kept short so
/// that Redis serves others between batches.
const BATCH: usize = avatar_common::jobs::ITEM_BATCH;

/// The longest line of an NDJSON body; a longer one is a failed item.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// The limits on one import.
#[derive(Debug, Clone, Copy)]
pub struct ImportLimits {
    /// Most items in one import.
    pub max_items: u64,
    /// Largest NDJSON body, in bytes.
    pub max_ndjson_bytes: u64,
    /// Largest JSON body, in bytes: it is held whole while its items are
    /// accepted.
    pub max_json_bytes: u64,
}

/// The query of `POST /imports`: for an NDJSON body, its options.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `replace` (the default) or `missing`: skip an item whose user has an
    /// avatar when the item would become current. For an NDJSON body.
    #[param(pattern = "^(replace|missing)$")]
    mode: Option<String>,
    /// Also deliver this import's webhook events to this URL. For an
    /// NDJSON body.
    callback_url: Option<String>,
}

/// A JSON body of `POST /imports`, for the document.
#[derive(ToSchema)]
#[schema(as = ImportRequest, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ImportBody {
    /// The items, in index order; at most `AVATARS_IMPORT_MAX_ITEMS`.
    items: Vec<ImportItem>,
    /// `replace` (the default) or `missing`.
    #[schema(pattern = "^(replace|missing)$")]
    mode: Option<String>,
    /// Also deliver this import's webhook events to this URL.
    callback_url: Option<String>,
}

/// One item of an import; an NDJSON body has one per line.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ImportItem {
    /// 1 to 64 characters of `A-Z a-z 0-9 _ -`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    user_id: String,
    /// An `http` or `https` URL of the image, on a public address.
    #[schema(pattern = "^https?://")]
    avatar_url: String,
}

/// `POST /imports`.
#[utoipa::path(
    post,
    operation_id = "createImport",
    path = "/imports",
    tag = "imports",
    summary = "Start a bulk import",
    description = "Admin scope. Items are accepted in index order, as if each were a `PUT .../avatar` accepted at that moment, and run in the bulk lane. An item that is not valid ends at once as failed and is listed among the failures; the others go ahead.",
    params(ImportQuery),
    request_body(
        description = "The items: a JSON object, or NDJSON with one `{\"userId\", \"avatarUrl\"}` object per line and the options in the query.",
        content((ImportBody = "application/json"), (String = "application/x-ndjson")),
    ),
    responses(
        (status = 202, description = "Accepted; poll `statusUrl`.", body = body::ImportAccepted,
            headers(("Location" = String, description = "The import's statusUrl."))),
        (status = 400, description = "No items, a body that does not parse, or a bad option.", body = body::Error),
        (status = 401, description = "No valid bearer token.", body = body::Error),
        (status = 403, description = "The caller lacks the admin scope.", body = body::Error),
        (status = 413, description = "Over the item or body limit.", body = body::Error),
        (status = 415, description = "Neither JSON nor NDJSON.", body = body::Error),
        (status = 503, description = "Redis is unreachable.", body = body::Error),
    ),
    security(("bearer" = [])),
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    query: Result<Query<ImportQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    admin_only(&caller)?;
    let Query(query) = query.map_err(|e| {
        ApiError::InvalidRequest(format!(
            "the query takes mode=replace|missing and callbackUrl=URL ({})",
            e.body_text()
        ))
    })?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let import = match content_type.as_deref() {
        Some("application/json") => from_json(&state, query, body).await?,
        Some("application/x-ndjson" | "application/jsonl" | "application/json-seq") => {
            from_ndjson(&state, query, body).await?
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "send the items as Content-Type: application/json ({\"items\": [...]}) or application/x-ndjson (one {\"userId\", \"avatarUrl\"} object per line)".into(),
            ));
        }
    };
    let status_url = format!("/api/public/imports/{}", import.id);
    let mut response = (
        StatusCode::ACCEPTED,
        Json(body::ImportAccepted {
            import_id: import.id.to_string(),
            status_url: status_url.clone(),
            total: import.total,
        }),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&status_url) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// `GET /imports/{importId}`.
#[utoipa::path(
    get,
    operation_id = "getImport",
    path = "/imports/{import_id}",
    tag = "imports",
    summary = "An import's progress",
    description = "Admin scope. The counts always add up to `total`.",
    params(ImportPath),
    responses(ImportResponses),
    security(("bearer" = [])),
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(import_id): Path<String>,
) -> Result<Json<body::Import>, ApiError> {
    admin_only(&caller)?;
    let id = parse_id(&import_id)?;
    state_of(&state, &id).await
}

/// `DELETE /imports/{importId}`: the items not yet started end as
/// cancelled; running ones finish.
#[utoipa::path(
    delete,
    operation_id = "cancelImport",
    path = "/imports/{import_id}",
    tag = "imports",
    summary = "Cancel an import",
    description = "Admin scope. Items not yet started end as `cancelled` at once; running ones finish. Answers the import's state.",
    params(ImportPath),
    responses(ImportResponses),
    security(("bearer" = [])),
)]
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(import_id): Path<String>,
) -> Result<Json<body::Import>, ApiError> {
    admin_only(&caller)?;
    let id = parse_id(&import_id)?;
    if !state.queue.cancel_import(&id).await? {
        return Err(no_such_import(&id));
    }
    state_of(&state, &id).await
}

/// The answer with an import's state, or 404.
async fn state_of(state: &AppState, id: &ImportId) -> Result<Json<body::Import>, ApiError> {
    match state.queue.import_record(id).await? {
        Some(record) => Ok(Json(body::Import::from(&record))),
        None => Err(no_such_import(id)),
    }
}

/// The path of an import's routes, for the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ImportPath {
    /// The `importId` that `POST /imports` answered with: a 26-character
    /// ULID.
    #[param(pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    import_id: String,
}

/// What the routes of one import answer, for the document.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ImportResponses {
    /// The import's state.
    #[response(status = 200)]
    State(body::Import),
    /// Not an import id.
    #[response(status = 400)]
    BadRequest(body::Error),
    /// No valid bearer token.
    #[response(status = 401)]
    Unauthenticated(body::Error),
    /// The caller lacks the admin scope.
    #[response(status = 403)]
    Forbidden(body::Error),
    /// No such import.
    #[response(status = 404)]
    NotFound(body::Error),
    /// Redis is unreachable.
    #[response(status = 503)]
    Unavailable(body::Error),
}

/// The query of `GET /imports/{importId}/failures`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FailuresQuery {
    /// The page's size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// The default and the largest page of failures.
const FAILURES_PAGE: usize = 100;
const MAX_FAILURES_PAGE: usize = 1000;

/// `GET /imports/{importId}/failures?limit=N&cursor=C`: failed items in
/// index order.
#[utoipa::path(
    get,
    operation_id = "getImportFailures",
    path = "/imports/{import_id}/failures",
    tag = "imports",
    summary = "An import's failed items, paged",
    description = "Admin scope. In index order; `nextCursor` is null on the last page. The first 10,000 failures are listed; past them only the `failed` count grows.",
    params(ImportPath, FailuresQuery),
    responses(
        (status = 200, description = "A page of failures.", body = body::ImportFailures),
        (status = 400, description = "Not an import id, or a bad limit or cursor.", body = body::Error),
        (status = 401, description = "No valid bearer token.", body = body::Error),
        (status = 403, description = "The caller lacks the admin scope.", body = body::Error),
        (status = 404, description = "No such import.", body = body::Error),
        (status = 503, description = "Redis is unreachable.", body = body::Error),
    ),
    security(("bearer" = [])),
)]
pub async fn failures(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(import_id): Path<String>,
    query: Result<Query<FailuresQuery>, QueryRejection>,
) -> Result<Json<body::ImportFailures>, ApiError> {
    admin_only(&caller)?;
    let id = parse_id(&import_id)?;
    let Query(query) = query.map_err(|e| {
        ApiError::InvalidRequest(format!(
            "the query takes limit=1..{MAX_FAILURES_PAGE} and cursor=C ({})",
            e.body_text()
        ))
    })?;
    let limit = match query.limit.as_deref() {
        None => FAILURES_PAGE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_FAILURES_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::InvalidRequest(format!(
                    "limit must be a whole number from 1 to {MAX_FAILURES_PAGE}, not {text:?}"
                ))
            })?,
    };
    let from = match query.cursor.as_deref() {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            ApiError::InvalidRequest(format!(
                "cursor {text:?} is not one this API gave; pass the nextCursor of the last page"
            ))
        })?,
    };
    if state.queue.import_record(&id).await?.is_none() {
        return Err(no_such_import(&id));
    }
    let page = state.queue.import_failures(&id, from, limit).await?;
    Ok(Json(body::ImportFailures {
        items: page.items,
        next_cursor: page.next.map(|n| n.to_string()),
    }))
}

/// An import as `POST` accepted it.
struct Opened {
    id: ImportId,
    total: u64,
}

/// The options of a new import, checked.
struct Options {
    mode: ImportMode,
    callback_url: Option<SourceUrl>,
}

impl Options {
    fn read(
        state: &AppState,
        mode: Option<String>,
        callback_url: Option<String>,
    ) -> Result<Self, ApiError> {
        let mode = match mode {
            None => ImportMode::Replace,
            Some(text) => text.parse().map_err(ApiError::InvalidRequest)?,
        };
        let callback_url = callback_url
            .map(|url| super::submit::callback_url(state, &url))
            .transpose()?;
        Ok(Self { mode, callback_url })
    }
}

/// Accepts a JSON body: read whole (it is bounded by its own limit), its
/// items counted without being built, then handed over one at a time and
/// accepted in batches (see [`super::json_import`]).
async fn from_json(state: &AppState, query: ImportQuery, body: Body) -> Result<Opened, ApiError> {
    let limit = state.import_limits.max_json_bytes;
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::InvalidRequest(format!("the body could not be read: {e}")))?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(ApiError::InvalidRequest(format!(
                "a JSON import body may hold at most {limit} bytes (AVATARS_IMPORT_MAX_JSON_BYTES); send larger imports as application/x-ndjson, which is read as a stream"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    let outline = json_import::outline(&bytes).map_err(|e| {
        ApiError::InvalidRequest(format!(
            "the body is not {{\"items\": [{{\"userId\", \"avatarUrl\"}}, ...], \"mode\"?, \"callbackUrl\"?}}: {e}"
        ))
    })?;
    let options = Options::read(
        state,
        outline.mode.or(query.mode),
        outline.callback_url.or(query.callback_url),
    )?;
    if outline.items == 0 {
        return Err(no_items());
    }
    if outline.items > state.import_limits.max_items {
        return Err(too_many(state.import_limits.max_items));
    }
    let mut import = Import::new(state, options);
    // The items are read on a blocking thread and come over a short queue,
    // so only a few are built at once.
    let (sender, mut items) = tokio::sync::mpsc::channel::<Value>(BATCH * 2);
    let reader = tokio::task::spawn_blocking(move || {
        json_import::each_item(&bytes, |item| sender.blocking_send(item).is_ok())
    });
    let mut index = 0;
    while let Some(item) = items.recv().await {
        if let Err(e) = import.push(read_item(index, Ok(item))).await {
            drop(items);
            let _ = reader.await;
            return import.abort(e).await;
        }
        index += 1;
    }
    match reader.await {
        Ok(Ok(())) => import.finish().await,
        Ok(Err(e)) => {
            let error = ApiError::InvalidRequest(format!("the body could not be read: {e}"));
            import.abort(error).await
        }
        Err(e) => {
            let error = ApiError::Unavailable(format!("reading the import's items failed: {e}"));
            import.abort(error).await
        }
    }
}

/// Accepts an NDJSON body line by line as it arrives.
async fn from_ndjson(state: &AppState, query: ImportQuery, body: Body) -> Result<Opened, ApiError> {
    let options = Options::read(state, query.mode, query.callback_url)?;
    let limits = state.import_limits;
    // The whole body first, to a file: an import over a limit is refused
    // before anything of it is stored.
    let spooled = spool(body, limits).await?;
    let mut import = Import::new(state, options);
    let mut stream = tokio_util::io::ReaderStream::with_capacity(spooled, SPOOL_READ);
    let mut lines = LineSplitter::new(MAX_LINE_BYTES);
    let mut index = 0u64;
    loop {
        let chunk = match stream.next().await {
            Some(Ok(chunk)) => Some(chunk),
            Some(Err(e)) => {
                return import
                    .abort(ApiError::unavailable(format!(
                        "cannot read the spooled import body: {e}"
                    )))
                    .await;
            }
            None => None,
        };
        let found = match &chunk {
            Some(chunk) => lines.push(chunk),
            None => lines.finish(),
        };
        for line in found {
            let value = match line {
                Line::Text(text) if is_blank(&text) => continue,
                Line::Text(text) => serde_json::from_slice::<Value>(&text)
                    .map_err(|e| format!("line {} is not JSON: {e}", index + 1)),
                Line::TooLong => Err(format!(
                    "line {} is longer than {MAX_LINE_BYTES} bytes",
                    index + 1
                )),
            };
            if let Err(e) = import.push(read_item(index, value)).await {
                return import.abort(e).await;
            }
            index += 1;
        }
        if chunk.is_none() {
            break;
        }
    }
    import.finish().await
}

/// Bytes read from a spooled body at a time.
const SPOOL_READ: usize = 64 * 1024;

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Writes `body` to an unlinked file in the temporary folder while
/// counting its items, and returns the file at its start: a body over
/// `AVATARS_IMPORT_MAX_BYTES`, with more than `AVATARS_IMPORT_MAX_ITEMS`
/// items or with none is refused here, before anything is stored. The
/// file is gone when it is closed; a full disk is a 503.
async fn spool(body: Body, limits: ImportLimits) -> Result<tokio::fs::File, ApiError> {
    use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};
    let path = std::env::temp_dir().join(format!("avatar-import-{}", ImportId::generate()));
    let file = tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .await
        .map_err(|e| {
            ApiError::unavailable(format!("cannot spool an import to {}: {e}", path.display()))
        })?;
    // Unlinked at once: nothing is left behind, whatever happens next.
    let _ = tokio::fs::remove_file(&path).await;
    let mut file = tokio::io::BufWriter::with_capacity(SPOOL_READ, file);
    let mut stream = body.into_data_stream();
    let mut lines = LineSplitter::new(MAX_LINE_BYTES);
    let (mut received, mut items) = (0u64, 0u64);
    let mut count = |found: Vec<Line>| -> Result<(), ApiError> {
        for line in found {
            if matches!(&line, Line::Text(text) if is_blank(text)) {
                continue;
            }
            items += 1;
            if items > limits.max_items {
                return Err(too_many(limits.max_items));
            }
        }
        Ok(())
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::InvalidRequest(format!("the body could not be read: {e}")))?;
        received += chunk.len() as u64;
        if received > limits.max_ndjson_bytes {
            return Err(ApiError::PayloadTooLarge {
                limit: limits.max_ndjson_bytes,
            });
        }
        count(lines.push(&chunk))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::unavailable(format!("cannot spool an import: {e}")))?;
    }
    count(lines.finish())?;
    if items == 0 {
        return Err(no_items());
    }
    file.flush()
        .await
        .map_err(|e| ApiError::unavailable(format!("cannot spool an import: {e}")))?;
    let mut file = file.into_inner();
    file.rewind()
        .await
        .map_err(|e| ApiError::unavailable(format!("cannot read a spooled import: {e}")))?;
    Ok(file)
}

/// An import being accepted: its record is created with the first batch.
/// One dropped before it was sealed (the client went away, the server is
/// stopping) is cancelled in the background, so it cannot stay open.
struct Import<'a> {
    state: &'a AppState,
    id: ImportId,
    options: Options,
    opened: bool,
    /// Sealed, or cancelled and sealed: nothing is left to do on drop.
    settled: bool,
    batch: Vec<ImportEntry>,
}

impl<'a> Import<'a> {
    fn new(state: &'a AppState, options: Options) -> Self {
        Self {
            state,
            id: ImportId::generate(),
            options,
            opened: false,
            settled: false,
            batch: Vec::with_capacity(BATCH),
        }
    }

    async fn push(&mut self, entry: ImportEntry) -> Result<(), ApiError> {
        self.batch.push(entry);
        if self.batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        let queue = &self.state.queue;
        if !self.opened {
            let callback = self.options.callback_url.as_ref();
            queue
                .open_import(
                    &self.id,
                    self.options.mode,
                    callback.map(|url| url.as_url().as_str()),
                )
                .await?;
            self.opened = true;
        }
        if !self.batch.is_empty() {
            queue.add_import_items(&self.id, &self.batch).await?;
            self.batch.clear();
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<Opened, ApiError> {
        if let Err(e) = self.flush().await {
            return self.abort(e).await;
        }
        let total = match self.state.queue.seal_import(&self.id).await {
            Ok(total) => total,
            Err(e) => return self.abort(e.into()).await,
        };
        self.settled = true;
        tracing::info!(import_id = %self.id, total, mode = %self.options.mode, "import accepted");
        Ok(Opened { id: self.id, total })
    }

    /// Refuses the import with `error`: what was accepted of it is
    /// cancelled, so nothing more of it starts.
    async fn abort<T>(mut self, error: ApiError) -> Result<T, ApiError> {
        if self.opened {
            self.settled = true;
            let cancelled = cancel_and_seal(&self.state.queue, &self.id).await;
            match cancelled {
                Ok(()) => {
                    tracing::warn!(import_id = %self.id, error = %error, "import refused part-way; its accepted items are cancelled")
                }
                Err(e) => {
                    tracing::error!(import_id = %self.id, error = %e, "import refused part-way, and its accepted items could not be cancelled")
                }
            }
        }
        Err(error)
    }
}

impl Drop for Import<'_> {
    fn drop(&mut self) {
        if !self.opened || self.settled {
            return;
        }
        let (queue, id) = (self.state.queue.clone(), self.id);
        tokio::spawn(async move {
            match cancel_and_seal(&queue, &id).await {
                Ok(()) => {
                    tracing::warn!(import_id = %id, "import body not read to its end; its accepted items are cancelled")
                }
                Err(e) => {
                    tracing::error!(import_id = %id, error = %e, "import body not read to its end, and its accepted items could not be cancelled")
                }
            }
        });
    }
}

/// Cancels what was accepted of an import and closes it, so that it ends.
async fn cancel_and_seal(
    queue: &avatar_common::queue::JobQueue,
    id: &ImportId,
) -> Result<(), avatar_common::queue::QueueError> {
    queue.cancel_import(id).await?;
    queue.seal_import(id).await.map(drop)
}

/// Reads item `index`: a valid item becomes a job; anything else fails
/// alone, with what to fix.
fn read_item(index: u64, value: Result<Value, String>) -> ImportEntry {
    let invalid = |user_id: Option<String>, avatar_url: Option<String>, message: String| {
        ImportEntry::Invalid(ImportFailure {
            index,
            user_id,
            avatar_url,
            error: ImportError {
                code: "invalid_request".into(),
                message,
            },
        })
    };
    let object = match value {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return invalid(
                None,
                None,
                "an item must be an object {\"userId\", \"avatarUrl\"}".into(),
            );
        }
        Err(message) => return invalid(None, None, message),
    };
    let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
    let (user_id, avatar_url) = (text("userId"), text("avatarUrl"));
    let user = match user_id.as_deref().map(str::parse::<UserId>) {
        Some(Ok(user)) => user,
        Some(Err(e)) => return invalid(user_id, avatar_url, format!("userId: {e}")),
        None => {
            return invalid(user_id, avatar_url, "the item has no userId string".into());
        }
    };
    let url = match avatar_url.as_deref().map(str::parse::<SourceUrl>) {
        Some(Ok(url)) => url,
        Some(Err(e)) => return invalid(user_id, avatar_url, format!("avatarUrl: {e}")),
        None => {
            return invalid(
                user_id,
                avatar_url,
                "the item has no avatarUrl string".into(),
            );
        }
    };
    ImportEntry::Valid { index, user, url }
}

fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "imports need the {ADMIN_SCOPE} scope"
        )))
    }
}

fn parse_id(text: &str) -> Result<ImportId, ApiError> {
    text.parse()
        .map_err(|e: avatar_common::import_id::InvalidImportId| {
            ApiError::InvalidRequest(e.to_string())
        })
}

fn no_such_import(id: &ImportId) -> ApiError {
    ApiError::NotFound(format!("no import {id}"))
}

fn no_items() -> ApiError {
    ApiError::InvalidRequest("the import has no items; send at least one".into())
}

fn too_many(limit: u64) -> ApiError {
    ApiError::TooManyItems { limit }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(entry: ImportEntry) -> ImportFailure {
        match entry {
            ImportEntry::Invalid(failure) => failure,
            ImportEntry::Valid { .. } => panic!("accepted"),
        }
    }

    #[test]
    fn a_valid_item_becomes_a_job_and_a_bad_one_says_what_is_wrong() {
        let valid = read_item(
            0,
            Ok(serde_json::json!({"userId": "u1", "avatarUrl": "https://example.com/a.png"})),
        );
        assert!(matches!(valid, ImportEntry::Valid { index: 0, .. }));

        let bad_user = failure(read_item(
            3,
            Ok(
                serde_json::json!({"userId": "no spaces", "avatarUrl": "https://example.com/a.png"}),
            ),
        ));
        assert_eq!(bad_user.index, 3);
        assert_eq!(bad_user.error.code, "invalid_request");
        assert!(
            bad_user.error.message.starts_with("userId:"),
            "{bad_user:?}"
        );
        assert_eq!(bad_user.user_id.as_deref(), Some("no spaces"));

        let bad_url = failure(read_item(
            4,
            Ok(serde_json::json!({"userId": "u1", "avatarUrl": "ftp://example.com/a.png"})),
        ));
        assert!(
            bad_url.error.message.starts_with("avatarUrl:"),
            "{bad_url:?}"
        );

        let not_object = failure(read_item(5, Ok(serde_json::json!([1, 2]))));
        assert!(
            not_object.error.message.contains("object"),
            "{not_object:?}"
        );
    }
}
