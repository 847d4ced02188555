//! The job queue on Redis: a stream with one consumer group that carries
//! jobs to the workers, a hash per job with its status, a hash per user with
//! the current avatar, and a pub/sub channel that announces finished jobs.
//!
//! Enqueueing, completing and failing a job are each one Lua script, so the
//! status, the stream and the current-avatar index never disagree.

mod backend;
mod completions;
mod connect;
mod error;
mod keys;
mod store;

pub use backend::{Consumer, ConsumerSettings, Delivery, StreamBackend};
pub use completions::Completions;
pub use connect::connect;
pub use error::QueueError;
pub use keys::Keys;
pub use store::{Accepted, CurrentAvatar, JobQueue, Started, now_ms, now_us};

/// Opens the queue the settings name, checking that Redis answers.
pub async fn open(
    settings: &crate::settings::RedisSettings,
) -> Result<(redis::Client, JobQueue), QueueError> {
    let client = redis::Client::open(settings.redis_url.as_str())?;
    let conn = connect(&client, std::time::Duration::from_secs(5)).await?;
    let queue = JobQueue::new(conn, Keys::new(&settings.redis_prefix), settings.job_ttl());
    queue.ping().await?;
    queue.ensure_group().await?;
    Ok((client, queue))
}
