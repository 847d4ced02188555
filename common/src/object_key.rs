//! `ObjectKey`: where a stored object lives in the bucket or under the data
//! directory. Keys are only built from parsed parts (a stamp, a `UserId`, a
//! `JobId`), so no key can climb out of its prefix.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{JobId, UserId};

/// The prefix under which raw uploads wait for a worker.
pub const STAGING_PREFIX: &str = "staging";

/// A key in the object store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectKey(String);

/// Why a string is not an object key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid object key: {0:?}")]
pub struct InvalidObjectKey(String);

impl ObjectKey {
    /// The key of an avatar: `{stamp}/userAvatars/{userId}/avatar.jpg`, where
    /// the stamp is the unix-millisecond time the update was accepted.
    pub fn avatar(stamp: u64, user: &UserId) -> Self {
        Self(format!("{stamp}/userAvatars/{user}/avatar.jpg"))
    }

    /// The key under which a job's raw upload is staged.
    pub fn staged_source(job: &JobId) -> Self {
        Self(format!("{STAGING_PREFIX}/{job}"))
    }

    /// The job whose staged source this key names, if it names one.
    pub fn staged_job(&self) -> Option<JobId> {
        self.0
            .strip_prefix(STAGING_PREFIX)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|id| id.parse().ok())
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's path segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl TryFrom<String> for ObjectKey {
    type Error = InvalidObjectKey;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let valid = !value.is_empty()
            && value.len() <= 512
            && value.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            });
        if valid {
            Ok(Self(value))
        } else {
            Err(InvalidObjectKey(value))
        }
    }
}

impl From<ObjectKey> for String {
    fn from(value: ObjectKey) -> Self {
        value.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatar_keys_follow_the_documented_layout() {
        let user: UserId = "alice".parse().expect("valid id");
        let key = ObjectKey::avatar(1_700_000_000_123, &user);
        assert_eq!(key.as_str(), "1700000000123/userAvatars/alice/avatar.jpg");
        assert_eq!(ObjectKey::try_from(key.to_string()), Ok(key));
    }

    #[test]
    fn staged_keys_name_their_job() {
        let job = JobId::generate();
        assert_eq!(ObjectKey::staged_source(&job).staged_job(), Some(job));
        let user: UserId = "bob".parse().expect("valid id");
        assert_eq!(ObjectKey::avatar(1, &user).staged_job(), None);
    }

    #[test]
    fn keys_that_climb_or_hold_odd_characters_are_refused() {
        for s in [
            "", "/abs", "a//b", "../x", "a/../b", "a/./b", "a b", "a\\b", "a/",
        ] {
            assert!(ObjectKey::try_from(s.to_owned()).is_err(), "{s:?} accepted");
        }
    }
}
