//! Background upkeep every worker process does while its pool runs, one
//! loop on three clocks: putting due retries back on the stream, and the
//! parked jobs of users whose running jobs' leases ran out (here),
//! deleting superseded avatars ([`garbage`]), and sweeping staged uploads
//! left behind ([`staging`]); at once when a DELETE wakes it, deleting a
//! user's avatars and staged uploads ([`garbage`], [`deletions`]); and
//! beside it the import drain, which ends
//! or releases, a batch at a time, the import items that scripts left to
//! it. Several
//! processes doing it at once is safe: each retry moves once, and deletes
//! are idempotent.

mod deletions;
mod garbage;
mod staging;

pub use staging::StagingSweep;

use std::time::Duration;

use std::sync::Arc;

use avatar_common::queue::{Heard, JobQueue, Redis};
use avatar_common::storage::Storage;
use tokio_util::sync::CancellationToken;

/// How often due retries, and parked jobs whose users' leases ran out,
/// are looked for; a retry this process scheduled is also put back when it
/// comes due.
const RETRY_TICK: Duration = Duration::from_secs(5);
/// How often due garbage and deletions are looked for, besides when a
/// DELETE announces one.
const GARBAGE_TICK: Duration = Duration::from_secs(5);
/// Most items handled per look.
pub(crate) const BATCH: usize = 100;

/// Runs until `shutdown` is cancelled. With `abort_mid_delete` (fault
/// tests), the process aborts in the middle of deleting an avatar.
pub async fn run(
    redis: Redis,
    queue: JobQueue,
    storage: Storage,
    sweep: StagingSweep,
    abort_mid_delete: bool,
    shutdown: CancellationToken,
) {
    let draining = tokio::spawn(drain(queue.clone()));
    let deleted = Arc::new(tokio::sync::Notify::new());
    let channel = queue.deletions_channel();
    let woken = deleted.clone();
    // A delete announced, or a subscription made again (one may have been
    // missed meanwhile), starts a look at once.
    let listening = tokio::spawn(async move {
        redis
            .listen(channel, |heard| {
                if !matches!(heard, Heard::Lost) {
                    woken.notify_one();
                }
            })
            .await;
    });
    let delete = || async {
        garbage::collect(&queue, &storage, abort_mid_delete).await;
        deletions::remove(&queue, &storage).await;
    };
    let mut retry_ticks = tokio::time::interval(RETRY_TICK);
    let mut garbage_ticks = tokio::time::interval(GARBAGE_TICK);
    let mut sweep_ticks = tokio::time::interval(sweep.interval);
    for ticks in [&mut retry_ticks, &mut garbage_ticks, &mut sweep_ticks] {
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                draining.abort();
                listening.abort();
                return;
            }
            _ = retry_ticks.tick() => {
                promote(&queue).await;
            }
            () = queue.retry_due().notified() => {
                promote(&queue).await;
            }
            _ = garbage_ticks.tick() => delete().await,
            () = deleted.notified() => delete().await,
            _ = sweep_ticks.tick() => staging::sweep(&queue, &storage, sweep.retention).await,
        }
    }
}

/// Does the work the import scripts left to the drain, whenever this
/// process left some and every [`RETRY_TICK`] (another may have), a batch
/// at a time until none is left.
async fn drain(queue: JobQueue) {
    let mut ticks = tokio::time::interval(RETRY_TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = queue.drain_due().notified() => {}
        }
        loop {
            match queue.drain_imports(BATCH).await {
                Ok(done) if done < BATCH => break,
                Ok(_) => tokio::task::yield_now().await,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot drain imports now");
                    break;
                }
            }
        }
    }
}

/// Puts due retries back on the stream, and the parked jobs of users whose
/// running jobs ended without releasing their share.
async fn promote(queue: &JobQueue) {
    match queue.promote_due_retries(BATCH).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "retrying jobs"),
        Err(e) => tracing::debug!(error = %e, "cannot promote retries now"),
    }
    if let Err(e) = queue.promote_parked(BATCH as u32).await {
        tracing::debug!(error = %e, "cannot promote parked jobs now");
    }
}
