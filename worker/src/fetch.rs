//! `Fetcher`: downloads a URL source with connect and total timeouts, a
//! streamed size cap, a minimum transfer rate, at most five redirects, only
//! to the allowed ports (80 and 443 by default) and, when a list is set,
//! hosts, never with a user name or password in the URL, and (unless
//! private sources are allowed) only to public addresses, checked on the
//! addresses DNS returned at connect time and on every redirect target.
//!
//! Every failure to get an answer (a refused connection, a reset, a
//! timeout) tells the client the same thing, so a URL import cannot be used
//! to tell a closed port from a filtered one; the detail goes to the log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use avatar_common::SourceUrl;
use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use tokio::time::Instant;

pub use crate::address::AllowedPorts;
use crate::address::{HostPattern, UrlRefusal, UrlRules, is_public};
use crate::settings::Settings;

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;

/// The slowest transfer accepted when the settings do not say: 10 KiB/s.
pub const DEFAULT_MIN_BYTES_PER_SEC: u64 = 10 * 1024;

/// The window the transfer rate is measured over when the settings do not say.
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(5);

impl FetchError {
    /// Whether the origin may answer another time: no answer at all, too
    /// slow an answer, or HTTP 429 or 5xx. Everything else (another 4xx,
    /// too large, not allowed) is the URL's own fault.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable | Self::TimedOut | Self::TooSlow { .. } => true,
            Self::Status { code, .. } => *code == 429 || *code >= 500,
            _ => false,
        }
    }

    /// How long the origin asked to wait before it is asked again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What the client is told of any failure to get an answer.
const UNREACHABLE: &str = "the avatar URL could not be reached: its server did not answer in time";

/// Why a source could not be fetched; messages are shown to the client and
/// say what was wrong without internal details.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("the avatar URL points to an address that is not allowed")]
    AddressNotAllowed,
    #[error("the avatar URL points to a host that is not allowed")]
    HostNotAllowed,
    #[error("the file at the avatar URL is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error(
        "the avatar URL uses port {port}, which is not allowed; use an http or https URL on an allowed port (80 or 443 unless the operator set others)"
    )]
    PortNotAllowed { port: u16 },
    #[error(
        "the avatar URL, or a redirect it led to, holds a user name or password; use a URL without credentials"
    )]
    Credentials,
    #[error("{UNREACHABLE}")]
    TimedOut,
    #[error("the avatar URL sent its file too slowly (under {min_bytes_per_sec} bytes per second)")]
    TooSlow { min_bytes_per_sec: u64 },
    #[error("the avatar URL answered HTTP {code}")]
    Status {
        code: u16,
        /// How long the origin asked to wait (`Retry-After`, in seconds),
        /// with a 429 or 503.
        retry_after: Option<Duration>,
    },
    #[error("the avatar URL redirected more than {MAX_REDIRECTS} times")]
    TooManyRedirects,
    #[error("{UNREACHABLE}")]
    Unreachable,
}

/// The HTTP client for URL sources.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    rules: Arc<UrlRules>,
    max_bytes: u64,
    min_rate: Option<MinRate>,
}

/// Fetch limits.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub max_bytes: u64,
    pub allow_private: bool,
}

/// What a fetch may reach and how slow it may be, beyond [`FetchLimits`].
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// When not empty, the only hosts a fetch (and each redirect) may go to.
    pub allowed_hosts: Vec<HostPattern>,
    /// The ports a fetch (and each redirect) may go to.
    pub allowed_ports: AllowedPorts,
    /// The slowest accepted transfer; `None`: no floor.
    pub min_rate: Option<MinRate>,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            allowed_ports: AllowedPorts::default(),
            min_rate: Some(MinRate {
                bytes_per_sec: DEFAULT_MIN_BYTES_PER_SEC,
                window: DEFAULT_RATE_WINDOW,
            }),
        }
    }
}

/// A floor on the transfer rate: each `window` of the body, from the
/// response headers on, must bring at least `bytes_per_sec * window` bytes,
/// so a server that trickles cannot hold a worker until the total timeout.
#[derive(Debug, Clone, Copy)]
pub struct MinRate {
    pub bytes_per_sec: u64,
    pub window: Duration,
}

impl MinRate {
    fn bytes_per_window(&self) -> u64 {
        let bytes = u128::from(self.bytes_per_sec) * self.window.as_millis() / 1000;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }
}

impl FetchLimits {
    /// The limits the settings describe.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            connect_timeout: Duration::from_secs(settings.worker.fetch_connect_timeout_secs),
            total_timeout: Duration::from_secs(settings.worker.fetch_timeout_secs),
            max_bytes: settings.shared.image.max_upload_bytes,
            allow_private: settings.shared.outbound.allow_private_sources,
        }
    }
}

impl FetchPolicy {
    /// The policy the settings describe.
    pub fn from_settings(settings: &Settings) -> Self {
        let worker = &settings.worker;
        Self {
            allowed_hosts: settings.shared.outbound.fetch_allowed_hosts.clone(),
            allowed_ports: settings.shared.outbound.fetch_allowed_ports.clone(),
            min_rate: (worker.fetch_min_bytes_per_sec > 0).then(|| MinRate {
                bytes_per_sec: worker.fetch_min_bytes_per_sec,
                window: Duration::from_secs(worker.fetch_rate_window_secs.max(1)),
            }),
        }
    }
}

impl Fetcher {
    /// A fetcher with the default [`FetchPolicy`].
    pub fn new(limits: &FetchLimits) -> Result<Self, reqwest::Error> {
        Self::with_policy(limits, FetchPolicy::default())
    }

    /// The fetcher the settings describe.
    pub fn from_settings(settings: &Settings) -> Result<Self, reqwest::Error> {
        Self::with_policy(
            &FetchLimits::from_settings(settings),
            FetchPolicy::from_settings(settings),
        )
    }

    pub fn with_policy(limits: &FetchLimits, policy: FetchPolicy) -> Result<Self, reqwest::Error> {
        Self::build(limits, policy, Arc::new(PublicOnly))
    }

    /// `resolver` replaces [`PublicOnly`] in tests only.
    fn build(
        limits: &FetchLimits,
        policy: FetchPolicy,
        resolver: Arc<dyn Resolve>,
    ) -> Result<Self, reqwest::Error> {
        let allow_private = limits.allow_private;
        let rules = Arc::new(UrlRules {
            allow_private,
            hosts: policy.allowed_hosts,
            ports: policy.allowed_ports,
        });
        let redirect_rules = rules.clone();
        let policy_fn = redirect::Policy::custom(move |attempt| {
            // `previous` holds the first URL and every redirect so far.
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(FetchError::TooManyRedirects);
            }
            match redirect_rules.check(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(refusal) => attempt.error(FetchError::from(refusal)),
            }
        });
        let mut builder = reqwest::Client::builder()
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.total_timeout)
            .redirect(policy_fn)
            .user_agent(concat!("avatar-service/", env!("CARGO_PKG_VERSION")))
            .no_proxy();
        if !allow_private {
            builder = builder.dns_resolver(resolver);
        }
        Ok(Self {
            client: builder.build()?,
            rules,
            max_bytes: limits.max_bytes,
            min_rate: policy.min_rate,
        })
    }

    /// Posts `body` to `url` under the same rules as a fetch (the address
    /// of every URL and redirect checked), for a client's webhook
    /// `callbackUrl`; returns the answer's status.
    pub async fn post(
        &self,
        url: &SourceUrl,
        headers: reqwest::header::HeaderMap,
        body: String,
        timeout: Duration,
    ) -> Result<u16, FetchError> {
        self.rules.check(url.as_url()).map_err(FetchError::from)?;
        let response = self
            .client
            .post(url.as_url().clone())
            .headers(headers)
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(classify)?;
        Ok(response.status().as_u16())
    }

    /// Downloads `url`, refusing bodies over the byte limit or under the
    /// minimum rate as they stream.
    pub async fn fetch(&self, url: &SourceUrl) -> Result<Bytes, FetchError> {
        self.rules.check(url.as_url()).map_err(FetchError::from)?;
        let response = self
            .client
            .get(url.as_url().clone())
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(FetchError::Status {
                code: status.as_u16(),
                retry_after,
            });
        }
        let limit = self.max_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        self.read_body(response).await
    }

    async fn read_body(&self, mut response: reqwest::Response) -> Result<Bytes, FetchError> {
        let limit = self.max_bytes;
        let mut floor = self.min_rate.map(RateFloor::start);
        let mut body = BytesMut::new();
        loop {
            let next = match &floor {
                Some(f) => tokio::time::timeout_at(f.window_end, response.chunk())
                    .await
                    .ok(),
                None => Some(response.chunk().await),
            };
            if let Some(next) = next {
                let Some(chunk) = next.map_err(classify)? else {
                    break;
                };
                if (body.len() + chunk.len()) as u64 > limit {
                    return Err(FetchError::TooLarge { limit });
                }
                body.extend_from_slice(&chunk);
                if let Some(f) = &mut floor {
                    f.received(chunk.len());
                }
            }
            if let Some(f) = &mut floor {
                f.check(Instant::now())?;
            }
        }
        Ok(body.freeze())
    }
}

/// Measures a transfer against a [`MinRate`], one window at a time.
struct RateFloor {
    rate: MinRate,
    window_end: Instant,
    in_window: u64,
}

impl RateFloor {
    fn start(rate: MinRate) -> Self {
        Self {
            rate,
            window_end: Instant::now() + rate.window,
            in_window: 0,
        }
    }

    fn received(&mut self, bytes: usize) {
        self.in_window = self.in_window.saturating_add(bytes as u64);
    }

    /// At the end of a window, fails if it brought too little, else starts
    /// the next one.
    fn check(&mut self, now: Instant) -> Result<(), FetchError> {
        if now < self.window_end {
            return Ok(());
        }
        if self.in_window < self.rate.bytes_per_window() {
            return Err(FetchError::TooSlow {
                min_bytes_per_sec: self.rate.bytes_per_sec,
            });
        }
        self.window_end = now + self.rate.window;
        self.in_window = 0;
        Ok(())
    }
}

impl From<UrlRefusal> for FetchError {
    fn from(refusal: UrlRefusal) -> Self {
        match refusal {
            UrlRefusal::Credentials => Self::Credentials,
            UrlRefusal::Port(port) => Self::PortNotAllowed { port },
            UrlRefusal::Host => Self::HostNotAllowed,
            UrlRefusal::Scheme | UrlRefusal::NoHost | UrlRefusal::Address => {
                Self::AddressNotAllowed
            }
        }
    }
}

/// Maps a reqwest error to what the client is told.
fn classify(error: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(fetch) = e.downcast_ref::<FetchError>() {
            return fetch.clone();
        }
        source = e.source();
    }
    // The client is told one thing; what really happened is logged.
    tracing::info!(error = %error, "the URL source gave no answer");
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

#[cfg(test)]
mod tests;
