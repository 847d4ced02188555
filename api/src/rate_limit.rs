//! Rate limits on the PUT routes, answered with 429 `rate_limited` and
//! `Retry-After`: per user (on by default, generous enough that a person
//! never meets it) and per client address (off by default). The counts are
//! kept in memory, per API process. The middleware that applies them to a
//! request, after authenticating it, is [`crate::admission`].

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use avatar_common::UserId;
use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use crate::error::ApiError;
use crate::settings::LimitSettings;

/// The header a trusted proxy names the client in.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// The per-user and per-address limiters.
pub struct RateLimits {
    per_user: Option<DefaultKeyedRateLimiter<UserId>>,
    per_client: Option<DefaultKeyedRateLimiter<IpAddr>>,
    trusted_proxies: Vec<ProxyRange>,
}

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

fn limiter<K>(per_minute: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<K>>
where
    K: std::hash::Hash + Eq + Clone,
{
    let per_minute = NonZeroU32::new(per_minute)?;
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Some(RateLimiter::keyed(
        Quota::per_minute(per_minute).allow_burst(burst),
    ))
}

impl RateLimits {
    pub fn from_settings(settings: &LimitSettings) -> Self {
        Self {
            per_user: limiter(settings.user_rate_per_minute, settings.user_rate_burst),
            per_client: limiter(settings.client_rate_per_minute, settings.client_rate_burst),
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }

    /// Counts an avatar change for `user`.
    pub fn check_user(&self, user: &UserId) -> Result<(), ApiError> {
        match &self.per_user {
            Some(limiter) => limiter.check_key(user).map_err(refusal),
            None => Ok(()),
        }
    }

    /// Counts a request from the client at `peer` (or the one a trusted
    /// proxy at `peer` names).
    pub fn check_client(&self, peer: IpAddr, headers: &HeaderMap) -> Result<(), ApiError> {
        match &self.per_client {
            Some(limiter) => limiter
                .check_key(&limit_key(self.client_address(peer, headers)))
                .map_err(refusal),
            None => Ok(()),
        }
    }

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

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies
            .iter()
            .any(|range| range.0.contains(&ip))
    }

    /// Drops the counts of keys that are back to a full burst, so memory
    /// stays proportional to recent callers.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.per_user {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_client {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The key a client address is counted under: an IPv4 address as itself,
/// also when written as IPv4-mapped IPv6; an IPv6 address by its /64, the
/// smallest block one subscriber is given, so rotating addresses within it
/// does not escape the limit.
fn limit_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

fn refusal(not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> ApiError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    ApiError::RateLimited {
        retry_after_secs: whole_seconds(wait),
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

    #[test]
    fn rotating_within_a_slash_64_does_not_escape_the_address_limit() {
        let limits = RateLimits {
            per_user: None,
            per_client: limiter(1, 2),
            trusted_proxies: Vec::new(),
        };
        let headers = HeaderMap::new();
        let results: Vec<bool> = (1..=3)
            .map(|n| {
                let peer: IpAddr = format!("2001:db8:5:6::{n}").parse().expect("address");
                limits.check_client(peer, &headers).is_ok()
            })
            .collect();
        assert_eq!(results, [true, true, false]);
    }

    fn limits(trusted: &[&str]) -> RateLimits {
        RateLimits {
            per_user: limiter(60, 2),
            per_client: None,
            trusted_proxies: trusted.iter().map(|s| s.parse().expect("range")).collect(),
        }
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
    fn a_user_over_the_burst_is_told_when_to_retry() {
        let limits = limits(&[]);
        let user: UserId = "alice".parse().expect("user");
        assert!(limits.check_user(&user).is_ok());
        assert!(limits.check_user(&user).is_ok());
        match limits.check_user(&user) {
            Err(ApiError::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let other: UserId = "bob".parse().expect("user");
        assert!(limits.check_user(&other).is_ok());
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
