//! `QueueError`: what can go wrong talking to Redis.

/// A failure of the queue or status store.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("a stored job record is corrupt: {0}")]
    Corrupt(String),
    /// Fewer replicas than `AVATARS_REDIS_WAIT_REPLICAS` acknowledged a
    /// write within the wait.
    #[error("only {acked} of the {wanted} Redis replicas asked for acknowledged the write in time")]
    NotReplicated { wanted: u32, acked: u32 },
    /// A transition found the lists its context was read from changed
    /// every time it ran (see `jobs::context`).
    #[error("the lists a job transition reads kept changing under it")]
    Contended,
    #[error("cannot read AVATARS_REDIS_CA_FILE {path}")]
    CaFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot reach Redis at {url}; start it or set AVATARS_REDIS_URL (and AVATARS_REDIS_CLUSTER, AVATARS_REDIS_CA_FILE)"
    )]
    Unreachable {
        url: String,
        #[source]
        source: redis::RedisError,
    },
}

impl crate::backoff::Retryable for QueueError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Redis(_) | Self::Contended | Self::NotReplicated { .. }
        )
    }
}
