//! `JobStatus`: the states of a job record, as stored in Redis and as the
//! API reports them.

use std::fmt;
use std::str::FromStr;

/// Where a job is in its life. See the [module docs](super) for the
/// transitions between these states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// In the stream, waiting for a worker.
    Queued,
    /// Taken by a worker, which has begun an attempt.
    Processing,
    /// Off the stream, in the retry set until its retry is due.
    RetryLater,
    /// Ended with a stored avatar.
    Completed,
    /// Ended without one.
    Failed,
    /// An import item whose import was cancelled before it started.
    Cancelled,
    /// An import item of `mode=missing` whose user already had an avatar.
    Skipped,
}

impl JobStatus {
    /// Every state, for the Lua scripts' table of names.
    pub const ALL: [Self; 7] = [
        Self::Queued,
        Self::Processing,
        Self::RetryLater,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::Skipped,
    ];

    /// The name stored in the job record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::RetryLater => "retry_later",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
        }
    }

    /// The name the API reports: a job waiting for its retry is, to the
    /// client, queued again.
    pub fn api_name(self) -> &'static str {
        match self {
            Self::RetryLater => Self::Queued.as_str(),
            other => other.as_str(),
        }
    }

    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::Skipped
        )
    }
}

impl FromStr for JobStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown job status {s:?}"))
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_stored_names() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
    }

    #[test]
    fn a_job_waiting_for_its_retry_is_reported_as_queued() {
        assert_eq!(JobStatus::RetryLater.api_name(), "queued");
        assert_eq!(JobStatus::Processing.api_name(), "processing");
        assert!(!JobStatus::RetryLater.is_final());
    }
}
