//! `JobId`: the id of one avatar job, a ULID (48 bits of time, 80 random
//! bits), so ids sort by creation and cannot be guessed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// A job id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(Ulid);

/// Why a string is not a job id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a job id is a 26-character ULID such as 01J9Z3G6TQ5V8X2M4N7P0R1S2T")]
pub struct InvalidJobId;

impl JobId {
    /// A new, unique id.
    pub fn generate() -> Self {
        Self(Ulid::generate())
    }

    /// The creation time encoded in the id, in milliseconds since the epoch.
    pub fn timestamp_ms(&self) -> u64 {
        self.0.timestamp_ms()
    }

    /// The low 64 of the id's 80 random bits: a seed that differs from job
    /// to job.
    pub fn random_part(&self) -> u64 {
        self.0.random() as u64
    }
}

impl FromStr for JobId {
    type Err = InvalidJobId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the canonical form: the decoder accepts some strings (an
        // overflowing first character) that print back differently.
        match Ulid::from_string(s) {
            Ok(ulid) if ulid.to_string() == s => Ok(Self(ulid)),
            _ => Err(InvalidJobId),
        }
    }
}

impl TryFrom<String> for JobId {
    type Error = InvalidJobId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<JobId> for String {
    fn from(value: JobId) -> Self {
        value.to_string()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_through_strings() {
        let id = JobId::generate();
        assert_eq!(id.to_string().parse::<JobId>(), Ok(id));
        assert_eq!(id.to_string().len(), 26);
    }

    #[test]
    fn strings_that_are_not_ulids_are_refused() {
        for s in [
            "",
            "abc",
            "../../x",
            &"Z".repeat(27),
            "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
        ] {
            assert!(s.parse::<JobId>().is_err(), "{s:?} was accepted");
        }
    }
}
