//! The import side of [`JobQueue`]: opening an import, adding its items in
//! batches, sealing, cancelling and reading it back.

use std::collections::HashMap;

use redis::AsyncCommands;

use super::store::{now_ms, now_us};
use super::{JobQueue, QueueError};
use crate::imports::{ImportFailure, ImportItem, ImportMode, ImportRecord, field};
use crate::jobs::context::ImportContext;
use crate::jobs::outcome::CancelOutcome;
use crate::jobs::scripts::{ImportCancel, ImportItems, ImportSeal, LeadScript};
use crate::jobs::{JobSource, Lane};
use crate::{ImportId, Job, JobId, ObjectKey, SourceUrl, UserId};

/// One item of an import, as the API read it.
#[derive(Debug, Clone)]
pub enum ImportEntry {
    /// A valid item: it becomes a job of the bulk lane.
    Valid {
        index: u64,
        user: UserId,
        url: SourceUrl,
    },
    /// An item that cannot be imported; it fails at once.
    Invalid(ImportFailure),
}

/// A page of an import's failed items.
#[derive(Debug, Clone)]
pub struct FailuresPage {
    pub items: Vec<ImportFailure>,
    /// The index to read the next page from, if there is one.
    pub next: Option<u64>,
}

impl JobQueue {
    /// Creates the record of a new import, open for items until sealed.
    pub async fn open_import(
        &self,
        id: &ImportId,
        mode: ImportMode,
        callback: Option<&str>,
    ) -> Result<(), QueueError> {
        let now = now_ms().to_string();
        let id_text = id.to_string();
        let mut fields: Vec<(&str, &str)> = vec![
            (field::ID, &id_text),
            (field::STATUS, "running"),
            (field::MODE, mode.as_str()),
            (field::CREATED, &now),
            (field::UPDATED, &now),
            (field::OPEN, "1"),
        ];
        for count in [
            field::TOTAL,
            field::QUEUED,
            field::PROCESSING,
            field::COMPLETED,
            field::FAILED,
            field::SKIPPED,
            field::CANCELLED,
        ] {
            fields.push((count, "0"));
        }
        if let Some(url) = callback {
            fields.push((field::CALLBACK, url));
        }
        let mut conn = self.connection();
        let _: () = conn.hset_multiple(self.keys().import(id), &fields).await?;
        Ok(())
    }

    /// Accepts `entries`, in index order, into the open import `id`;
    /// returns how many became jobs.
    pub async fn add_import_items(
        &self,
        id: &ImportId,
        entries: &[ImportEntry],
    ) -> Result<u64, QueueError> {
        let keys = self.keys();
        let (mut invalid, mut valid, mut item_keys) = (Vec::new(), Vec::new(), Vec::new());
        for entry in entries {
            match entry {
                ImportEntry::Valid { index, user, url } => {
                    let job = Job {
                        id: JobId::generate(),
                        user: user.clone(),
                        source: JobSource::Url { url: url.clone() },
                        lane: Lane::Bulk,
                        import: Some(ImportItem {
                            id: *id,
                            index: *index,
                        }),
                    };
                    let json = serde_json::to_string(&job)
                        .map_err(|e| QueueError::Corrupt(format!("cannot encode job: {e}")))?;
                    let url = url.as_url().as_str();
                    item_keys.extend([
                        keys.user(user),
                        keys.job(&job.id),
                        keys.import_after(id, url),
                    ]);
                    valid.extend([
                        index.to_string(),
                        job.id.to_string(),
                        user.as_str().to_owned(),
                        json,
                        url.to_owned(),
                    ]);
                }
                ImportEntry::Invalid(failure) => {
                    let json = serde_json::to_string(failure).map_err(|e| {
                        QueueError::Corrupt(format!("cannot encode a failure: {e}"))
                    })?;
                    invalid.extend([failure.index.to_string(), json]);
                }
            }
        }
        let count = invalid.len() / 2;
        invalid.extend(valid);
        let jobs = ImportItems {
            import: &keys.import(id),
            stream: &keys.stream(Lane::Bulk),
            failures: &keys.import_failures(id),
            urls: &keys.import_urls(id),
            import_id: &id.to_string(),
            now_ms: now_ms(),
            now_us: now_us(),
            invalid: count,
            item_keys: &item_keys,
            items: &invalid,
        }
        .invoke(&mut self.connection())
        .await?;
        self.replicated().await?;
        Ok(jobs)
    }

    /// Closes the import `id` to new items; returns its total.
    pub async fn seal_import(&self, id: &ImportId) -> Result<u64, QueueError> {
        Ok(ImportSeal {}
            .invoke(&self.import_context(id), &mut self.connection())
            .await?)
    }

    /// Cancels the import's items not yet started; `false` when there is
    /// no such import.
    pub async fn cancel_import(&self, id: &ImportId) -> Result<bool, QueueError> {
        let outcome = ImportCancel {}
            .invoke(&self.import_context(id), &mut self.connection())
            .await?;
        Ok(outcome == CancelOutcome::Cancelled)
    }

    fn import_context(&self, id: &ImportId) -> ImportContext {
        ImportContext::new(
            self.keys(),
            id,
            now_ms(),
            self.record_ttl().as_secs(),
            self.hook_url(),
        )
    }

    /// The record of import `id`, if it exists.
    pub async fn import_record(&self, id: &ImportId) -> Result<Option<ImportRecord>, QueueError> {
        let mut conn = self.connection();
        let fields: HashMap<String, String> = conn.hgetall(self.keys().import(id)).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        ImportRecord::parse(fields)
            .map(Some)
            .map_err(QueueError::Corrupt)
    }

    /// Up to `limit` failed items of import `id` from index `from` on, in
    /// index order.
    pub async fn import_failures(
        &self,
        id: &ImportId,
        from: u64,
        limit: usize,
    ) -> Result<FailuresPage, QueueError> {
        let mut conn = self.connection();
        let listed: Vec<(String, f64)> = conn
            .zrangebyscore_limit_withscores(
                self.keys().import_failures(id),
                from as f64,
                "+inf",
                0,
                limit as isize + 1,
            )
            .await?;
        let next = listed.get(limit).map(|(_, score)| *score as u64);
        let items = listed
            .into_iter()
            .take(limit)
            .map(|(json, _)| {
                serde_json::from_str::<ImportFailure>(&json)
                    .map_err(|e| QueueError::Corrupt(format!("an import failure: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(FailuresPage { items, next })
    }

    /// The avatar an earlier item of the import stored from `url`, for a
    /// later item to copy; `None` when there is none yet.
    pub async fn imported_avatar(
        &self,
        id: &ImportId,
        url: &SourceUrl,
    ) -> Result<Option<ObjectKey>, QueueError> {
        let mut conn = self.connection();
        let first: Option<String> = conn
            .hget(self.keys().import_urls(id), url.as_url().as_str())
            .await?;
        Ok(first
            .and_then(|value| value.strip_prefix('=').map(str::to_owned))
            .and_then(|key| ObjectKey::try_from(key).ok()))
    }
}
