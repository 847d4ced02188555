//! The import side of [`JobQueue`]: opening an import, adding its items in
//! batches, sealing, cancelling and reading it back.

use std::collections::HashMap;

use redis::AsyncCommands;
use redis::streams::{StreamInfoGroupsReply, StreamRangeReply};

use super::keys::{CONSUMER_GROUP, DrainWork};
use super::store::{now_ms, now_us};
use super::{JobQueue, QueueError};
use crate::avatar::StoredAvatar;
use crate::imports::{ImportFailure, ImportItem, ImportMode, ImportRecord, field};
use crate::jobs::context::ImportContext;
use crate::jobs::outcome::CancelOutcome;
use crate::jobs::record::entry_field;
use crate::jobs::scripts::{
    ImportCancel, ImportCancelScan, ImportDrain, ImportItems, ImportSeal, LeadScript,
};
use crate::jobs::{ITEM_BATCH, JobSource, Lane};
use crate::{ImportId, Job, JobId, SourceUrl, UserId};

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
                        request_id: None,
                        crop: None,
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
                    let json = serde_json::to_string(&failure.clone().clipped()).map_err(|e| {
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
        self.drain_due().notify_one();
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

    /// Does up to `batches` batches of the work the import scripts left
    /// to the drain (see [`DrainWork`]), oldest first; returns how many
    /// it did. Each batch is one script over at most [`ITEM_BATCH`] items,
    /// so Redis serves others between them; several workers draining at
    /// once is safe, a batch whose list changed meanwhile doing nothing.
    pub async fn drain_imports(&self, batches: usize) -> Result<usize, QueueError> {
        let mut done = 0;
        while done < batches {
            let mut conn = self.connection();
            let oldest: Vec<String> = conn.zrange(self.keys().drain(), 0, 0).await?;
            let Some(member) = oldest.into_iter().next() else {
                break;
            };
            match DrainWork::parse(&member) {
                Some(DrainWork::After { import, url }) => {
                    self.drain_after(&import, url, &member).await?;
                }
                Some(DrainWork::Cancel { import }) => self.drain_cancel(&import, &member).await?,
                None => {
                    tracing::error!(%member, "dropping unreadable import work");
                    let _: i64 = conn.zrem(self.keys().drain(), &member).await?;
                }
            }
            done += 1;
        }
        Ok(done)
    }

    /// One batch of the items waiting behind `url` in import `id`.
    async fn drain_after(&self, id: &ImportId, url: &str, member: &str) -> Result<(), QueueError> {
        let keys = self.keys();
        let after = keys.import_after(id, url);
        let mut conn = self.connection();
        let ids: Vec<String> = conn.lrange(&after, 0, ITEM_BATCH as isize - 1).await?;
        let records = ids
            .iter()
            .map(|job| {
                job.parse::<JobId>()
                    .map(|job| keys.job(&job))
                    .map_err(|e| QueueError::Corrupt(format!("a waiting item's id: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let outcome = ImportDrain {
            import_after: &after,
            stream: &keys.stream(Lane::Bulk),
            url,
            member,
            records: &records,
            ids: &ids,
        }
        .invoke(&self.import_context(id), &mut conn)
        .await?;
        tracing::debug!(import_id = %id, items = ids.len(), ?outcome, "drained items waiting behind a URL");
        Ok(())
    }

    /// One batch of the cancelled import `id`'s entries in the bulk
    /// stream: read past its cursor and past the entries already
    /// delivered to a worker.
    async fn drain_cancel(&self, id: &ImportId, member: &str) -> Result<(), QueueError> {
        let keys = self.keys();
        let stream = keys.stream(Lane::Bulk);
        let mut conn = self.connection();
        let cursor: Option<String> = conn.hget(keys.import(id), field::CANCEL_CURSOR).await?;
        let groups: StreamInfoGroupsReply = conn.xinfo_groups(&stream).await?;
        let delivered = groups
            .groups
            .into_iter()
            .find(|g| g.name == CONSUMER_GROUP)
            .map(|g| g.last_delivered_id);
        let start = [cursor, delivered]
            .into_iter()
            .flatten()
            .max_by_key(|entry| entry_order(entry))
            .unwrap_or_else(|| "0-0".to_owned());
        let read: StreamRangeReply = conn
            .xrange_count(&stream, format!("({start}"), "+", ITEM_BATCH)
            .await?;
        let (mut records, mut items) = (Vec::new(), Vec::new());
        for entry in &read.ids {
            let job = entry
                .get::<String>(entry_field::JOB)
                .and_then(|json| serde_json::from_str::<Job>(&json).ok());
            let Some(job) = job else { continue };
            let (Some(item), JobSource::Url { url }) = (&job.import, &job.source) else {
                continue;
            };
            if item.id != *id {
                continue;
            }
            records.push(keys.job(&job.id));
            items.extend([
                entry.id.clone(),
                job.id.to_string(),
                url.as_url().as_str().to_owned(),
            ]);
        }
        let cursor = read.ids.last().map_or(start, |entry| entry.id.clone());
        let outcome = ImportCancelScan {
            stream: &stream,
            import_id: &id.to_string(),
            member,
            cursor: &cursor,
            done: if read.ids.len() < ITEM_BATCH {
                "1"
            } else {
                "0"
            },
            records: &records,
            items: &items,
        }
        .invoke(&self.import_context(id), &mut conn)
        .await?;
        tracing::debug!(import_id = %id, read = read.ids.len(), deleted = records.len(), ?outcome, "drained a cancelled import's entries");
        Ok(())
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
    /// later item to copy; `None` when there is none yet. An avatar listed
    /// before sides were made has the one side `fallback_side`.
    pub async fn imported_avatar(
        &self,
        id: &ImportId,
        url: &SourceUrl,
        fallback_side: u32,
    ) -> Result<Option<StoredAvatar>, QueueError> {
        let mut conn = self.connection();
        let first: Option<String> = conn
            .hget(self.keys().import_urls(id), url.as_url().as_str())
            .await?;
        Ok(first
            .as_deref()
            .and_then(|value| value.strip_prefix('='))
            .and_then(|avatar| StoredAvatar::parse_joined(avatar, fallback_side).ok()))
    }
}

/// The order of stream entry ids (`ms-seq`); an unreadable one sorts first.
fn entry_order(entry: &str) -> (u64, u64) {
    let (ms, seq) = entry.split_once('-').unwrap_or((entry, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}
