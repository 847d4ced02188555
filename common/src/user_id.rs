//! `UserId`: the id of the user whose avatar is read or replaced. It is 1 to
//! 64 characters of `A-Z a-z 0-9 _ -`, so it is safe inside object keys,
//! Redis keys and URLs. The alias `me` is resolved by the API, not here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest accepted user id, in characters.
pub const MAX_USER_ID_LEN: usize = 64;

/// A validated user id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

/// Why a string is not a user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a user id is 1 to {MAX_USER_ID_LEN} characters of letters, digits, '_' and '-'; got {0:?}"
)]
pub struct InvalidUserId(String);

impl UserId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = InvalidUserId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let valid = !value.is_empty()
            && value.len() <= MAX_USER_ID_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(value))
        } else {
            let shown: String = value.chars().take(MAX_USER_ID_LEN + 8).collect();
            Err(InvalidUserId(shown))
        }
    }
}

impl FromStr for UserId {
    type Err = InvalidUserId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl From<UserId> for String {
    fn from(value: UserId) -> Self {
        value.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_allowed_characters_parse() {
        for id in ["a", "user_42", "A-b_C-9", &"x".repeat(MAX_USER_ID_LEN)] {
            assert_eq!(id.parse::<UserId>().map(String::from), Ok(id.to_owned()));
        }
    }

    #[test]
    fn empty_long_or_unsafe_ids_are_refused() {
        let long = "x".repeat(MAX_USER_ID_LEN + 1);
        for id in ["", &long, "a/b", "..", "a b", "é", "a:b", "a\0"] {
            assert!(id.parse::<UserId>().is_err(), "{id:?} was accepted");
        }
    }

    #[test]
    fn deserializing_refuses_bad_ids() {
        assert!(serde_json::from_str::<UserId>("\"../etc\"").is_err());
        assert!(serde_json::from_str::<UserId>("\"ok-id\"").is_ok());
    }
}
