//! The transitions of a job on [`JobQueue`]: start, complete, fail and
//! retry later, each one script run with the job's [`Context`], built here
//! and nowhere else.

use std::time::Duration;

use super::store::now_us;
use super::{JobQueue, QueueError, Start};
use crate::avatar::StoredAvatar;
use crate::jobs::context::{self, Context};
use crate::jobs::outcome::{Answer, CompleteOutcome, StartOutcome};
use crate::jobs::scripts::{Complete, Fail, LeadScript, RetryLater, Start as StartScript};
use crate::jobs::{ITEM_BATCH, Started};
use crate::{Job, JobFailure, JobId};

/// How many times a transition is run again because the lists its context
/// was read from changed, before the caller is told.
const MAX_STALE_ANSWERS: usize = 16;

impl JobQueue {
    /// Runs `script` for the job accepted with `stamp` whose stream entry
    /// is `entry`, building its
    /// context again from the lists a stale answer names.
    async fn transition<O, T: LeadScript<Context, Outcome = Answer<O>>>(
        &self,
        script: &T,
        job: &Job,
        stamp: u64,
        entry: &str,
    ) -> Result<O, QueueError> {
        let settings = context::Settings {
            keys: self.keys(),
            fair: self.fair_share(),
            record_ttl_secs: self.record_ttl().as_secs(),
            hook_url: self.hook_url(),
        };
        let (mut parked_next, mut waiting) = (None, Vec::new());
        for _ in 0..MAX_STALE_ANSWERS {
            let context = Context::new(
                &settings,
                job,
                stamp,
                entry,
                now_us(),
                parked_next.as_ref(),
                &waiting,
            );
            match script.invoke(&context, &mut self.connection()).await? {
                Answer::Done(outcome) => {
                    // A full batch of waiting items may have left more.
                    if waiting.len() >= ITEM_BATCH {
                        self.drain_due().notify_one();
                    }
                    return Ok(outcome);
                }
                Answer::Stale {
                    parked_next: head,
                    waiting: ids,
                } => {
                    parked_next = (!head.is_empty()).then(|| job_id(&head)).transpose()?;
                    waiting = ids.iter().map(|id| job_id(id)).collect::<Result<_, _>>()?;
                }
            }
        }
        Err(QueueError::Contended)
    }

    /// Marks the job accepted with `stamp` whose stream entry is `entry` as
    /// being processed and counts the attempt, unless it does not run now
    /// (see [`Start`]).
    pub async fn start(&self, job: &Job, stamp: u64, entry: &str) -> Result<Start, QueueError> {
        Ok(
            match self.transition(&StartScript {}, job, stamp, entry).await? {
                StartOutcome::Parked => Start::Parked,
                StartOutcome::Cancelled => Start::Cancelled,
                StartOutcome::Skipped => Start::Skipped,
                StartOutcome::Ended => Start::Ended,
                StartOutcome::Began {
                    attempts,
                    retries,
                    retry_from,
                    accepted_us,
                } => Start::Began(Started {
                    attempts,
                    retries,
                    waited: Duration::from_micros(now_us().saturating_sub(accepted_us)),
                    retry_from,
                }),
            },
        )
    }

    /// Records the job as completed with its `avatar`, makes that the
    /// user's current avatar unless a later-accepted one already is, and
    /// acknowledges the stream entry. The avatar that is not current after
    /// this (the one replaced, or this one if a later one is current) is
    /// scheduled for deletion `retention` from now. Returns whether this
    /// avatar became current.
    pub async fn complete(
        &self,
        job: &Job,
        entry: &str,
        stamp: u64,
        avatar: &StoredAvatar,
        retention: Duration,
    ) -> Result<bool, QueueError> {
        let script = Complete {
            garbage: &self.keys().garbage_set(),
            retained: &self.keys().retained(&job.user),
            stamp,
            object_key: avatar.key.as_str(),
            sides: &avatar.sides.to_string(),
            placeholder: avatar.placeholder.as_deref().unwrap_or_default(),
            delete_after_ms: now_us() / 1000 + retention.as_millis() as u64,
        };
        let outcome = self.transition(&script, job, stamp, entry).await?;
        Ok(outcome == CompleteOutcome::Current)
    }

    /// Records the job accepted with `stamp` as failed and acknowledges its
    /// stream entry.
    pub async fn fail(
        &self,
        job: &Job,
        stamp: u64,
        entry: &str,
        failure: &JobFailure,
    ) -> Result<(), QueueError> {
        let script = Fail {
            failed: &self.keys().failed_set(),
            code: failure.code.as_str(),
            message: &failure.message,
        };
        self.transition(&script, job, stamp, entry).await?;
        Ok(())
    }

    /// Takes the job accepted with `stamp` off the stream to run again after
    /// `delay`.
    pub async fn retry_later(
        &self,
        job: &Job,
        stamp: u64,
        entry: &str,
        delay: Duration,
        reason: &str,
    ) -> Result<(), QueueError> {
        let script = RetryLater {
            retry: &self.keys().retry_set(),
            due_ms: now_us() / 1000 + delay.as_millis() as u64,
            reason,
        };
        self.transition(&script, job, stamp, entry).await?;
        self.wake_when_due(delay);
        Ok(())
    }
}

fn job_id(id: &str) -> Result<JobId, QueueError> {
    id.parse::<JobId>()
        .map_err(|e| QueueError::Corrupt(format!("a listed job id: {e}")))
}
