//! `Recorder`: the acknowledgement of the stream backend. It takes the
//! [`Transition`] a job's handler returned and runs it on Redis (complete,
//! fail or retry later), counts it, and discards the job's staged source
//! once nothing needs it.

use std::time::Duration;

use apalis_core::error::BoxDynError;
use apalis_core::task::ExecutionContext;
use apalis_core::worker::ext::ack::Acknowledge;
use futures::FutureExt;
use futures::future::BoxFuture;
use tracing::Instrument;

use super::backend::Claim;
use super::{JobQueue, QueueError};
use crate::JobSource;
use crate::backoff::retry_quickly;
use crate::jobs::{FailureCode, Transition};
use crate::metrics;
use crate::storage::Storage;

/// Records the outcomes of a worker's jobs.
#[derive(Clone)]
pub struct Recorder {
    queue: JobQueue,
    storage: Storage,
    retention: Duration,
}

impl Recorder {
    /// Records on `queue`; discards staged sources from `storage`; an
    /// avatar that stops being current is deleted after `retention`.
    pub fn new(queue: JobQueue, storage: Storage, retention: Duration) -> Self {
        Self {
            queue,
            storage,
            retention,
        }
    }

    /// Runs `transition` for the job of `claim`. A transition that cannot
    /// be recorded leaves the entry pending, so that another worker takes
    /// the job over after the orphan window.
    async fn record(&self, claim: &Claim, transition: Transition) {
        let (queue, job, took) = (&self.queue, &claim.job, claim.began.elapsed());
        match transition {
            Transition::Complete(avatar) => {
                metrics::job_ended("completed", None, took);
                let recorded = retry_quickly(|| {
                    queue.complete(job, claim.entry(), claim.stamp, &avatar, self.retention)
                })
                .await;
                match recorded {
                    Ok(current) => {
                        tracing::info!(ms = took.as_millis() as u64, key = %avatar.key, sides = %avatar.sides, current, "completed");
                        self.discard_source(&job.source).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "stored the avatar but cannot record it; it will be taken over after the orphan window")
                    }
                }
            }
            Transition::Fail(failure) => {
                match retry_quickly(|| queue.fail(job, claim.stamp, claim.entry(), &failure)).await
                {
                    Ok(()) => {
                        metrics::job_ended("failed", Some(failure.code.as_str()), took);
                        tracing::info!(code = failure.code.as_str(), reason = %failure.message, "failed");
                        // A job given up on the service's own faults keeps its
                        // source, so that an operator can queue it again.
                        if failure.code != FailureCode::Unavailable {
                            self.discard_source(&job.source).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot record the failure; it will be taken over after the orphan window")
                    }
                }
            }
            Transition::RetryLater { delay, reason } => {
                metrics::job_ended("retried", None, took);
                match queue
                    .retry_later(job, claim.stamp, claim.entry(), delay, &reason)
                    .await
                {
                    Ok(()) => {
                        tracing::warn!(attempts = claim.started.attempts, ?delay, %reason, "attempt failed; retrying later")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %reason, "attempt failed and cannot be rescheduled; it will be taken over after the orphan window")
                    }
                }
            }
        }
    }

    async fn discard_source(&self, source: &JobSource) {
        if let JobSource::Staged { key } = source
            && let Err(e) = self.storage.delete(key).await
        {
            tracing::warn!(error = %e, key = %key, "cannot delete the staged source");
        }
    }
}

impl Acknowledge<Transition> for Recorder {
    type Error = QueueError;
    type Future = BoxFuture<'static, Result<(), QueueError>>;

    fn ack(
        &mut self,
        result: &Result<Transition, BoxDynError>,
        ctx: &ExecutionContext,
    ) -> Self::Future {
        let Some(claim) = ctx.data().get::<Claim>().cloned() else {
            tracing::error!("a task reached the recorder without its claim");
            return futures::future::ready(Ok(())).boxed();
        };
        let transition = match result {
            Ok(transition) => transition.clone(),
            Err(e) => {
                let _entered = claim.span.enter();
                tracing::warn!(error = %e, "the attempt ended without an outcome; it will be taken over after the orphan window");
                return futures::future::ready(Ok(())).boxed();
            }
        };
        let recorder = self.clone();
        let span = claim.span.clone();
        async move {
            recorder.record(&claim, transition).await;
            Ok(())
        }
        .instrument(span)
        .boxed()
    }
}
