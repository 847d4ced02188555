//! `StorageError`: what can go wrong reading or writing objects.

/// A failure of the object store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no object at {0}")]
    NotFound(String),
    #[error("the object store is unreachable or refused the request: {0}")]
    Unavailable(String),
    #[error("the object store is misconfigured: {0}")]
    Misconfigured(String),
    #[error("local storage: {0}")]
    Io(#[from] std::io::Error),
}

impl crate::backoff::Retryable for StorageError {
    fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Io(_))
    }
}
