//! The staging sweep: deletes staged uploads that no job needs any more,
//! and local writes a crash cut short.

use std::time::Duration;

use avatar_common::JobStatus;
use avatar_common::jobs::FailureCode;
use avatar_common::queue::JobQueue;
use avatar_common::storage::Storage;

use super::BATCH;

/// The least age at which a local write in progress counts as cut short,
/// whatever the staging retention: a write takes seconds.
const PARTIAL_WRITE_AGE: Duration = Duration::from_secs(3600);

/// When staged uploads are swept.
#[derive(Debug, Clone, Copy)]
pub struct StagingSweep {
    /// Age from which an upload whose job ended counts as left behind.
    pub retention: Duration,
    /// Time between sweeps.
    pub interval: Duration,
}

/// Deletes staged uploads left behind: older than `retention`, and whose
/// job has no record any more (the API stopped between staging and
/// enqueueing, or the record expired), completed, or failed on its input.
/// Uploads of jobs failed as `unavailable` stay, for `requeue-failed`.
/// Writes to local storage that a crash cut short go too, at the same age
/// but never younger than [`PARTIAL_WRITE_AGE`].
pub(super) async fn sweep(queue: &JobQueue, storage: &Storage, retention: Duration) {
    match storage
        .sweep_partial(retention.max(PARTIAL_WRITE_AGE))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(files = n, "deleted writes a crash cut short"),
        Err(e) => tracing::warn!(error = %e, "cannot sweep writes a crash cut short"),
    }
    let staged = match storage.staged(BATCH * 10).await {
        Ok(staged) => staged,
        Err(e) => {
            tracing::debug!(error = %e, "cannot list staged uploads now");
            return;
        }
    };
    let cutoff = avatar_common::queue::now_ms().saturating_sub(retention.as_millis() as u64);
    for key in staged {
        let Some(job) = key.staged_job() else {
            continue;
        };
        if job.timestamp_ms() > cutoff {
            continue;
        }
        let left_behind = match queue.record(&job).await {
            Ok(None) => true,
            Ok(Some(record)) => match record.status {
                JobStatus::Completed | JobStatus::Cancelled | JobStatus::Skipped => true,
                JobStatus::Failed => record
                    .error
                    .is_none_or(|e| e.code != FailureCode::Unavailable),
                JobStatus::Queued | JobStatus::Processing | JobStatus::RetryLater => false,
            },
            Err(_) => false,
        };
        if left_behind {
            match storage.delete(&key).await {
                Ok(()) => tracing::info!(%key, "deleted a staged upload left behind"),
                Err(e) => {
                    tracing::warn!(error = %e, %key, "cannot delete a staged upload left behind")
                }
            }
        }
    }
}
