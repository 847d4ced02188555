//! Background upkeep every worker process does while its pool runs: putting
//! due retries back on the stream, and deleting avatars that stopped being
//! current once their retention has passed, and the queue-depth gauges. Several processes doing it at
//! once is safe: each retry moves once, and deletes are idempotent.

use std::time::Duration;

use avatar_common::queue::JobQueue;
use avatar_common::storage::Storage;
use tokio_util::sync::CancellationToken;

/// How often due retries are looked for.
const RETRY_TICK: Duration = Duration::from_millis(250);
/// How often due garbage is looked for.
const GARBAGE_TICK: Duration = Duration::from_secs(5);
/// Most items handled per look.
const BATCH: usize = 100;

/// Runs until `shutdown` is cancelled.
pub async fn run(queue: JobQueue, storage: Storage, shutdown: CancellationToken) {
    let mut retries = tokio::time::interval(RETRY_TICK);
    let mut garbage = tokio::time::interval(GARBAGE_TICK);
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
                report_depths(&queue).await;
            }
        }
    }
}

/// Sets the queue-depth gauges.
pub async fn report_depths(queue: &JobQueue) {
    if let Ok(depth) = queue.depth().await {
        metrics::gauge!(avatar_common::metrics::QUEUE_DEPTH).set(depth as f64);
    }
    if let Ok(depth) = queue.retry_depth().await {
        metrics::gauge!(avatar_common::metrics::RETRY_DEPTH).set(depth as f64);
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
