//! Requests Berth makes to other hosts (webhook endpoints, mirroring remotes): the
//! addresses they may not reach, and errors told in full.
//!
//! A name is resolved as the system does, then loopback, link-local (cloud metadata
//! services live there), unspecified and multicast addresses are dropped unless the
//! registry is configured to allow them: the address checked is the address connected
//! to, whatever name the URL uses.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The longest delay between two attempts of a request that failed.
pub const MAX_DELAY: Duration = Duration::from_secs(300);

/// When to try again (milliseconds since the epoch) after `attempts` failed ones, the
/// first at `since`: after 1, 2, 4, … times `base`, at most [`MAX_DELAY`]; `None` once
/// that is more than `retry_for` after the first.
pub(crate) fn retry_at(base: Duration, retry_for: Duration, since: u64, attempts: u32, now: u64) -> Option<u64> {
    let factor = 1u32.checked_shl(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
    let delay = base.saturating_mul(factor).min(MAX_DELAY);
    let at = now + delay.as_millis() as u64;
    (at <= since + retry_for.as_millis() as u64).then_some(at)
}

/// An error's whole chain, which says what failed (the TLS check, the connection, …).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() { "timed out".to_owned() } else { e.to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        text.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    text
}

/// Addresses no request reaches unless allowed: the registry's own host and the
/// link-local range where cloud metadata services answer.
pub(crate) fn blocked(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return blocked(IpAddr::V4(v4));
            }
            v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Resolves names as the system does, then drops blocked addresses: the address checked
/// is the address connected to.
pub(crate) struct CheckedResolver {
    pub(crate) allow_local: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_local = self.allow_local;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.into_iter().filter(|a| allow_local || !blocked(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no address Berth may reach (a local one needs allowing)").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The blocked address `url` names literally, if it does (names are the resolver's to
/// check; a literal address is connected to without resolving).
pub(crate) fn literal_blocked(url: &str, allow_local: bool) -> Option<IpAddr> {
    let host = reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()));
    host.and_then(|h| h.parse::<IpAddr>().ok()).filter(|ip| !allow_local && blocked(*ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_addresses_are_blocked() {
        for ip in ["127.0.0.1", "169.254.169.254", "0.0.0.0", "::1", "fe80::1", "::ffff:127.0.0.1", "224.0.0.1"] {
            assert!(blocked(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.0.5", "192.168.1.2", "8.8.8.8", "2001:db8::1"] {
            assert!(!blocked(ip.parse().unwrap()), "{ip}");
        }
    }
}
