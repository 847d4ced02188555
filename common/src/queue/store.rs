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
use crate::{Job, JobFailure, JobId, JobRecord, JobStatus, ObjectKey, UserId};

static ENQUEUE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("enqueue.lua")));
static COMPLETE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("complete.lua")));
static FAIL: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("fail.lua")));

/// A job the queue accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The acceptance stamp: unix ms, strictly increasing per user.
    pub stamp: u64,
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

    /// Records `job` as queued and adds it to the stream.
    pub async fn enqueue(&self, job: &Job) -> Result<Accepted, QueueError> {
        let payload = serde_json::to_string(job)
            .map_err(|e| QueueError::Corrupt(format!("cannot encode job: {e}")))?;
        let mut conn = self.conn.clone();
        let stamp: u64 = ENQUEUE
            .key(self.keys.user(&job.user))
            .key(self.keys.job(&job.id))
            .key(self.keys.stream())
            .arg(job.id.to_string())
            .arg(job.user.as_str())
            .arg(now_ms())
            .arg(payload)
            .arg(now_us())
            .invoke_async(&mut conn)
            .await?;
        Ok(Accepted { stamp })
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

    /// Marks the job as being processed and counts the attempt; returns the
    /// number of attempts so far, this one included.
    pub async fn start(&self, id: &JobId) -> Result<u32, QueueError> {
        let mut conn = self.conn.clone();
        let key = self.keys.job(id);
        let (attempts,): (u32,) = redis::pipe()
            .atomic()
            .hset(&key, "status", JobStatus::Processing.as_str())
            .ignore()
            .hset(&key, "updated", now_ms())
            .ignore()
            .hset(&key, "started_us", now_us())
            .ignore()
            .hincr(&key, "attempts", 1)
            .query_async(&mut conn)
            .await?;
        Ok(attempts)
    }

    /// Records the job as completed with its avatar at `key`, makes that the
    /// user's current avatar unless a later-accepted one already is, and
    /// acknowledges the stream entry. Returns the key of the avatar it
    /// replaced, if it replaced one.
    pub async fn complete(
        &self,
        job: &Job,
        entry: &str,
        stamp: u64,
        key: &ObjectKey,
    ) -> Result<Option<ObjectKey>, QueueError> {
        let mut conn = self.conn.clone();
        let replaced: Option<String> = COMPLETE
            .key(self.keys.job(&job.id))
            .key(self.keys.user(&job.user))
            .key(self.keys.stream())
            .arg(CONSUMER_GROUP)
            .arg(entry)
            .arg(stamp)
            .arg(key.as_str())
            .arg(now_ms())
            .arg(self.record_ttl.as_secs())
            .arg(job.id.to_string())
            .arg(self.keys.finished_channel())
            .invoke_async(&mut conn)
            .await?;
        Ok(replaced.and_then(|k| ObjectKey::try_from(k).ok()))
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
