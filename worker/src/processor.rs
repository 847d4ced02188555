//! `Processor`: runs one job from source to published avatar, and decides
//! from the kind of error whether the job fails for good (a bad image, a URL
//! that cannot be fetched) or is left for another attempt (Redis or the
//! object store unreachable).

use std::time::Duration;

use avatar_common::job::FailureCode;
use avatar_common::queue::{Delivery, QueueError};
use avatar_common::storage::{ObjectKind, Storage, StorageError};
use avatar_common::{JobFailure, JobSource, ObjectKey};
use avatar_pipeline::{Options, PipelineError};
use bytes::Bytes;
use tracing::Instrument;

use crate::fetch::{FetchError, Fetcher};

/// In-job retries of a storage or Redis call before the job is left to be
/// taken up again after the orphan window.
const QUICK_RETRIES: u32 = 3;
/// The first pause between in-job retries; each next one is four times longer.
const QUICK_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What became of one attempt at a job.
enum Outcome {
    Completed(ObjectKey),
    Failed(JobFailure),
    /// A fault of the service's own: try again later.
    Retry(String),
}

/// Runs jobs; shared by all concurrent jobs of a worker pool.
pub struct Processor {
    pub storage: Storage,
    pub fetcher: Fetcher,
    pub options: Options,
    pub max_attempts: u32,
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
        let attempts = match delivery.queue().start(&delivery.job.id).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot mark the job started; leaving it for a retry");
                return;
            }
        };
        let outcome = if attempts > self.max_attempts {
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
        match outcome {
            Outcome::Completed(key) => {
                let recorded = retry(|| delivery.complete(&key)).await;
                match recorded {
                    Ok(_replaced) => {
                        tracing::info!(ms = started.elapsed().as_millis() as u64, key = %key, "completed");
                        self.discard_source(&delivery).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "stored the avatar but cannot record it; leaving the job for a retry")
                    }
                }
            }
            Outcome::Failed(failure) => match retry(|| delivery.fail(&failure)).await {
                Ok(()) => {
                    tracing::info!(code = failure.code.as_str(), reason = %failure.message, "failed");
                    self.discard_source(&delivery).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record the failure; leaving the job for a retry")
                }
            },
            Outcome::Retry(reason) => {
                tracing::warn!(attempts, %reason, "attempt failed; the job will be taken up again");
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
            Ok(()) => Outcome::Completed(key),
            Err(e) => Outcome::Retry(format!("storing the avatar: {e}")),
        }
    }

    /// Converts on the blocking pool, off the async threads.
    async fn convert(&self, source: Bytes) -> Result<Vec<u8>, JobFailure> {
        let options = self.options.clone();
        let span = tracing::Span::current();
        let converted = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            avatar_pipeline::convert(&source, &options)
        })
        .await;
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
