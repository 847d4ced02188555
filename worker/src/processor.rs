//! `Processor`: runs one job from source to published avatar, and decides
//! from the kind of error whether the job fails for good (a bad image, a URL
//! that cannot be fetched) or is left for another attempt (Redis or the
//! object store unreachable).

use std::sync::Arc;
use std::time::Duration;

use avatar_common::job::FailureCode;
use avatar_common::metrics;
use avatar_common::queue::{Delivery, QueueError};
use avatar_common::storage::{ObjectKind, Storage, StorageError};
use avatar_common::{JobFailure, JobSource, ObjectKey};
use avatar_pipeline::{Options, PipelineError};
use bytes::Bytes;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::fetch::{FetchError, Fetcher};

/// In-job retries of a storage or Redis call before the job is scheduled to
/// run again later.
const QUICK_RETRIES: u32 = 2;
/// The first pause between in-job retries; each next one is four times longer.
const QUICK_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What became of one attempt at a job.
enum Outcome {
    Completed(ObjectKey),
    Failed(JobFailure),
    /// A fault of the service's own: try again later.
    Retry(String),
}

impl Outcome {
    fn logged(self, cause: &str) -> Self {
        tracing::warn!(%cause, "retry budget spent");
        self
    }
}

/// When a job whose store or Redis calls failed runs again.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// The pause before the first retry; each next one doubles.
    pub base: Duration,
    /// The longest pause.
    pub max_delay: Duration,
    /// How long after acceptance a job may still be retried.
    pub budget: Duration,
}

impl RetryPolicy {
    /// The pause before retry number `retries + 1`: exponential, capped,
    /// with "equal jitter" (half fixed, half random) so that jobs failed by
    /// one outage do not all come back at once.
    pub fn delay(&self, retries: u32) -> Duration {
        let exponential = self
            .base
            .saturating_mul(2u32.saturating_pow(retries.min(20)));
        let capped = exponential.min(self.max_delay);
        capped / 2 + capped.mul_f64(fastrand::f64() / 2.0)
    }

    /// Whether a job whose budget started at `from` (unix ms) is out of it.
    fn budget_spent(&self, from: u64) -> bool {
        let elapsed = avatar_common::queue::now_ms().saturating_sub(from);
        elapsed >= self.budget.as_millis() as u64
    }
}

/// Runs jobs; shared by all concurrent jobs of a worker pool.
pub struct Processor {
    pub storage: Storage,
    pub fetcher: Fetcher,
    pub options: Options,
    /// Interrupted attempts after which a job is given up.
    pub max_attempts: u32,
    pub retry: RetryPolicy,
    /// How long a replaced avatar stays before it is deleted.
    pub retention: Duration,
    /// How long one conversion may take before the job fails.
    pub convert_timeout: Duration,
    /// One permit per job slot, held by each running conversion.
    pub cpu: Arc<Semaphore>,
    /// Fault injection for the fault tests: die between storing an avatar
    /// and recording it.
    pub abort_after_store: bool,
}

impl Processor {
    /// Runs the job of `delivery` and records how it ended.
    pub async fn run(&self, delivery: Delivery) {
        let span =
            tracing::info_span!("job", job_id = %delivery.job.id, user_id = %delivery.job.user);
        self.run_in_span(delivery).instrument(span).await
    }

    async fn run_in_span(&self, delivery: Delivery) {
        let started = std::time::Instant::now();
        let start = match delivery.queue().start(&delivery.job.id).await {
            Ok(start) => start,
            Err(e) => {
                tracing::warn!(error = %e, "cannot mark the job started; it will be taken over after the orphan window");
                return;
            }
        };
        if start.attempts == 1 {
            metrics::job_waited(start.waited);
        }
        // Attempts that neither ended nor scheduled a retry were cut short:
        // their worker died. A job that keeps killing workers is given up.
        let interrupted = start.attempts.saturating_sub(start.retries + 1);
        let outcome = if interrupted >= self.max_attempts {
            Outcome::Failed(JobFailure::new(
                FailureCode::Unavailable,
                format!(
                    "the service could not finish this job in {} attempts; please try again later",
                    self.max_attempts
                ),
            ))
        } else {
            self.attempt(&delivery).await
        };
        let outcome = match outcome {
            Outcome::Retry(reason) if self.retry.budget_spent(start.retry_from) => {
                Outcome::Failed(JobFailure::new(
                    FailureCode::Unavailable,
                    format!(
                        "the service could not store the avatar within {} s; please try again later",
                        self.retry.budget.as_secs()
                    ),
                ))
                .logged(&reason)
            }
            other => other,
        };
        match outcome {
            Outcome::Completed(key) => {
                metrics::job_ended("completed", None, started.elapsed());
                match retry(|| delivery.complete(&key, self.retention)).await {
                    Ok(current) => {
                        tracing::info!(ms = started.elapsed().as_millis() as u64, key = %key, current, "completed");
                        self.discard_source(&delivery).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "stored the avatar but cannot record it; it will be taken over after the orphan window")
                    }
                }
            }
            Outcome::Failed(failure) => match retry(|| delivery.fail(&failure)).await {
                Ok(()) => {
                    metrics::job_ended("failed", Some(failure.code.as_str()), started.elapsed());
                    tracing::info!(code = failure.code.as_str(), reason = %failure.message, "failed");
                    // A job given up on the service's own faults keeps its
                    // source, so that an operator can queue it again.
                    if failure.code != FailureCode::Unavailable {
                        self.discard_source(&delivery).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record the failure; it will be taken over after the orphan window")
                }
            },
            Outcome::Retry(reason) => {
                metrics::job_ended("retried", None, started.elapsed());
                let delay = self.retry.delay(start.retries);
                match delivery.retry_later(delay, &reason).await {
                    Ok(()) => {
                        tracing::warn!(attempts = start.attempts, ?delay, %reason, "attempt failed; retrying later")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %reason, "attempt failed and cannot be rescheduled; it will be taken over after the orphan window")
                    }
                }
            }
        }
    }

    async fn attempt(&self, delivery: &Delivery) -> Outcome {
        let job = &delivery.job;
        let source = match &job.source {
            JobSource::Staged { key } => match retry(|| self.storage.get(key)).await {
                Ok(bytes) => bytes,
                Err(StorageError::NotFound(_)) => {
                    return Outcome::Failed(JobFailure::new(
                        FailureCode::ImageRejected,
                        "the uploaded file is no longer available; upload it again",
                    ));
                }
                Err(e) => return Outcome::Retry(format!("reading the staged source: {e}")),
            },
            JobSource::Url { url } => match self.fetcher.fetch(url).await {
                Ok(bytes) => bytes,
                Err(e) => return Outcome::Failed(fetch_failure(&e)),
            },
        };
        let avatar = match self.convert(source).await {
            Ok(avatar) => avatar,
            Err(failure) => return Outcome::Failed(failure),
        };
        let key = ObjectKey::avatar(delivery.stamp, &job.user);
        let jpeg = Bytes::from(avatar);
        match retry(|| self.storage.put(&key, jpeg.clone(), ObjectKind::Avatar)).await {
            Ok(()) if self.abort_after_store => {
                tracing::error!(%key, "stored the avatar; aborting before recording it, as AVATARS_FAULT_ABORT_AFTER_STORE asks");
                std::process::abort();
            }
            Ok(()) => Outcome::Completed(key),
            Err(e) => Outcome::Retry(format!("storing the avatar: {e}")),
        }
    }

    /// Converts on the blocking pool, off the async threads.
    async fn convert(&self, source: Bytes) -> Result<Vec<u8>, JobFailure> {
        let options = self.options.clone();
        let span = tracing::Span::current();
        // The permit lives as long as the conversion thread, so a conversion
        // that outlives its job's timeout still counts against concurrency.
        let Ok(permit) = self.cpu.clone().acquire_owned().await else {
            return Err(JobFailure::new(
                FailureCode::Unavailable,
                "the worker is stopping",
            ));
        };
        let work = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let _permit = permit;
            avatar_pipeline::convert(&source, &options)
        });
        let Ok(converted) = tokio::time::timeout(self.convert_timeout, work).await else {
            // The conversion thread cannot be interrupted; it finishes in the
            // background and its result is dropped.
            return Err(JobFailure::new(
                FailureCode::ImageRejected,
                format!(
                    "converting the image took longer than {} s; send a smaller or simpler image",
                    self.convert_timeout.as_secs()
                ),
            ));
        };
        match converted {
            Ok(Ok(avatar)) => Ok(avatar.jpeg),
            Ok(Err(e)) => Err(pipeline_failure(&e)),
            Err(e) => {
                tracing::error!(error = %e, "the conversion task did not finish");
                Err(JobFailure::new(
                    FailureCode::ImageRejected,
                    "the image could not be processed",
                ))
            }
        }
    }

    async fn discard_source(&self, delivery: &Delivery) {
        if let JobSource::Staged { key } = &delivery.job.source
            && let Err(e) = self.storage.delete(key).await
        {
            tracing::warn!(error = %e, key = %key, "cannot delete the staged source");
        }
    }
}

fn pipeline_failure(error: &PipelineError) -> JobFailure {
    let code = match error.code() {
        "unsupported_media_type" => FailureCode::UnsupportedMediaType,
        _ => FailureCode::ImageRejected,
    };
    JobFailure::new(code, error.to_string())
}

fn fetch_failure(error: &FetchError) -> JobFailure {
    let code = match error {
        FetchError::TooLarge { .. } => FailureCode::PayloadTooLarge,
        _ => FailureCode::ImageRejected,
    };
    JobFailure::new(code, error.to_string())
}

/// Errors worth retrying within a job.
trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for StorageError {
    fn is_transient(&self) -> bool {
        self.is_retryable()
    }
}

impl Transient for QueueError {
    fn is_transient(&self) -> bool {
        self.is_retryable()
    }
}

/// Runs `call` until it succeeds, fails for good, or has failed
/// [`QUICK_RETRIES`] more times.
async fn retry<T, E, F, Fut>(mut call: F) -> Result<T, E>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut pause = QUICK_RETRY_PAUSE;
    let mut tries = 0;
    loop {
        match call().await {
            Err(e) if e.is_transient() && tries < QUICK_RETRIES => {
                tries += 1;
                tokio::time::sleep(pause).await;
                pause *= 4;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_exponentially_with_jitter_up_to_the_cap() {
        let policy = RetryPolicy {
            base: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            budget: Duration::from_secs(300),
        };
        for retries in 0..12 {
            let full =
                (Duration::from_millis(500) * 2u32.pow(retries)).min(Duration::from_secs(30));
            for _ in 0..50 {
                let delay = policy.delay(retries);
                assert!(delay >= full / 2 && delay <= full, "{retries}: {delay:?}");
            }
        }
    }
}
