//! The job queue on Redis: a stream with one consumer group that carries
//! jobs to the workers, a hash per job with its status, a hash per user with
//! the current avatar, and a pub/sub channel that announces finished jobs.
//!
//! Each transition of a job is one Lua script (see [`crate::jobs`]), so the
//! status, the stream and the current-avatar index never disagree.

mod backend;
mod completions;
mod connect;
mod deletions;
mod error;
mod hooks;
mod imports;
mod keys;
mod recorder;
mod store;
mod transitions;

pub use backend::{Claim, Consumer, ConsumerSettings, StreamBackend};
pub use completions::{Completions, Registration};
pub use connect::{Connection, Heard, Redis};
pub use deletions::Deletion;
pub use error::QueueError;
pub use hooks::HooksPending;
pub use imports::{FailuresPage, ImportEntry};
pub use keys::{CONSUMER_GROUP, Keys};
pub use recorder::Recorder;
pub use store::{Accepted, CurrentAvatar, FairShare, JobQueue, Start, now_ms, now_us};

/// Opens the queue the settings name, checking that Redis answers; the
/// error says which setting to fix, with no password in it.
pub async fn open(
    settings: &crate::settings::RedisSettings,
) -> Result<(Redis, JobQueue), QueueError> {
    let unreachable = |source| QueueError::Unreachable {
        url: crate::settings::redact_url(&settings.redis_url),
        source,
    };
    let redis = Redis::open(settings)?;
    let conn = redis
        .connect(connect::COMMAND_TIMEOUT)
        .await
        .map_err(|e| match e {
            QueueError::Redis(e) => unreachable(e),
            other => other,
        })?;
    let queue = JobQueue::new(conn, Keys::new(&settings.redis_prefix), settings.job_ttl())
        .with_wait_replicas(settings.redis_wait_replicas);
    let answered = async {
        queue.ping().await?;
        queue.ensure_group().await
    };
    answered.await.map_err(|e| match e {
        QueueError::Redis(e) => unreachable(e),
        other => other,
    })?;
    Ok((redis, queue))
}
