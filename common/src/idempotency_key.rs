//! `IdempotencyKey`: the client's name for one logical update, sent in the
//! `Idempotency-Key` header, so that a retried request returns the job of
//! the first one instead of making another.

use std::fmt;
use std::str::FromStr;

/// The longest accepted key, in characters.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// A validated idempotency key: 1 to 128 characters of letters, digits and
/// `_ - . :`, safe inside a Redis key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why a header value is not an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters of letters, digits, '_', '-', '.' and ':'"
)]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IdempotencyKey {
    type Err = InvalidIdempotencyKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_token(s, MAX_IDEMPOTENCY_KEY_LEN) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidIdempotencyKey)
        }
    }
}

/// Whether `s` is 1 to `max` characters of letters, digits and `_ - . :`:
/// safe in a Redis key, a header and a log line.
pub(crate) fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_simple_tokens_are_keys() {
        for s in [
            "a",
            "3f1c9a0e-8d2b-4c1e-9f3a-2b7d5e6c8a10",
            "import:batch-7.item_42",
        ] {
            assert!(s.parse::<IdempotencyKey>().is_ok(), "{s}");
        }
    }

    #[test]
    fn empty_long_or_odd_keys_are_refused() {
        let long = "k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1);
        for s in ["", long.as_str(), "a b", "a/b", "a*", "é"] {
            assert!(s.parse::<IdempotencyKey>().is_err(), "{s:?}");
        }
    }
}
