//! `RequestId`: the name one request and the job it makes carry on every
//! log line, in the API and in the worker: the client's own `X-Request-Id`
//! when it is a sane token, else one made for it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::idempotency_key::is_token;

/// The header a request id travels in, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest request id taken from a client, in characters.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// A request id: 1 to 64 characters of letters, digits and `_ - . :`, safe
/// in a log line and a header (a UUID, a ULID, a trace id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

/// Why a header value is not a request id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a request id is 1 to {MAX_REQUEST_ID_LEN} characters of letters, digits, '_', '-', '.' and ':'"
)]
pub struct InvalidRequestId;

impl RequestId {
    /// A new id, a ULID.
    pub fn generate() -> Self {
        Self(ulid::Ulid::generate().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RequestId {
    type Err = InvalidRequestId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_token(s, MAX_REQUEST_ID_LEN) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidRequestId)
        }
    }
}

impl TryFrom<String> for RequestId {
    type Error = InvalidRequestId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RequestId> for String {
    fn from(id: RequestId) -> Self {
        id.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_trace_ids_and_ulids_are_ids() {
        for s in [
            "3f1c9a0e-8d2b-4c1e-9f3a-2b7d5e6c8a10",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "01M8T62ZQ28CF1MK8EHG08DDVZ",
            "edge:7.a_b",
        ] {
            assert!(s.parse::<RequestId>().is_ok(), "{s}");
        }
        assert!(RequestId::generate().as_str().parse::<RequestId>().is_ok());
    }

    #[test]
    fn empty_long_or_odd_ids_are_refused() {
        let long = "r".repeat(MAX_REQUEST_ID_LEN + 1);
        for s in ["", long.as_str(), "a b", "a\nb", "a\"b", "é", "a/b"] {
            assert!(s.parse::<RequestId>().is_err(), "{s:?}");
        }
    }
}
