//! `Fetcher`: downloads a URL source with connect and total timeouts, a
//! streamed size cap, at most five redirects, and (unless private sources are
//! allowed) only to public addresses, checked on the addresses DNS returned
//! at connect time and on every redirect target.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use avatar_common::SourceUrl;
use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use url::{Host, Url};

use crate::address::is_public;

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;

/// Why a source could not be fetched; messages are shown to the client and
/// say what was wrong without internal details.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the avatar URL points to an address that is not allowed")]
    AddressNotAllowed,
    #[error("the file at the avatar URL is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("fetching the avatar URL timed out")]
    TimedOut,
    #[error("the avatar URL answered HTTP {0}")]
    Status(u16),
    #[error("the avatar URL redirected more than {MAX_REDIRECTS} times")]
    TooManyRedirects,
    #[error("the avatar URL could not be reached")]
    Unreachable,
}

/// The HTTP client for URL sources.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    allow_private: bool,
    max_bytes: u64,
}

/// Fetch limits.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub max_bytes: u64,
    pub allow_private: bool,
}

impl Fetcher {
    pub fn new(limits: &FetchLimits) -> Result<Self, reqwest::Error> {
        let allow_private = limits.allow_private;
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(FetchError::TooManyRedirects)
            } else if !matches!(attempt.url().scheme(), "http" | "https")
                || (!allow_private && literal_is_internal(attempt.url()))
            {
                attempt.error(FetchError::AddressNotAllowed)
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.total_timeout)
            .redirect(policy)
            .user_agent(concat!("avatar-service/", env!("CARGO_PKG_VERSION")))
            .no_proxy();
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            client: builder.build()?,
            allow_private,
            max_bytes: limits.max_bytes,
        })
    }

    /// Downloads `url`, refusing bodies over the byte limit as they stream.
    pub async fn fetch(&self, url: &SourceUrl) -> Result<Bytes, FetchError> {
        if !self.allow_private && literal_is_internal(url.as_url()) {
            return Err(FetchError::AddressNotAllowed);
        }
        let mut response = self
            .client
            .get(url.as_url().clone())
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let limit = self.max_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(FetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

/// Whether the URL's host is an IP literal that is not public. Host names
/// are checked by [`PublicOnly`] on what they resolve to.
fn literal_is_internal(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
        Some(Host::Domain(_)) => false,
        None => true,
    }
}

/// Maps a reqwest error to what the client is told.
fn classify(error: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(fetch) = e.downcast_ref::<FetchError>() {
            return match fetch {
                FetchError::TooManyRedirects => FetchError::TooManyRedirects,
                _ => FetchError::AddressNotAllowed,
            };
        }
        source = e.source();
    }
    if error.is_timeout() {
        FetchError::TimedOut
    } else {
        FetchError::Unreachable
    }
}

/// A resolver that drops every address that is not public, and fails when
/// none is left, so a host name cannot lead to an internal address.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = resolved.filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(FetchError::AddressNotAllowed) as _);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}
