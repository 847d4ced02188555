//! Background upkeep every worker process does while its pool runs: putting
//! due retries back on the stream, and deleting avatars that stopped being
//! current once their retention has passed, sweeping staged uploads left
//! behind, and the queue-depth gauges. Several processes doing it at
//! once is safe: each retry moves once, and deletes are idempotent.

use std::time::Duration;

use avatar_common::JobStatus;
use avatar_common::jobs::FailureCode;
use avatar_common::queue::JobQueue;
use avatar_common::storage::Storage;
use tokio_util::sync::CancellationToken;

/// How often due retries are looked for.
const RETRY_TICK: Duration = Duration::from_millis(250);
/// How often due garbage is looked for.
const GARBAGE_TICK: Duration = Duration::from_secs(5);
/// Most items handled per look.
const BATCH: usize = 100;
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

/// Runs until `shutdown` is cancelled.
pub async fn run(
    queue: JobQueue,
    storage: Storage,
    sweep: StagingSweep,
    shutdown: CancellationToken,
) {
    let mut retries = tokio::time::interval(RETRY_TICK);
    let mut garbage = tokio::time::interval(GARBAGE_TICK);
    let mut sweeps = tokio::time::interval(sweep.interval);
    sweeps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    retries.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    garbage.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = retries.tick() => match queue.promote_due_retries(BATCH).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "retrying jobs"),
                Err(e) => tracing::debug!(error = %e, "cannot promote retries now"),
            },
            _ = garbage.tick() => {
                collect_garbage(&queue, &storage).await;
                avatar_common::metrics::report_queue_depths(&queue).await;
            }
            _ = sweeps.tick() => sweep_staging(&queue, &storage, sweep.retention).await,
        }
    }
}

/// Deletes staged uploads left behind: older than `retention`, and whose
/// job has no record any more (the API stopped between staging and
/// enqueueing, or the record expired), completed, or failed on its input.
/// Uploads of jobs failed as `unavailable` stay, for `requeue-failed`.
/// Writes to local storage that a crash cut short go too, at the same age
/// but never younger than [`PARTIAL_WRITE_AGE`].
async fn sweep_staging(queue: &JobQueue, storage: &Storage, retention: Duration) {
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
                JobStatus::Completed => true,
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

async fn collect_garbage(queue: &JobQueue, storage: &Storage) {
    let due = match queue.due_garbage(BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the garbage set now");
            return;
        }
    };
    for key in due {
        match storage.delete(&key).await {
            Ok(()) => {
                if let Err(e) = queue.forget_garbage(&key).await {
                    tracing::debug!(error = %e, %key, "deleted, but cannot forget it yet");
                }
                tracing::debug!(%key, "deleted a superseded avatar");
            }
            Err(e) => tracing::warn!(error = %e, %key, "cannot delete a superseded avatar yet"),
        }
    }
}
