//! The named outcomes the Lua scripts answer with: each answer is a table
//! whose first element names what happened, mapped here onto a Rust enum,
//! so that no caller reads meaning into a number.

use redis::{FromRedisValue, ParsingError, Value};

/// Declares an enum of named outcomes, each answered as a table holding
/// only its name.
macro_rules! outcomes {
    ($(#[$doc:meta])* $name:ident { $($(#[$variant_doc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum $name {
            $($(#[$variant_doc])* $variant),*
        }

        impl FromRedisValue for $name {
            fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
                let answer: Vec<String> = FromRedisValue::from_redis_value(v)?;
                match answer.first().map(String::as_str) {
                    $(Some($text) => Ok(Self::$variant),)*
                    _ => Err(unexpected(stringify!($name), &answer)),
                }
            }
        }
    };
}

fn unexpected(script: &str, answer: &[String]) -> ParsingError {
    format!("{script}: unexpected answer {answer:?}").into()
}

/// Reads the `n`th element of an answer as a number.
fn number<T: std::str::FromStr>(
    script: &str,
    answer: &[String],
    n: usize,
) -> Result<T, ParsingError> {
    answer
        .get(n)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| unexpected(script, answer))
}

/// A transition's answer: its outcome, or `stale` when the lists its
/// context was read from changed meanwhile (see [`super::context`]); then
/// nothing was changed, and the lists are given as they now are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer<T> {
    Done(T),
    Stale {
        /// The head of the user's parked list, or empty.
        parked_next: String,
        /// The ids of the items waiting behind the job's URL.
        waiting: Vec<String>,
    },
}

impl<T: FromRedisValue> FromRedisValue for Answer<T> {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        if let Value::Array(items) = &v
            && let Some(Value::BulkString(first)) = items.first()
            && first.as_slice() == b"stale"
        {
            let mut answer: Vec<String> = FromRedisValue::from_redis_value(v)?;
            let waiting = answer.split_off(2.min(answer.len()));
            return Ok(Self::Stale {
                parked_next: answer.pop().unwrap_or_default(),
                waiting,
            });
        }
        T::from_redis_value(v).map(Self::Done)
    }
}

/// What `enqueue.lua` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnqueueOutcome {
    /// The job was accepted with this stamp.
    Accepted { stamp: u64 },
    /// Its idempotency key was seen before: the earlier job.
    Repeated { earlier: String },
}

impl FromRedisValue for EnqueueOutcome {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        let answer: Vec<String> = FromRedisValue::from_redis_value(v)?;
        match answer.first().map(String::as_str) {
            Some("accepted") => Ok(Self::Accepted {
                stamp: number("Enqueue", &answer, 1)?,
            }),
            Some("repeated") => answer
                .get(1)
                .map(|earlier| Self::Repeated {
                    earlier: earlier.clone(),
                })
                .ok_or_else(|| unexpected("Enqueue", &answer)),
            _ => Err(unexpected("Enqueue", &answer)),
        }
    }
}

/// What `start.lua` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartOutcome {
    /// An attempt began: what the record says of the job's attempts.
    Began {
        attempts: u32,
        retries: u32,
        retry_from: u64,
        accepted_us: u64,
    },
    /// Its user is at the cap: the job was parked and its entry
    /// acknowledged.
    Parked,
    /// An import item whose import was cancelled: it ended so.
    Cancelled,
    /// An import item that may only fill a missing avatar, for a user who
    /// has one: it ended as skipped.
    Skipped,
    /// The job had ended already: its entry was stale and is dropped.
    Ended,
}

impl FromRedisValue for StartOutcome {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        let answer: Vec<String> = FromRedisValue::from_redis_value(v)?;
        match answer.first().map(String::as_str) {
            Some("began") => Ok(Self::Began {
                attempts: number("Start", &answer, 1)?,
                retries: number("Start", &answer, 2)?,
                retry_from: number("Start", &answer, 3)?,
                accepted_us: number("Start", &answer, 4)?,
            }),
            Some("parked") => Ok(Self::Parked),
            Some("cancelled") => Ok(Self::Cancelled),
            Some("skipped") => Ok(Self::Skipped),
            Some("ended") => Ok(Self::Ended),
            _ => Err(unexpected("Start", &answer)),
        }
    }
}

outcomes! {
    /// What `complete.lua` did.
    CompleteOutcome {
        /// The avatar became the user's current one.
        Current = "current",
        /// Recorded, but a later (or the same) avatar is current.
        NotCurrent = "not_current",
        /// An import item that may only fill a missing avatar, for a user
        /// who has one by now.
        Skipped = "skipped",
        /// The job had been recorded already; its entry was acknowledged.
        RecordedBefore = "recorded_before",
    }
}

outcomes! {
    /// What `fail.lua` did.
    FailOutcome {
        Failed = "failed",
        RecordedBefore = "recorded_before",
    }
}

outcomes! {
    /// What `retry.lua` did.
    RetryOutcome {
        Scheduled = "scheduled",
        RecordedBefore = "recorded_before",
    }
}

outcomes! {
    /// What `acquire_host.lua` did.
    PermitOutcome {
        Taken = "taken",
        AllHeld = "all_held",
    }
}

/// What `rate.lua` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateOutcome {
    /// The request was counted and may go on.
    Allowed,
    /// The limit is reached: a request would be let in after this many µs.
    Limited { wait_us: u64 },
}

impl FromRedisValue for RateOutcome {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        let answer: Vec<String> = FromRedisValue::from_redis_value(v)?;
        match answer.first().map(String::as_str) {
            Some("allowed") => Ok(Self::Allowed),
            Some("limited") => Ok(Self::Limited {
                wait_us: number("RateLimit", &answer, 1)?,
            }),
            _ => Err(unexpected("RateLimit", &answer)),
        }
    }
}

outcomes! {
    /// What `import_drain.lua` and `import_cancel_scan.lua` did.
    DrainOutcome {
        /// The batch was handled; more is left.
        More = "more",
        /// The batch was handled and nothing is left.
        Done = "done",
        /// The list was not as read: nothing was done.
        Stale = "stale",
    }
}

outcomes! {
    /// What `delete.lua` did.
    DeleteOutcome {
        /// The user had an avatar; it is gone.
        Deleted = "deleted",
        /// The user had none.
        None = "none",
    }
}

outcomes! {
    /// What `import_cancel.lua` did.
    CancelOutcome {
        Cancelled = "cancelled",
        NotFound = "not_found",
    }
}

outcomes! {
    /// What `hooks_end.lua` and `hooks_retry.lua` did.
    HookOutcome {
        Ended = "ended",
        Scheduled = "scheduled",
        /// The delivery's record had gone.
        Gone = "gone",
    }
}

outcomes! {
    /// What `promote_parked.lua` did.
    PromoteOutcome {
        Done = "done",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(items: &[&str]) -> Value {
        Value::Array(
            items
                .iter()
                .map(|s| Value::BulkString(s.as_bytes().to_vec()))
                .collect(),
        )
    }

    #[test]
    fn a_stale_answer_carries_the_lists_as_they_are() {
        let read: Answer<CompleteOutcome> =
            FromRedisValue::from_redis_value(answer(&["stale", "", "a", "b"])).expect("parses");
        assert_eq!(
            read,
            Answer::Stale {
                parked_next: String::new(),
                waiting: vec!["a".into(), "b".into()]
            }
        );
    }

    #[test]
    fn named_outcomes_map_onto_their_variants_and_others_are_refused() {
        let read: Answer<CompleteOutcome> =
            FromRedisValue::from_redis_value(answer(&["current"])).expect("parses");
        assert_eq!(read, Answer::Done(CompleteOutcome::Current));
        let began = Value::Array(vec![
            Value::BulkString(b"began".to_vec()),
            Value::Int(2),
            Value::Int(1),
            Value::Int(5),
            Value::Int(7),
        ]);
        assert_eq!(
            StartOutcome::from_redis_value(began).expect("parses"),
            StartOutcome::Began {
                attempts: 2,
                retries: 1,
                retry_from: 5,
                accepted_us: 7
            }
        );
        assert!(FailOutcome::from_redis_value(answer(&["-1"])).is_err());
    }
}
