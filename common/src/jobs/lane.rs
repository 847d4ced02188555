//! `Lane`: which queue a job waits in. Workers always take interactive
//! work first; bulk work uses whatever slots are left.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The lane of a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// A person waiting for one conversion: every PUT unless it asks for
    /// `priority=bulk`.
    #[default]
    Interactive,
    /// Work nobody waits for: import items and PUTs with `priority=bulk`.
    Bulk,
}

impl Lane {
    /// Every lane, in the order workers take work from them.
    pub const ALL: [Self; 2] = [Self::Interactive, Self::Bulk];

    /// The name used in the API, in metrics and in Redis.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interactive => "interactive",
            Self::Bulk => "bulk",
        }
    }

    /// Whether this is the interactive lane (the one a job is in when its
    /// record says nothing).
    pub fn is_interactive(&self) -> bool {
        *self == Self::Interactive
    }
}

impl FromStr for Lane {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|lane| lane.as_str() == s)
            .ok_or_else(|| format!("priority must be interactive or bulk, not {s:?}"))
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_round_trip_through_their_names() {
        for lane in Lane::ALL {
            assert_eq!(lane.as_str().parse(), Ok(lane));
        }
        assert!("urgent".parse::<Lane>().is_err());
    }
}
