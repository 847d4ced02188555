//! The rule that turns an attempt at a job into its next transition: a pure
//! function of what the attempt met and what the record says of earlier
//! attempts, so that it is tested without Redis.

use std::time::Duration;

use super::JobFailure;
use super::job::FailureCode;
use crate::JobId;
use crate::avatar::StoredAvatar;
use crate::backoff::Backoff;

/// What the record says when an attempt begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// How many earlier attempts ended in a scheduled retry.
    pub retries: u32,
    /// How long since the job was accepted.
    pub waited: Duration,
    /// When the retry budget started to run (unix ms): the acceptance, or
    /// the last time an operator queued the job again.
    pub retry_from: u64,
}

impl Started {
    /// Earlier attempts that neither ended nor scheduled a retry: their
    /// worker died (or was killed) in the middle of them.
    pub fn interrupted(&self) -> u32 {
        self.attempts.saturating_sub(self.retries + 1)
    }
}

/// What one attempt met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The avatar is stored, every side of it.
    Stored(StoredAvatar),
    /// The input cannot become an avatar: it will not on another try.
    Rejected(JobFailure),
    /// A fault of the service's own (Redis or the object store): another
    /// try may succeed.
    Faulted(String),
    /// The source's origin did not answer, or asked to be asked later (HTTP
    /// 429 or 5xx): another try may succeed, after `retry_after` when the
    /// origin said. Once the budget is spent the job fails with `failure`.
    OriginBusy {
        failure: JobFailure,
        retry_after: Option<Duration>,
    },
}

/// The transition a job takes after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Record the avatar and make it current unless a later one is.
    Complete(StoredAvatar),
    /// Record the failure; the job has ended.
    Fail(JobFailure),
    /// Take the job off the stream and run it again after `delay`.
    RetryLater { delay: Duration, reason: String },
}

/// When a job is given up rather than tried again.
#[derive(Debug, Clone)]
pub struct RetryRules {
    /// Interrupted attempts after which a job is given up: a job that
    /// keeps killing its workers must not kill them all.
    pub max_interrupted: u32,
    /// How long after `retry_from` a faulted job may still be retried.
    pub budget: Duration,
    /// The pause before each retry.
    pub backoff: Backoff,
}

impl RetryRules {
    /// The transition to take without attempting at all: a failure when
    /// too many attempts were cut short, else none.
    pub fn before_attempt(&self, started: &Started) -> Option<Transition> {
        (started.interrupted() >= self.max_interrupted).then(|| {
            Transition::Fail(JobFailure::new(
                FailureCode::Unavailable,
                format!(
                    "the service could not finish this job in {} attempts; please try again later",
                    self.max_interrupted
                ),
            ))
        })
    }

    /// The transition after `attempt`, at `now_ms`. The retry pause's
    /// jitter is drawn from the job's id.
    pub fn after_attempt(
        &self,
        job: &JobId,
        started: &Started,
        attempt: Attempt,
        now_ms: u64,
    ) -> Transition {
        match attempt {
            Attempt::Stored(avatar) => Transition::Complete(avatar),
            Attempt::Rejected(failure) => Transition::Fail(failure),
            Attempt::OriginBusy {
                failure,
                retry_after,
            } => {
                let delay = self
                    .backoff
                    .delay_seeded(started.retries, job.random_part())
                    .max(retry_after.unwrap_or_default());
                // Past the budget, or asked to wait beyond it: give up with
                // what the origin did.
                let spent = now_ms.saturating_sub(started.retry_from);
                let due = u128::from(spent) + delay.as_millis();
                if due > self.budget.as_millis() {
                    Transition::Fail(failure)
                } else {
                    Transition::RetryLater {
                        delay,
                        reason: failure.message,
                    }
                }
            }
            Attempt::Faulted(reason) => {
                let spent = now_ms.saturating_sub(started.retry_from);
                if u128::from(spent) >= self.budget.as_millis() {
                    tracing::warn!(cause = %reason, "retry budget spent");
                    Transition::Fail(JobFailure::new(
                        FailureCode::Unavailable,
                        format!(
                            "the service could not store the avatar within {} s; please try again later",
                            self.budget.as_secs()
                        ),
                    ))
                } else {
                    Transition::RetryLater {
                        delay: self
                            .backoff
                            .delay_seeded(started.retries, job.random_part()),
                        reason,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::Jitter;

    fn rules() -> RetryRules {
        RetryRules {
            max_interrupted: 3,
            budget: Duration::from_secs(300),
            backoff: Backoff {
                first: Duration::from_millis(500),
                factor: 2,
                max: Duration::from_secs(30),
                jitter: Jitter::Equal,
            },
        }
    }

    fn started(attempts: u32, retries: u32) -> Started {
        Started {
            attempts,
            retries,
            waited: Duration::ZERO,
            retry_from: 1_000_000,
        }
    }

    fn key() -> StoredAvatar {
        StoredAvatar {
            key: crate::ObjectKey::avatar(1, &"bob".parse().expect("valid user")),
            sides: "512,64".parse().expect("sides"),
            placeholder: Some("1QcSHQRnh493V4dIh4eXh1h4kJUI".into()),
        }
    }

    #[test]
    fn a_first_attempt_goes_ahead() {
        assert_eq!(rules().before_attempt(&started(1, 0)), None);
    }

    #[test]
    fn attempts_that_ended_in_retries_are_not_counted_as_interrupted() {
        assert_eq!(started(5, 4).interrupted(), 0);
        assert_eq!(rules().before_attempt(&started(5, 4)), None);
    }

    #[test]
    fn a_job_whose_workers_kept_dying_is_given_up_as_unavailable() {
        // Three attempts began and never ended; this is the fourth.
        let transition = rules().before_attempt(&started(4, 0));
        match transition {
            Some(Transition::Fail(failure)) => {
                assert_eq!(failure.code, FailureCode::Unavailable);
                assert!(
                    failure.message.contains("3 attempts"),
                    "{}",
                    failure.message
                );
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        assert_eq!(rules().before_attempt(&started(3, 0)), None);
    }

    #[test]
    fn a_stored_avatar_completes_and_a_bad_input_fails_at_once() {
        let id = JobId::generate();
        let rules = rules();
        assert_eq!(
            rules.after_attempt(&id, &started(1, 0), Attempt::Stored(key()), 1_000_000),
            Transition::Complete(key())
        );
        let failure = JobFailure::new(FailureCode::ImageRejected, "truncated");
        // Even with the whole budget left, a bad input is never retried.
        assert_eq!(
            rules.after_attempt(
                &id,
                &started(1, 0),
                Attempt::Rejected(failure.clone()),
                1_000_000
            ),
            Transition::Fail(failure)
        );
    }

    #[test]
    fn a_fault_within_the_budget_retries_after_a_growing_pause() {
        let id = JobId::generate();
        let rules = rules();
        for retries in 0..8 {
            let full =
                (Duration::from_millis(500) * 2u32.pow(retries)).min(Duration::from_secs(30));
            let transition = rules.after_attempt(
                &id,
                &started(retries + 1, retries),
                Attempt::Faulted("storage down".into()),
                1_000_000 + 299_999,
            );
            match transition {
                Transition::RetryLater { delay, reason } => {
                    assert!(delay >= full / 2 && delay <= full, "{retries}: {delay:?}");
                    assert_eq!(reason, "storage down");
                }
                other => panic!("expected a retry, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_busy_origin_is_asked_again_no_sooner_than_it_said() {
        let busy = |retry_after| Attempt::OriginBusy {
            failure: JobFailure::new(
                FailureCode::ImageRejected,
                "the avatar URL answered HTTP 503",
            ),
            retry_after,
        };
        let transition = rules().after_attempt(
            &JobId::generate(),
            &started(1, 0),
            busy(Some(Duration::from_secs(20))),
            1_000_000,
        );
        match transition {
            Transition::RetryLater { delay, reason } => {
                assert_eq!(delay, Duration::from_secs(20));
                assert!(reason.contains("503"), "{reason}");
            }
            other => panic!("expected a retry, got {other:?}"),
        }
        // Asked to wait past the budget: it fails with what the origin did.
        let transition = rules().after_attempt(
            &JobId::generate(),
            &started(1, 0),
            busy(Some(Duration::from_secs(3600))),
            1_000_000,
        );
        match transition {
            Transition::Fail(failure) => {
                assert_eq!(failure.code, FailureCode::ImageRejected);
                assert!(failure.message.contains("503"), "{}", failure.message);
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn a_fault_past_the_budget_fails_as_unavailable() {
        let transition = rules().after_attempt(
            &JobId::generate(),
            &started(7, 6),
            Attempt::Faulted("storage down".into()),
            1_000_000 + 300_000,
        );
        match transition {
            Transition::Fail(failure) => {
                assert_eq!(failure.code, FailureCode::Unavailable);
                assert!(failure.message.contains("300 s"), "{}", failure.message);
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
