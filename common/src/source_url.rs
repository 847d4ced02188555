//! `SourceUrl`: the address a worker fetches a new avatar from. Only `http`
//! and `https`, with a host, without credentials, and of bounded length. Which
//! addresses a host may resolve to is checked at connect time by the worker.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

/// The longest accepted source URL, in bytes.
pub const MAX_SOURCE_URL_LEN: usize = 2048;

/// A URL that passed the syntactic checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourceUrl(Url);

/// Why a string is not an acceptable source URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSourceUrl {
    #[error("the avatar URL is longer than {MAX_SOURCE_URL_LEN} bytes")]
    TooLong,
    #[error("the avatar URL is not a valid absolute URL: {0}")]
    Malformed(String),
    #[error("the avatar URL must use http or https, not {0:?}")]
    Scheme(String),
    #[error("the avatar URL must not contain a user name or password")]
    Credentials,
    #[error("the avatar URL has no host")]
    NoHost,
}

impl SourceUrl {
    /// The parsed URL.
    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

impl FromStr for SourceUrl {
    type Err = InvalidSourceUrl;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_SOURCE_URL_LEN {
            return Err(InvalidSourceUrl::TooLong);
        }
        let url = Url::parse(s).map_err(|e| InvalidSourceUrl::Malformed(e.to_string()))?;
        // Parsing percent-encodes and normalises, which can lengthen the
        // URL: the limit holds for the form that is stored and read back.
        if url.as_str().len() > MAX_SOURCE_URL_LEN {
            return Err(InvalidSourceUrl::TooLong);
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(InvalidSourceUrl::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidSourceUrl::Credentials);
        }
        if url.host().is_none() {
            return Err(InvalidSourceUrl::NoHost);
        }
        Ok(Self(url))
    }
}

impl TryFrom<String> for SourceUrl {
    type Error = InvalidSourceUrl;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<SourceUrl> for String {
    fn from(value: SourceUrl) -> Self {
        value.0.into()
    }
}

impl fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_parse() {
        for s in ["https://example.com/a.png", "http://127.0.0.1:8080/x?y=1"] {
            assert!(s.parse::<SourceUrl>().is_ok(), "{s} was refused");
        }
    }

    #[test]
    fn a_url_that_grows_past_the_limit_when_normalised_is_refused() {
        // Each "é" (2 bytes) is stored as "%C3%A9" (6): 700 of them fit the
        // limit as typed but not as stored.
        let typed = format!("https://example.com/{}", "é".repeat(700));
        assert!(typed.len() <= MAX_SOURCE_URL_LEN);
        assert_eq!(typed.parse::<SourceUrl>(), Err(InvalidSourceUrl::TooLong));
    }

    #[test]
    fn accepted_urls_parse_again_from_their_stored_form() {
        let typed = format!("https://example.com/{}", "é".repeat(300));
        let url: SourceUrl = typed.parse().expect("fits");
        assert_eq!(url.to_string().parse::<SourceUrl>(), Ok(url));
    }

    #[test]
    fn other_schemes_credentials_and_junk_are_refused() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_SOURCE_URL_LEN));
        let cases = [
            ("file:///etc/passwd", "Scheme"),
            ("ftp://example.com/a", "Scheme"),
            ("https://user:pw@example.com/", "Credentials"),
            ("https://user@example.com/", "Credentials"),
            ("not a url", "Malformed"),
            ("/relative/path", "Malformed"),
            (long.as_str(), "TooLong"),
        ];
        for (s, kind) in cases {
            let err = s.parse::<SourceUrl>().expect_err(s);
            assert!(format!("{err:?}").starts_with(kind), "{s}: {err:?}");
        }
    }
}
