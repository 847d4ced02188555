//! `JobQueue`: accepting jobs, reading their records and the current avatar,
//! and recording how they ended.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::keys::CONSUMER_GROUP;
use super::{Keys, QueueError};
use crate::job::FailureCode;
use crate::{IdempotencyKey, Job, JobFailure, JobId, JobRecord, JobStatus, ObjectKey, UserId};

static ENQUEUE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("enqueue.lua")));
static COMPLETE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("complete.lua")));
static FAIL: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("fail.lua")));
static RETRY: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("retry.lua")));
static REQUEUE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("requeue.lua")));

/// A job the queue accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The job: the one enqueued, or the earlier one of a repeated
    /// idempotency key.
    pub id: JobId,
    /// The acceptance stamp: unix ms, strictly increasing per user; 0 for a
    /// repeat.
    pub stamp: u64,
    /// Whether an earlier job with the same idempotency key was returned.
    pub repeated: bool,
}

/// A job a worker has begun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// How many earlier attempts ended in a scheduled retry; the others were
    /// interrupted (their worker died) or are this one.
    pub retries: u32,
    /// How long since the job was accepted.
    pub waited: Duration,
    /// When the retry budget started to run (unix ms): the acceptance, or
    /// the last time an operator queued the job again.
    pub retry_from: u64,
}

/// A user's current avatar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentAvatar {
    pub key: ObjectKey,
    pub stamp: u64,
}

/// The queue and status store, over one multiplexed Redis connection.
#[derive(Clone)]
pub struct JobQueue {
    conn: ConnectionManager,
    keys: Keys,
    record_ttl: Duration,
}

impl JobQueue {
    /// A queue on `conn` under the key prefix of `keys`. Records of ended
    /// jobs expire after `record_ttl`.
    pub fn new(conn: ConnectionManager, keys: Keys, record_ttl: Duration) -> Self {
        Self {
            conn,
            keys,
            record_ttl,
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Creates the stream and its consumer group if they do not exist.
    pub async fn ensure_group(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let created: Result<(), _> = conn
            .xgroup_create_mkstream(self.keys.stream(), CONSUMER_GROUP, "0")
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => Ok(other?),
        }
    }

    /// Whether Redis answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Records `job` as queued and adds it to the stream; with an
    /// idempotency key seen before for the same user (within
    /// `idempotency_ttl`), returns the earlier job instead.
    pub async fn enqueue(
        &self,
        job: &Job,
        idempotency: Option<(&IdempotencyKey, Duration)>,
    ) -> Result<Accepted, QueueError> {
        let payload = serde_json::to_string(job)
            .map_err(|e| QueueError::Corrupt(format!("cannot encode job: {e}")))?;
        let (idem_key, idem_value, idem_ttl) = match idempotency {
            Some((key, ttl)) => (
                self.keys.idempotency(&job.user, key),
                key.as_str().to_owned(),
                ttl.as_secs().max(1),
            ),
            None => (self.keys.job(&job.id), String::new(), 0),
        };
        let mut conn = self.conn.clone();
        let (stamp, id): (u64, String) = ENQUEUE
            .key(self.keys.user(&job.user))
            .key(self.keys.job(&job.id))
            .key(self.keys.stream())
            .key(idem_key)
            .arg(job.id.to_string())
            .arg(job.user.as_str())
            .arg(now_ms())
            .arg(payload)
            .arg(now_us())
            .arg(idem_value)
            .arg(idem_ttl)
            .invoke_async(&mut conn)
            .await?;
        let id = id
            .parse::<JobId>()
            .map_err(|e| QueueError::Corrupt(e.to_string()))?;
        Ok(Accepted {
            id,
            stamp,
            repeated: stamp == 0,
        })
    }

    /// The record of job `id`, if it exists.
    pub async fn record(&self, id: &JobId) -> Result<Option<JobRecord>, QueueError> {
        let mut conn = self.conn.clone();
        let fields: HashMap<String, String> = conn.hgetall(self.keys.job(id)).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_record(fields).map(Some)
    }

    /// The user's current avatar, if any.
    pub async fn current_avatar(&self, user: &UserId) -> Result<Option<CurrentAvatar>, QueueError> {
        let mut conn = self.conn.clone();
        let (key, stamp): (Option<String>, Option<u64>) = redis::cmd("HMGET")
            .arg(self.keys.user(user))
            .arg("key")
            .arg("stamp")
            .query_async(&mut conn)
            .await?;
        match (key, stamp) {
            (Some(key), Some(stamp)) => {
                let key =
                    ObjectKey::try_from(key).map_err(|e| QueueError::Corrupt(e.to_string()))?;
                Ok(Some(CurrentAvatar { key, stamp }))
            }
            _ => Ok(None),
        }
    }

    /// Marks the job as being processed and counts the attempt.
    pub async fn start(&self, id: &JobId) -> Result<Started, QueueError> {
        let mut conn = self.conn.clone();
        let key = self.keys.job(id);
        let (attempts, retries, retry_from, accepted_us): (
            u32,
            Option<u32>,
            Option<u64>,
            Option<u64>,
        ) = redis::pipe()
            .atomic()
            .hset(&key, "status", JobStatus::Processing.as_str())
            .ignore()
            .hset(&key, "updated", now_ms())
            .ignore()
            .hset(&key, "started_us", now_us())
            .ignore()
            .hincr(&key, "attempts", 1)
            .hget(&key, "retries")
            .hget(&key, "retry_from")
            .hget(&key, "accepted_us")
            .query_async(&mut conn)
            .await?;
        Ok(Started {
            attempts,
            retries: retries.unwrap_or(0),
            waited: Duration::from_micros(now_us().saturating_sub(accepted_us.unwrap_or(u64::MAX))),
            retry_from: retry_from.unwrap_or_else(|| id.timestamp_ms()),
        })
    }

    /// Records the job as completed with its avatar at `key`, makes that the
    /// user's current avatar unless a later-accepted one already is, and
    /// acknowledges the stream entry. The avatar that is not current after
    /// this (the one replaced, or this one if a later one is current) is
    /// scheduled for deletion `retention` from now. Returns whether this
    /// avatar became current.
    pub async fn complete(
        &self,
        job: &Job,
        entry: &str,
        stamp: u64,
        key: &ObjectKey,
        retention: Duration,
    ) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let now = now_ms();
        let promoted: u8 = COMPLETE
            .key(self.keys.job(&job.id))
            .key(self.keys.user(&job.user))
            .key(self.keys.stream())
            .key(self.keys.garbage_set())
            .arg(CONSUMER_GROUP)
            .arg(entry)
            .arg(stamp)
            .arg(key.as_str())
            .arg(now)
            .arg(self.record_ttl.as_secs())
            .arg(job.id.to_string())
            .arg(self.keys.finished_channel())
            .arg(now + retention.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        Ok(promoted == 1)
    }

    /// Records the job as failed and acknowledges its stream entry.
    pub async fn fail(
        &self,
        job: &JobId,
        entry: &str,
        failure: &JobFailure,
    ) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: i64 = FAIL
            .key(self.keys.job(job))
            .key(self.keys.stream())
            .key(self.keys.failed_set())
            .arg(CONSUMER_GROUP)
            .arg(entry)
            .arg(failure.code.as_str())
            .arg(&failure.message)
            .arg(now_ms())
            .arg(self.record_ttl.as_secs())
            .arg(job.to_string())
            .arg(self.keys.finished_channel())
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Takes the job off the stream to run again after `delay`.
    pub async fn retry_later(
        &self,
        job: &JobId,
        entry: &str,
        delay: Duration,
        reason: &str,
    ) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let now = now_ms();
        let _: i64 = RETRY
            .key(self.keys.job(job))
            .key(self.keys.stream())
            .key(self.keys.retry_set())
            .arg(CONSUMER_GROUP)
            .arg(entry)
            .arg(now + delay.as_millis() as u64)
            .arg(job.to_string())
            .arg(now)
            .arg(reason)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Puts retries that are due back on the stream; returns how many.
    pub async fn promote_due_retries(&self, limit: usize) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let due: Vec<String> = conn
            .zrangebyscore_limit(self.keys.retry_set(), "-inf", now_ms(), 0, limit as isize)
            .await?;
        self.requeue(&self.keys.retry_set(), "retry", &due).await
    }

    /// Puts failed jobs back on the stream: those that failed on the
    /// service's own faults (`unavailable`), or every failed job with
    /// `all`. Returns how many.
    pub async fn requeue_failed(&self, all: bool) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let failed: Vec<String> = conn.zrange(self.keys.failed_set(), 0, -1).await?;
        let mut chosen = Vec::new();
        for id in failed {
            let code: Option<String> = conn
                .hget(format!("{}{id}", self.keys.job_prefix()), "error_code")
                .await?;
            if all || code.as_deref() == Some(FailureCode::Unavailable.as_str()) {
                chosen.push(id);
            }
        }
        let mut moved = 0;
        for batch in chosen.chunks(100) {
            moved += self
                .requeue(&self.keys.failed_set(), "failed", batch)
                .await?;
        }
        Ok(moved)
    }

    async fn requeue(&self, set: &str, kind: &str, ids: &[String]) -> Result<u64, QueueError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn.clone();
        Ok(REQUEUE
            .key(self.keys.stream())
            .key(set)
            .arg(kind)
            .arg(self.keys.job_prefix())
            .arg(now_ms())
            .arg(ids)
            .invoke_async(&mut conn)
            .await?)
    }

    /// Object keys whose deletion is due.
    pub async fn due_garbage(&self, limit: usize) -> Result<Vec<ObjectKey>, QueueError> {
        let mut conn = self.conn.clone();
        let keys: Vec<String> = conn
            .zrangebyscore_limit(self.keys.garbage_set(), "-inf", now_ms(), 0, limit as isize)
            .await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| ObjectKey::try_from(k).ok())
            .collect())
    }

    /// Forgets a deleted object.
    pub async fn forget_garbage(&self, key: &ObjectKey) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: i64 = conn.zrem(self.keys.garbage_set(), key.as_str()).await?;
        Ok(())
    }

    /// How many jobs wait for a retry.
    pub async fn retry_depth(&self) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        Ok(conn.zcard(self.keys.retry_set()).await?)
    }

    /// How many jobs wait in the stream or are held by workers.
    pub async fn depth(&self) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        Ok(conn.xlen(self.keys.stream()).await?)
    }

    pub(crate) fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

/// Milliseconds since the unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Microseconds since the unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

fn parse_record(mut fields: HashMap<String, String>) -> Result<JobRecord, QueueError> {
    let mut take = |name: &str| {
        fields
            .remove(name)
            .ok_or_else(|| QueueError::Corrupt(format!("job record lacks {name:?}")))
    };
    let corrupt = |e: String| QueueError::Corrupt(e);
    let id = take("id")?
        .parse::<JobId>()
        .map_err(|e| corrupt(e.to_string()))?;
    let user = take("user")?
        .parse::<UserId>()
        .map_err(|e| corrupt(e.to_string()))?;
    let status = take("status")?.parse::<JobStatus>().map_err(corrupt)?;
    let created_at = take("created")?
        .parse::<u64>()
        .map_err(|e| corrupt(e.to_string()))?;
    let updated_at = take("updated")?
        .parse::<u64>()
        .map_err(|e| corrupt(e.to_string()))?;
    let avatar_key = fields
        .remove("key")
        .map(|k| ObjectKey::try_from(k).map_err(|e| corrupt(e.to_string())))
        .transpose()?;
    let error = match (fields.remove("error_code"), fields.remove("error_message")) {
        (Some(code), Some(message)) => Some(JobFailure {
            code: code.parse::<FailureCode>().map_err(corrupt)?,
            message,
        }),
        _ => None,
    };
    Ok(JobRecord {
        id,
        user,
        status,
        avatar_key,
        error,
        created_at,
        updated_at,
    })
}
