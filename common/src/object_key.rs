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

    /// The key of the avatar's side `side` other than its largest, beside
    /// it: `avatar.jpg` becomes `avatar_{side}.jpg`.
    pub fn resized(&self, side: u32) -> Self {
        self.beside(&format!("avatar_{side}.jpg"))
    }

    /// The key of `file_name` in this key's folder; `file_name` is one
    /// segment of an existing key, so the result is valid too.
    pub fn beside(&self, file_name: &str) -> Self {
        Self(format!("{}{file_name}", self.folder()))
    }

    /// Everything up to the last `/`, that included: the folder holding
    /// every object of one avatar.
    pub fn folder(&self) -> &str {
        self.0.rfind('/').map_or("", |at| &self.0[..=at])
    }

    /// The last segment.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The key under which a job's raw upload is staged:
    /// `staging/{userId}/{jobId}`, so that a user's staged uploads can be
    /// listed (and removed with their avatar).
    pub fn staged_source(user: &UserId, job: &JobId) -> Self {
        Self(format!("{STAGING_PREFIX}/{user}/{job}"))
    }

    /// The prefix of every staged upload of `user`.
    pub fn staged_prefix(user: &UserId) -> String {
        format!("{STAGING_PREFIX}/{user}/")
    }

    /// The job whose staged source this key names, if it names one (also
    /// in the layout before uploads were filed by user,
    /// `staging/{jobId}`).
    pub fn staged_job(&self) -> Option<JobId> {
        let mut segments = self.segments();
        if segments.next() != Some(STAGING_PREFIX) {
            return None;
        }
        segments.last()?.parse().ok()
    }

    /// The user of an avatar's key (`{stamp}/userAvatars/{userId}/...`).
    pub fn avatar_user(&self) -> Option<UserId> {
        let mut segments = self.segments();
        match (segments.next(), segments.next(), segments.next()) {
            (Some(_), Some("userAvatars"), Some(user)) => user.parse().ok(),
            _ => None,
        }
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
    fn the_sides_of_an_avatar_share_its_folder() {
        let user: UserId = "alice".parse().expect("valid id");
        let key = ObjectKey::avatar(5, &user);
        let small = key.resized(64);
        assert_eq!(small.as_str(), "5/userAvatars/alice/avatar_64.jpg");
        assert_eq!(
            (small.folder(), small.file_name()),
            ("5/userAvatars/alice/", "avatar_64.jpg")
        );
        assert_eq!(ObjectKey::try_from(small.to_string()), Ok(small.clone()));
        let other = ObjectKey::avatar(6, &user);
        assert_eq!(
            other.beside(small.file_name()).as_str(),
            "6/userAvatars/alice/avatar_64.jpg"
        );
    }

    #[test]
    fn staged_keys_name_their_job() {
        let job = JobId::generate();
        let user: UserId = "bob".parse().expect("valid id");
        let staged = ObjectKey::staged_source(&user, &job);
        assert_eq!(staged.as_str(), format!("staging/bob/{job}"));
        assert!(
            staged
                .as_str()
                .starts_with(&ObjectKey::staged_prefix(&user))
        );
        assert_eq!(staged.staged_job(), Some(job));
        let older = ObjectKey::try_from(format!("staging/{job}")).expect("a key");
        assert_eq!(older.staged_job(), Some(job));
        assert_eq!(ObjectKey::avatar(1, &user).staged_job(), None);
        assert_eq!(ObjectKey::avatar(1, &user).avatar_user(), Some(user));
        assert_eq!(staged.avatar_user(), None);
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
