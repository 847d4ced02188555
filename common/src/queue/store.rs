//! `JobQueue`: accepting jobs, reading their records and the current avatar,
//! and recording how they ended.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use tokio::sync::Notify;

use super::keys::CONSUMER_GROUP;
use super::{Connection, Keys, QueueError};
use crate::avatar::Sides;
use crate::jobs::outcome::{EnqueueOutcome, PermitOutcome, RateOutcome};
use crate::jobs::record::{field, user_field};
use crate::jobs::scripts::{AcquireHost, Enqueue, PromoteParked, RateLimit, Requeue};
use crate::jobs::{FailureCode, Lane, Started};
use crate::settings::OutboundSettings;
use crate::{IdempotencyKey, Job, JobId, JobRecord, ObjectKey, SourceUrl, UserId};

/// The longest the API waits for replicas to acknowledge an accepted job.
const REPLICA_WAIT: Duration = Duration::from_secs(1);

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

/// What [`JobQueue::start`] did with a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// An attempt began.
    Began(Started),
    /// Its user is at the cap of the fair share: the job was parked until
    /// one of theirs ends, and its entry acknowledged.
    Parked,
    /// An import item whose import was cancelled: it ended so.
    Cancelled,
    /// An import item that may only fill a missing avatar, for a user who
    /// has one: it ended as skipped.
    Skipped,
    /// The job had ended already: the entry was stale (taken over from a
    /// worker that then finished it) and is dropped.
    Ended,
}

/// A user's current avatar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentAvatar {
    pub key: ObjectKey,
    pub stamp: u64,
    /// The sides made of it; `None` for one made before sides were.
    pub sides: Option<Sides>,
    /// Its ThumbHash, base64.
    pub placeholder: Option<String>,
}

/// How many of the job slots one user may hold: a user with `max_running`
/// jobs running has the next ones parked until one ends, so that one user
/// cannot hold every slot while others wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FairShare {
    /// Most jobs one user may run at once; 0: no cap.
    pub max_running: u32,
    /// How long a running job counts against the cap without ending, so
    /// that a worker that died cannot hold a user's share for good.
    pub lease: Duration,
}

impl FairShare {
    /// No cap.
    pub const OFF: Self = Self {
        max_running: 0,
        lease: Duration::ZERO,
    };
}

/// The queue and status store, over one multiplexed Redis connection.
#[derive(Clone)]
pub struct JobQueue {
    conn: Connection,
    keys: Keys,
    record_ttl: Duration,
    fair: FairShare,
    /// The operator's webhook URL, or empty: every event is recorded for it.
    hook_url: String,
    /// Replicas that must hold an accepted job before it counts as
    /// accepted.
    wait_replicas: u32,
    /// Notified when a retry this process scheduled comes due.
    retry_due: Arc<Notify>,
    /// Notified when this process left work to the import drain.
    drain_due: Arc<Notify>,
}

impl JobQueue {
    /// A queue on `conn` under the key prefix of `keys`. Records of ended
    /// jobs expire after `record_ttl`.
    pub fn new(conn: Connection, keys: Keys, record_ttl: Duration) -> Self {
        Self {
            conn,
            keys,
            record_ttl,
            fair: FairShare::OFF,
            hook_url: String::new(),
            wait_replicas: 0,
            retry_due: Arc::new(Notify::new()),
            drain_due: Arc::new(Notify::new()),
        }
    }

    /// The same queue, counting a job as accepted only once `replicas`
    /// replicas hold it.
    pub fn with_wait_replicas(mut self, replicas: u32) -> Self {
        self.wait_replicas = replicas;
        self
    }

    /// Waits until the replicas asked for hold every write made so far on
    /// this queue's connection, for at most [`REPLICA_WAIT`].
    pub(crate) async fn replicated(&self) -> Result<(), QueueError> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let acked: u32 = redis::cmd("WAIT")
            .arg(self.wait_replicas)
            .arg(REPLICA_WAIT.as_millis() as u64)
            .query_async(&mut conn)
            .await?;
        if acked < self.wait_replicas {
            return Err(QueueError::NotReplicated {
                wanted: self.wait_replicas,
                acked,
            });
        }
        Ok(())
    }

    /// The same queue, recording every event for the operator's webhook
    /// URL as the outbound settings name it (none without a secret to
    /// sign with).
    pub fn with_webhooks(mut self, outbound: &OutboundSettings) -> Self {
        self.hook_url = match (&outbound.webhook_url, outbound.webhooks_enabled()) {
            (Some(url), true) => url.clone(),
            _ => String::new(),
        };
        self
    }

    pub(crate) fn hook_url(&self) -> &str {
        &self.hook_url
    }

    /// The same queue, starting jobs under `fair`.
    pub fn with_fair_share(mut self, fair: FairShare) -> Self {
        self.fair = fair;
        self
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Notified when a retry that this process scheduled comes due, so that
    /// it is put back on the stream then rather than at the next look.
    pub fn retry_due(&self) -> &Notify {
        &self.retry_due
    }

    /// Notified when this process left work to the import drain (see
    /// [`Self::drain_imports`]), so that it is done at once rather than at
    /// the next look.
    pub fn drain_due(&self) -> &Notify {
        &self.drain_due
    }

    /// Notifies [`Self::retry_due`] `delay` from now.
    pub(crate) fn wake_when_due(&self, delay: Duration) {
        let due = Arc::clone(&self.retry_due);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            due.notify_one();
        });
    }

    /// Creates each lane's stream and its consumer group if they do not
    /// exist.
    pub async fn ensure_group(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        for lane in Lane::ALL {
            let created: Result<(), _> = conn
                .xgroup_create_mkstream(self.keys.stream(lane), CONSUMER_GROUP, "0")
                .await;
            match created {
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// Whether Redis answers for this deployment's keys: on a cluster, the
    /// node that serves their slot (a PING would ask every node).
    pub async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: bool = conn.exists(self.keys.stream(Lane::Interactive)).await?;
        Ok(())
    }

    /// Records `job` as queued and adds it to the stream; with an
    /// idempotency key seen before for the same user (within
    /// `idempotency_ttl`), returns the earlier job instead.
    pub async fn enqueue(
        &self,
        job: &Job,
        idempotency: Option<(&IdempotencyKey, Duration)>,
        callback: Option<&SourceUrl>,
    ) -> Result<Accepted, QueueError> {
        let payload = serde_json::to_string(job)
            .map_err(|e| QueueError::Corrupt(format!("cannot encode job: {e}")))?;
        let (idempotency_record, idempotency_key, idempotency_ttl_secs) = match idempotency {
            Some((key, ttl)) => (
                self.keys.idempotency(&job.user, key),
                key.as_str(),
                ttl.as_secs().max(1),
            ),
            None => (self.keys.job(&job.id), "", 0),
        };
        let outcome = Enqueue {
            user: &self.keys.user(&job.user),
            job: &self.keys.job(&job.id),
            stream: &self.keys.stream(job.lane),
            idempotency: &idempotency_record,
            job_id: &job.id.to_string(),
            user_id: job.user.as_str(),
            now_ms: now_ms(),
            job_json: &payload,
            now_us: now_us(),
            idempotency_key,
            idempotency_ttl_secs,
            callback_url: callback.map_or("", |url| url.as_url().as_str()),
        }
        .invoke(&mut self.conn.clone())
        .await?;
        self.replicated().await?;
        let (id, stamp) = match outcome {
            EnqueueOutcome::Accepted { stamp } => (job.id, stamp),
            EnqueueOutcome::Repeated { earlier } => (
                earlier
                    .parse::<JobId>()
                    .map_err(|e| QueueError::Corrupt(e.to_string()))?,
                0,
            ),
        };
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
        JobRecord::parse(fields)
            .map(Some)
            .map_err(QueueError::Corrupt)
    }

    /// The user's current avatar, if any.
    pub async fn current_avatar(&self, user: &UserId) -> Result<Option<CurrentAvatar>, QueueError> {
        let mut conn = self.conn.clone();
        let (key, stamp, sides, placeholder): (
            Option<String>,
            Option<u64>,
            Option<String>,
            Option<String>,
        ) = redis::cmd("HMGET")
            .arg(self.keys.user(user))
            .arg(user_field::KEY)
            .arg(user_field::STAMP)
            .arg(user_field::SIDES)
            .arg(user_field::PLACEHOLDER)
            .query_async(&mut conn)
            .await?;
        match (key, stamp) {
            (Some(key), Some(stamp)) => {
                let key =
                    ObjectKey::try_from(key).map_err(|e| QueueError::Corrupt(e.to_string()))?;
                let sides = sides
                    .map(|sides| sides.parse::<Sides>())
                    .transpose()
                    .map_err(|e| QueueError::Corrupt(e.to_string()))?;
                Ok(Some(CurrentAvatar {
                    key,
                    stamp,
                    sides,
                    placeholder: placeholder.filter(|p| !p.is_empty()),
                }))
            }
            _ => Ok(None),
        }
    }

    /// Takes a fetch permit of `host` for `member`, held at most `lease`,
    /// when fewer than `limit` are held; returns whether it did.
    pub async fn acquire_fetch_permit(
        &self,
        host: &str,
        member: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<bool, QueueError> {
        let outcome = AcquireHost {
            permits: &self.keys.fetch_permits(host),
            member,
            now_ms: now_ms(),
            lease_ms: lease.as_millis() as u64,
            limit,
        }
        .invoke(&mut self.conn.clone())
        .await?;
        Ok(outcome == PermitOutcome::Taken)
    }

    /// Extends the lease of the fetch permit `member` holds for `host`, if
    /// it still holds one.
    pub async fn renew_fetch_permit(
        &self,
        host: &str,
        member: &str,
        lease: Duration,
    ) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("ZADD")
            .arg(self.keys.fetch_permits(host))
            .arg("XX")
            .arg(now_ms() + lease.as_millis() as u64)
            .arg(member)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Gives back the fetch permit `member` holds for `host`.
    pub async fn release_fetch_permit(&self, host: &str, member: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: i64 = conn.zrem(self.keys.fetch_permits(host), member).await?;
        Ok(())
    }

    /// Counts one request of `subject` against the `scope` limit of
    /// `per_minute` requests with bursts of `burst`, shared by every
    /// process of the deployment; answers how long to wait when the limit
    /// is reached, `None` when the request may go on.
    pub async fn take_rate(
        &self,
        scope: &str,
        subject: &str,
        per_minute: NonZeroU32,
        burst: NonZeroU32,
    ) -> Result<Option<Duration>, QueueError> {
        let outcome = RateLimit {
            bucket: &self.keys.rate(scope, subject),
            now_us: now_us(),
            interval_us: 60_000_000 / u64::from(per_minute.get()),
            burst: burst.get(),
        }
        .invoke(&mut self.conn.clone())
        .await?;
        Ok(match outcome {
            RateOutcome::Allowed => None,
            RateOutcome::Limited { wait_us } => Some(Duration::from_micros(wait_us)),
        })
    }

    /// Moves parked jobs back to the stream for users whose running jobs
    /// ended without releasing their share (their worker died).
    pub async fn promote_parked(&self, limit: u32) -> Result<(), QueueError> {
        if self.fair.max_running == 0 {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let users: Vec<String> = conn
            .zrange(self.keys.parked_users(), 0, limit as isize - 1)
            .await?;
        let (mut user_keys, mut listed) = (Vec::new(), Vec::new());
        for user_id in users {
            let Ok(user) = user_id.parse::<UserId>() else {
                continue;
            };
            let head: Option<String> = conn.lindex(self.keys.parked(&user), 0).await?;
            let record = match head.as_deref().map(str::parse::<JobId>) {
                Some(Ok(id)) => self.keys.job(&id),
                _ => self.keys.unused(),
            };
            user_keys.extend([self.keys.running(&user), self.keys.parked(&user), record]);
            listed.extend([user_id, head.unwrap_or_default()]);
        }
        if listed.is_empty() {
            return Ok(());
        }
        PromoteParked {
            parked_users: &self.keys.parked_users(),
            interactive: &self.keys.stream(Lane::Interactive),
            bulk: &self.keys.stream(Lane::Bulk),
            cap: self.fair.max_running,
            now_ms: now_ms(),
            user_keys: &user_keys,
            users: &listed,
        }
        .invoke(&mut conn)
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
            let Ok(job) = id.parse::<JobId>() else {
                continue;
            };
            let code: Option<String> = conn.hget(self.keys.job(&job), field::ERROR_CODE).await?;
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
        let records: Vec<String> = ids
            .iter()
            .map(|id| match id.parse::<JobId>() {
                Ok(id) => self.keys.job(&id),
                Err(_) => self.keys.unused(),
            })
            .collect();
        Ok(Requeue {
            interactive: &self.keys.stream(Lane::Interactive),
            bulk: &self.keys.stream(Lane::Bulk),
            from: set,
            kind,
            now_ms: now_ms(),
            records: &records,
            ids,
        }
        .invoke(&mut self.conn.clone())
        .await?)
    }

    /// How many jobs wait for a retry.
    pub async fn retry_depth(&self) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        Ok(conn.zcard(self.keys.retry_set()).await?)
    }

    /// How many jobs of `lane` wait in its stream or are held by workers.
    pub async fn depth(&self, lane: Lane) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        Ok(conn.xlen(self.keys.stream(lane)).await?)
    }

    /// How long the oldest entry of `lane`'s stream has waited, if any.
    pub async fn oldest_waiting(&self, lane: Lane) -> Result<Option<Duration>, QueueError> {
        let mut conn = self.conn.clone();
        let oldest: redis::streams::StreamRangeReply = conn
            .xrange_count(self.keys.stream(lane), "-", "+", 1)
            .await?;
        Ok(oldest.ids.first().and_then(|entry| {
            let ms: u64 = entry.id.split('-').next()?.parse().ok()?;
            Some(Duration::from_millis(now_ms().saturating_sub(ms)))
        }))
    }

    pub(crate) fn fair_share(&self) -> FairShare {
        self.fair
    }

    pub(crate) fn record_ttl(&self) -> Duration {
        self.record_ttl
    }

    pub(crate) fn connection(&self) -> Connection {
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
