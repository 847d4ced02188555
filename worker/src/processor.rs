//! `Processor`: does the work of one attempt at a job, from source to
//! stored avatar, and says what it met as an [`Attempt`]: a stored avatar,
//! an input that cannot become one (a bad image, a URL that cannot be
//! fetched), or a fault of the service's own (Redis or the object store
//! unreachable). [`RetryRules`] turn that into the job's next transition,
//! which the queue's recorder runs; the processor writes no job state.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::Data;
use avatar_common::avatar::{Sides, StoredAvatar};
use avatar_common::backoff::retry_quickly;
use avatar_common::jobs::{Attempt, FailureCode, Lane, RetryRules, Transition};
use avatar_common::metrics;
use avatar_common::queue::{Claim, JobQueue, QueueError, now_ms};
use avatar_common::storage::{ObjectKind, Storage, StorageError};
use avatar_common::{Job, JobFailure, JobSource, ObjectKey, SourceUrl};
use avatar_pipeline::{Options, Resized, TimeBudget};
use base64::prelude::{BASE64_STANDARD, Engine as _};
use bytes::Bytes;
use tracing::Instrument;

use crate::cage::{Cage, CageError, Death, Reply};
use crate::fetch::{FetchError, Fetcher};
use crate::host_permits::HostPermits;
use crate::slots::ConversionSlots;

/// Runs attempts; shared by all concurrent jobs of a worker pool.
pub struct Processor {
    pub storage: Storage,
    /// Where an import item finds the avatar an earlier item of the same
    /// URL stored.
    pub queue: JobQueue,
    pub fetcher: Fetcher,
    pub host_permits: HostPermits,
    /// How long a fetch waits for a permit of its host.
    pub fetch_patience: Duration,
    /// What bounds how many conversions run at once.
    pub slots: Arc<ConversionSlots>,
    /// The converter processes the images are decoded in.
    pub cage: Arc<Cage>,
    /// The sides made of every avatar; `options` asks for them.
    pub sides: Sides,
    pub options: Options,
    pub rules: RetryRules,
    /// How long a conversion may take before its job fails, by the size
    /// of its image (read in the converter).
    pub time_budget: TimeBudget,
    /// Fault injection for the fault tests: die between storing an avatar
    /// and recording it.
    pub abort_after_store: bool,
}

/// The apalis handler: one attempt at the job of `claim`, in its span.
/// apalis limits how many run at once; the backend records the transition.
pub async fn handle(
    _job: Job,
    claim: Data<Claim>,
    processor: Data<Arc<Processor>>,
) -> Result<Transition, Infallible> {
    let span = claim.span.clone();
    Ok(processor.transition(&claim).instrument(span).await)
}

impl Processor {
    /// Attempts the job unless the rules give it up first, and returns the
    /// transition the rules pick.
    pub async fn transition(&self, claim: &Claim) -> Transition {
        if let Some(give_up) = self.rules.before_attempt(&claim.started) {
            return give_up;
        }
        let attempt = self.attempt(claim).await;
        self.rules
            .after_attempt(&claim.job.id, &claim.started, attempt, now_ms())
    }

    async fn attempt(&self, claim: &Claim) -> Attempt {
        let job = &claim.job;
        let began = Instant::now();
        let source = match &job.source {
            JobSource::Staged { key } => match retry_quickly(|| self.storage.get(key)).await {
                Ok(bytes) => {
                    metrics::stage("read", began.elapsed());
                    bytes
                }
                Err(StorageError::NotFound(_)) => {
                    return Attempt::Rejected(JobFailure::new(
                        FailureCode::ImageRejected,
                        "the uploaded file is no longer available (the avatar was deleted, or the upload expired); upload it again",
                    ));
                }
                Err(e) => return Attempt::Faulted(format!("reading the staged source: {e}")),
            },
            JobSource::Url { url } => {
                if let Some(copied) = self.copy_imported(claim, url).await {
                    return copied;
                }
                match self.fetch(url).await {
                    Ok(bytes) => {
                        metrics::stage("fetch", began.elapsed());
                        bytes
                    }
                    Err(Fetched::NoPermit(e)) => {
                        return Attempt::Faulted(format!("taking a fetch permit: {e}"));
                    }
                    Err(Fetched::Failed(e)) => return fetch_failed(job, &e),
                }
            }
        };
        let converted = match self.convert(source, job).await {
            Ok(converted) => converted,
            Err(attempt) => return attempt,
        };
        let avatar = StoredAvatar {
            key: ObjectKey::avatar(claim.stamp, &job.user),
            sides: self.sides.clone(),
            placeholder: Some(BASE64_STANDARD.encode(&converted.placeholder)),
        };
        let storing = Instant::now();
        let stored = self.store(&avatar, converted).await;
        if stored.is_ok() {
            metrics::stage("store", storing.elapsed());
        }
        match stored {
            Ok(()) if self.abort_after_store => {
                tracing::error!(key = %avatar.key, "stored the avatar; aborting before recording it, as AVATARS_FAULT_ABORT_AFTER_STORE asks");
                std::process::abort();
            }
            Ok(()) => Attempt::Stored(avatar),
            Err(e) => Attempt::Faulted(format!("storing the avatar: {e}")),
        }
    }

    /// Stores every side of `avatar`: the smaller ones at once, then the
    /// largest, so that an avatar whose key exists has all its sides.
    async fn store(&self, avatar: &StoredAvatar, converted: Converted) -> Result<(), StorageError> {
        let mut smaller = converted.smaller;
        let put = |key: ObjectKey, jpeg: Bytes| async move {
            retry_quickly(|| self.storage.put(&key, jpeg.clone(), ObjectKind::Avatar)).await
        };
        let mut puts = Vec::with_capacity(smaller.len());
        for (side, key) in avatar.objects().skip(1) {
            let Some(at) = smaller.iter().position(|r| r.requested == side) else {
                return Err(StorageError::Unavailable(format!(
                    "the converter made no {side}-pixel side"
                )));
            };
            puts.push(put(key, Bytes::from(smaller.swap_remove(at).jpeg)));
        }
        futures::future::try_join_all(puts).await?;
        put(avatar.key.clone(), Bytes::from(converted.jpeg)).await
    }

    /// For an import item whose URL an earlier item of the import already
    /// made an avatar of: a copy of that avatar under this job's key,
    /// without fetching or converting. `None` when there is none to copy
    /// (or it is gone), and the item is made from its URL.
    async fn copy_imported(&self, claim: &Claim, url: &SourceUrl) -> Option<Attempt> {
        let import = claim.job.import.as_ref()?;
        let largest = self.sides.largest();
        let imported = || self.queue.imported_avatar(&import.id, url, largest);
        let from = match retry_quickly(imported).await {
            Ok(from) => from?,
            Err(e) => return Some(Attempt::Faulted(format!("reading the import's URLs: {e}"))),
        };
        let key = ObjectKey::avatar(claim.stamp, &claim.job.user);
        match retry_quickly(|| self.storage.copy_avatar(&from.key, &key)).await {
            Ok(()) => {
                tracing::debug!(from = %from.key, %key, "copied the avatar of an earlier item with the same URL");
                Some(Attempt::Stored(StoredAvatar { key, ..from }))
            }
            Err(StorageError::NotFound(_)) => None,
            Err(e) => Some(Attempt::Faulted(format!("copying the avatar: {e}"))),
        }
    }

    /// Fetches `url` under a permit of its host: at most so many fetches to
    /// one host at once across the deployment. A host whose permits stay
    /// held as long as a fetch may take counts as not answering.
    async fn fetch(&self, url: &SourceUrl) -> Result<Bytes, Fetched> {
        let permit = self
            .host_permits
            .acquire(url, self.fetch_patience)
            .await
            .map_err(Fetched::NoPermit)?
            .ok_or(Fetched::Failed(FetchError::TimedOut))?;
        let fetched = permit.hold_during(self.fetcher.fetch(url)).await;
        permit.release().await;
        fetched.map_err(Fetched::Failed)
    }

    /// Converts in a converter process of the cage, in one of the
    /// conversion slots, interactive work first.
    async fn convert(&self, source: Bytes, job: &Job) -> Result<Converted, Attempt> {
        let _slot = self.slots.acquire(job.lane).await;
        let label = job.id.to_string();
        let options = avatar_pipeline::Options {
            crop: job.crop,
            ..self.options.clone()
        };
        let converted = self
            .cage
            .convert(&source, &options, self.time_budget, &label)
            .await;
        match converted {
            Ok(Reply::Avatar {
                jpeg,
                stages,
                smaller,
                placeholder,
                ..
            }) => {
                metrics::stage("decode", stages.decode);
                metrics::stage("resize", stages.resize);
                metrics::stage("encode", stages.encode);
                Ok(Converted {
                    jpeg,
                    smaller,
                    placeholder,
                })
            }
            Ok(Reply::Refused { code, message }) => {
                let code = match code.as_str() {
                    "unsupported_media_type" => FailureCode::UnsupportedMediaType,
                    _ => FailureCode::ImageRejected,
                };
                Err(Attempt::Rejected(JobFailure::new(code, message)))
            }
            Err(CageError::Died(death)) => {
                tracing::warn!(?death, "the image's converter died or was stopped");
                Err(Attempt::Rejected(JobFailure::new(
                    FailureCode::ImageRejected,
                    death_message(&death, self.cage.memory_mb()),
                )))
            }
            Err(e @ CageError::Start(_)) => Err(Attempt::Faulted(e.to_string())),
        }
    }
}

/// What a converter made of a source.
struct Converted {
    /// The largest side.
    jpeg: Vec<u8>,
    smaller: Vec<Resized>,
    /// The ThumbHash.
    placeholder: Vec<u8>,
}

/// What the uploader hears of an image whose converter did not answer.
fn death_message(death: &Death, memory_mb: u64) -> String {
    match death {
        Death::TimedOut(bound) => format!(
            "converting the image took longer than the {:.1} s its size allows; send a smaller or simpler image",
            bound.as_secs_f64()
        ),
        Death::OutOfMemory => format!(
            "converting the image needed more than the {memory_mb} MB of memory one conversion may use; send a smaller or simpler image"
        ),
        Death::Crashed(how) => format!(
            "the image could not be decoded: the decoder stopped on it ({how}); send another image, or save this one again as JPEG"
        ),
    }
}

/// Why a URL source was not fetched.
enum Fetched {
    /// Redis did not answer for the host's permits.
    NoPermit(QueueError),
    /// The fetch itself failed.
    Failed(FetchError),
}

/// The attempt a failed fetch makes: nobody waits for a bulk job, so an
/// origin that may answer another time is asked again, within the retry
/// budget; a person waiting hears at once.
fn fetch_failed(job: &Job, error: &FetchError) -> Attempt {
    if error.is_transient() && job.lane == Lane::Bulk {
        Attempt::OriginBusy {
            failure: fetch_failure(error),
            retry_after: error.retry_after(),
        }
    } else {
        Attempt::Rejected(fetch_failure(error))
    }
}

fn fetch_failure(error: &FetchError) -> JobFailure {
    let code = match error {
        FetchError::TooLarge { .. } => FailureCode::PayloadTooLarge,
        _ => FailureCode::ImageRejected,
    };
    JobFailure::new(code, error.to_string())
}
