//! Which network addresses a URL import or a webhook callback may connect
//! to: public unicast only, unless private sources are allowed. IPv4 addresses embedded in IPv6
//! (mapped, compatible, NAT64, 6to4) are judged as the IPv4 address they carry.
//! Also [`UrlRules`], what such a URL must satisfy before it is resolved:
//! [`HostPattern`], an entry of the optional list of hosts URL imports and
//! callbacks are limited to, and [`AllowedPorts`], the ports they may use.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use url::Host;

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

/// Whether `host` is an IP literal that is not public. A host name is
/// not: it is judged on what it resolves to, when a fetch connects.
pub fn is_internal_literal(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => !is_public(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => !is_public(IpAddr::V6(*ip)),
        Host::Domain(_) => false,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18/15
        || a >= 240; // reserved
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site local (deprecated) fec0::/10
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x3fff && ip.segments()[1] < 0x1000) // documentation 3fff::/20
        || first == 0x5f00 // segment routing SIDs 5f00::/16
        || is_special_2001(ip)
        || first == 0x0100; // discard-only 100::/64
    !refused
}

/// Whether `ip` is in the IETF protocol assignments 2001::/23 and not in
/// one of its blocks that IANA's special-purpose registry calls globally
/// reachable: so Teredo 2001::/32, benchmarking 2001:2::/48 and ORCHID
/// 2001:10::/28 are refused, while the anycast 2001:1::1 and ::2, AMT
/// 2001:3::/32, AS112 2001:4:112::/48 and ORCHIDv2 2001:20::/28 (and
/// 2001:30::/28, drone remote ID) are public.
fn is_special_2001(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if s[0] != 0x2001 || s[1] >= 0x0200 {
        return false;
    }
    let global = (s[1] == 0x0001 && s[2..7].iter().all(|&x| x == 0) && matches!(s[7], 1 | 2))
        || s[1] == 0x0003
        || (s[1] == 0x0004 && s[2] == 0x0112)
        || (0x0020..0x0040).contains(&s[1]);
    !global
}

/// The IPv4 address carried inside an IPv6 one, if any.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // IPv4-translated ::ffff:0:a.b.c.d (SIIT, RFC 2765), ::ffff:0:0/96.
    if s[..4].iter().all(|&x| x == 0) && s[4] == 0xffff && s[5] == 0 {
        return Some(tail());
    }
    // IPv4-compatible ::a.b.c.d (deprecated, but still routed by some stacks).
    if s[..6].iter().all(|&x| x == 0) && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(tail());
    }
    // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
    if s[0] == 0x64 && s[1] == 0xff9b {
        return Some(tail());
    }
    // 6to4 2002:aabb:ccdd::/48 carries aa.bb.cc.dd.
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// What every URL a worker fetches or posts to must satisfy, the first and
/// each redirect target, before anything is resolved: the API checks a
/// `callbackUrl` against the same rules when it arrives. Host names are
/// judged later, on the addresses they resolve to ([`is_public`]).
#[derive(Debug, Clone)]
pub struct UrlRules {
    /// Whether IP literals that are not public are allowed.
    pub allow_private: bool,
    /// When not empty, the only hosts allowed.
    pub hosts: Vec<HostPattern>,
    pub ports: AllowedPorts,
}

/// Why [`UrlRules`] refuse a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRefusal {
    /// Not `http` or `https`.
    Scheme,
    /// It holds a user name or password.
    Credentials,
    /// It names no host.
    NoHost,
    /// Its port is not allowed.
    Port(u16),
    /// Its host is not on the allow-list.
    Host,
    /// Its host is an IP literal that is not public.
    Address,
}

impl UrlRules {
    /// Refuses a URL whose scheme is not HTTP, that carries credentials,
    /// whose port is not allowed, whose host is not on a non-empty
    /// allow-list, or, unless private addresses are allowed, whose host is
    /// an IP literal that is not public.
    pub fn check(&self, url: &url::Url) -> Result<(), UrlRefusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRefusal::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefusal::Credentials);
        }
        let Some(host) = url.host() else {
            return Err(UrlRefusal::NoHost);
        };
        let port = url.port_or_known_default().unwrap_or(0);
        if !self.ports.allows(port) {
            return Err(UrlRefusal::Port(port));
        }
        if !self.hosts.is_empty() && !self.hosts.iter().any(|p| p.matches(&host)) {
            return Err(UrlRefusal::Host);
        }
        if is_internal_literal(&host) && !self.allow_private {
            return Err(UrlRefusal::Address);
        }
        Ok(())
    }
}

/// Which ports URL imports may fetch from: `any`, or a comma-separated
/// list (by default `80,443`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedPorts {
    Any,
    Only(Vec<u16>),
}

impl Default for AllowedPorts {
    fn default() -> Self {
        Self::Only(vec![80, 443])
    }
}

impl AllowedPorts {
    /// Whether `port` is one of them.
    pub fn allows(&self, port: u16) -> bool {
        match self {
            Self::Any => true,
            Self::Only(ports) => ports.contains(&port),
        }
    }
}

impl fmt::Display for AllowedPorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any port"),
            Self::Only(ports) => {
                let listed: Vec<String> = ports.iter().map(u16::to_string).collect();
                f.write_str(&listed.join(", "))
            }
        }
    }
}

impl std::str::FromStr for AllowedPorts {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("any") {
            return Ok(Self::Any);
        }
        s.split(',')
            .map(|p| {
                p.trim()
                    .parse::<u16>()
                    .map_err(|_| format!("{p:?} is not a port; give ports such as 80,443, or any"))
            })
            .collect::<Result<Vec<u16>, _>>()
            .map(Self::Only)
    }
}

/// An entry of `AVATARS_FETCH_ALLOWED_HOSTS`: `example.com` allows that host
/// only; `*.example.com` allows every subdomain of it, but not
/// `example.com` itself; an IP address allows that literal address. Host
/// names are compared in their normalised form (lower case, IDNA, no
/// trailing dot), so `EXAMPLE.com.` and `example.com` are the same host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(Host<String>),
    Subdomains(String),
}

/// Why an allowed-hosts entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a host name, a `*.` wildcard of one, or an IP address")]
pub struct InvalidHostPattern(String);

impl HostPattern {
    /// Whether the host of a URL matches this entry.
    pub fn matches(&self, host: &Host<&str>) -> bool {
        match (self, host) {
            (Self::Exact(Host::Domain(allowed)), Host::Domain(name)) => {
                allowed == name.strip_suffix('.').unwrap_or(name)
            }
            (Self::Exact(allowed), _) => allowed == &host.to_owned(),
            (Self::Subdomains(parent), Host::Domain(name)) => name
                .strip_suffix('.')
                .unwrap_or(name)
                .strip_suffix(parent.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            (Self::Subdomains(_), _) => false,
        }
    }
}

impl FromStr for HostPattern {
    type Err = InvalidHostPattern;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidHostPattern(s.to_owned());
        let trimmed = s.trim();
        let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if let Some(parent) = trimmed.strip_prefix("*.") {
            return match Host::parse(parent) {
                Ok(Host::Domain(domain)) if !domain.is_empty() => Ok(Self::Subdomains(domain)),
                _ => Err(invalid()),
            };
        }
        let host = match trimmed.parse::<Ipv6Addr>() {
            Ok(v6) => Host::Ipv6(v6),
            Err(_) => Host::parse(trimmed).map_err(|_| invalid())?,
        };
        match &host {
            Host::Domain(d) if d.is_empty() || d.contains(['/', ':', '@', '*']) => Err(invalid()),
            _ => Ok(Self::Exact(host)),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(host) => write!(f, "{host}"),
            Self::Subdomains(parent) => write!(f, "*.{parent}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> HostPattern {
        s.parse().expect("a host pattern")
    }

    fn allows(pattern_text: &str, url: &str) -> bool {
        let url = url::Url::parse(url).expect("a url");
        pattern(pattern_text).matches(&url.host().expect("a host"))
    }

    #[test]
    fn an_exact_entry_allows_that_host_only() {
        assert!(allows("cdn.example.com", "https://cdn.example.com/a.png"));
        assert!(allows("CDN.Example.com.", "https://cdn.example.com./a.png"));
        assert!(!allows(
            "cdn.example.com",
            "https://img.cdn.example.com/a.png"
        ));
        assert!(!allows(
            "cdn.example.com",
            "https://cdn.example.com.evil.net/"
        ));
        assert!(!allows("cdn.example.com", "https://evilcdn.example.com/"));
        assert!(!allows("example.com", "https://93.184.216.34/"));
    }

    #[test]
    fn a_wildcard_entry_allows_subdomains_but_not_the_parent() {
        assert!(allows("*.example.com", "https://a.example.com/"));
        assert!(allows("*.example.com", "https://a.b.example.com/"));
        assert!(!allows("*.example.com", "https://example.com/"));
        assert!(!allows("*.example.com", "https://badexample.com/"));
        assert!(!allows("*.example.com", "https://example.com.evil.net/"));
    }

    #[test]
    fn ip_entries_match_every_spelling_of_that_address() {
        assert!(allows("127.0.0.2", "http://127.0.0.2:8080/"));
        assert!(allows("127.0.0.2", "http://0x7f000002/"));
        assert!(allows("::1", "http://[::1]/"));
        assert!(allows("[::1]", "http://[0:0::1]/"));
        assert!(!allows("127.0.0.2", "http://127.0.0.1/"));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for s in [
            "",
            "*.",
            "*",
            "a/b",
            "http://example.com",
            "user@host",
            "*.1.2.3.4",
        ] {
            assert!(s.parse::<HostPattern>().is_err(), "{s:?} was accepted");
        }
    }

    fn public(s: &str) -> bool {
        is_public(s.parse().expect("an address"))
    }

    #[test]
    fn internal_addresses_are_refused() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:0:127.0.0.1",
            "::ffff:0:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            // 2001::/23, but for its globally reachable blocks.
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
            "2001:2::1",
            "2001:10::1",
            "2001:1::3",
            "2001:1ff::1",
            "3fff::1",
            "3fff:fff::1",
            "5f00::1",
        ] {
            assert!(!public(s), "{s} was allowed");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for s in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "::ffff:0:8.8.8.8",
            "2002:808:808::1",
            "2001:1::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2001:200::1",
            "2001:4860:4860::8888",
            "3fff:1000::1",
        ] {
            assert!(public(s), "{s} was refused");
        }
    }
}
