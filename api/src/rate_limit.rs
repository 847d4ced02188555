//! Rate limits on the PUT routes, answered with 429 `rate_limited` and
//! `Retry-After`: per user (on by default, generous enough that a person
//! never meets it) and per client address (off by default). The counts are
//! kept in Redis, one bucket per user or address under the deployment's
//! prefix, by one script (see `rate.lua`), so every API process of a
//! deployment counts against the same limit and a restart forgets
//! nothing. The middleware that applies them to a request, after
//! authenticating it, is [`crate::admission`].

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use avatar_common::UserId;
use avatar_common::queue::JobQueue;
use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::error::ApiError;
use crate::settings::LimitSettings;

/// The header a trusted proxy names the client in.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// One limit: on average `per_minute`, with bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quota {
    per_minute: NonZeroU32,
    burst: NonZeroU32,
}

impl Quota {
    /// The limit the settings give, `None` for a rate of 0 (no limit).
    fn new(per_minute: u32, burst: u32) -> Option<Self> {
        Some(Self {
            per_minute: NonZeroU32::new(per_minute)?,
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        })
    }
}

/// The per-user and per-address limits, counted in Redis.
pub struct RateLimits {
    queue: JobQueue,
    per_user: Option<Quota>,
    per_client: Option<Quota>,
    proxies: TrustedProxies,
}

/// The proxies whose `X-Forwarded-For` names the client.
#[derive(Debug, Clone)]
pub struct TrustedProxies(pub Vec<ProxyRange>);

/// A proxy address or CIDR range whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyRange(IpNet);

/// Why a trusted-proxy entry was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0:?} is neither an IP address nor a CIDR range such as 10.0.0.0/8")]
pub struct InvalidProxyRange(String);

impl FromStr for ProxyRange {
    type Err = InvalidProxyRange;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        s.parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map(Self)
            .map_err(|_| InvalidProxyRange(s.to_owned()))
    }
}

impl fmt::Display for ProxyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl RateLimits {
    pub fn from_settings(settings: &LimitSettings, queue: JobQueue) -> Self {
        Self {
            queue,
            per_user: Quota::new(settings.user_rate_per_minute, settings.user_rate_burst),
            per_client: Quota::new(settings.client_rate_per_minute, settings.client_rate_burst),
            proxies: TrustedProxies(settings.trusted_proxies.clone()),
        }
    }

    /// Counts an avatar change for `user`.
    pub async fn check_user(&self, user: &UserId) -> Result<(), ApiError> {
        match self.per_user {
            Some(quota) => self.take("user", quota, user.as_str()).await,
            None => Ok(()),
        }
    }

    /// Counts a request from the client at `peer` (or the one a trusted
    /// proxy at `peer` names).
    pub async fn check_client(&self, peer: IpAddr, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(quota) = self.per_client else {
            return Ok(());
        };
        let key = limit_key(self.proxies.client_address(peer, headers)).to_string();
        self.take("address", quota, &key).await
    }

    /// Counts one request of `subject` against `quota`, kept under `scope`.
    async fn take(&self, scope: &str, quota: Quota, subject: &str) -> Result<(), ApiError> {
        match self
            .queue
            .take_rate(scope, subject, quota.per_minute, quota.burst)
            .await?
        {
            None => Ok(()),
            Some(wait) => Err(ApiError::RateLimited {
                retry_after_secs: whole_seconds(wait),
            }),
        }
    }
}

impl TrustedProxies {
    /// The client's address: the peer's, unless the peer is a trusted
    /// proxy; then the last `X-Forwarded-For` entry that is not one.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let forwarded: Vec<&str> = headers
            .get_all(FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        let mut client = peer;
        for entry in forwarded.iter().rev() {
            match entry.trim().parse::<IpAddr>() {
                Ok(ip) if self.is_trusted(ip) => client = ip,
                Ok(ip) => return ip,
                Err(_) => return client,
            }
        }
        client
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|range| range.0.contains(&ip))
    }
}

/// The key a client address is counted under: an IPv4 address as itself,
/// also when written as IPv4-mapped IPv6; an IPv6 address by its /64, the
/// smallest block one subscriber is given, so rotating addresses within it
/// does not escape the limit.
pub fn limit_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// Seconds to wait, rounded up, at least one.
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_counted_by_its_ipv4_form_or_its_ipv6_slash_64() {
        let key = |s: &str| limit_key(s.parse().expect("address"));
        assert_eq!(key("203.0.113.7"), key("::ffff:203.0.113.7"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("2001:db8:1:2:aaaa::1").to_string(), "2001:db8:1:2::");
    }

    fn limits(trusted: &[&str]) -> TrustedProxies {
        TrustedProxies(trusted.iter().map(|s| s.parse().expect("range")).collect())
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(FORWARDED_FOR, value.parse().expect("header value"));
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let limits = limits(&["10.0.0.0/8"]);
        let headers = forwarded("1.2.3.4");
        assert_eq!(
            limits.client_address(ip("8.8.8.8"), &headers),
            ip("8.8.8.8")
        );
    }

    #[test]
    fn the_last_untrusted_forwarded_address_is_the_client() {
        let limits = limits(&["10.0.0.0/8", "192.168.1.1"]);
        let headers = forwarded("6.6.6.6, 1.2.3.4, 10.1.1.1, 192.168.1.1");
        assert_eq!(
            limits.client_address(ip("10.0.0.1"), &headers),
            ip("1.2.3.4")
        );
        let headers = forwarded("garbage, 10.1.1.1");
        assert_eq!(
            limits.client_address(ip("10.0.0.1"), &headers),
            ip("10.1.1.1")
        );
        let none = HeaderMap::new();
        assert_eq!(limits.client_address(ip("10.0.0.1"), &none), ip("10.0.0.1"));
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
    }

    #[test]
    fn proxy_ranges_take_addresses_and_cidr_ranges() {
        assert!("10.0.0.0/8".parse::<ProxyRange>().is_ok());
        assert!("127.0.0.1".parse::<ProxyRange>().is_ok());
        assert!("::1".parse::<ProxyRange>().is_ok());
        assert!("localhost".parse::<ProxyRange>().is_err());
    }
}
