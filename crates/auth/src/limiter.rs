//! Failed-login limiting: after too many failures in a window, for one account or from
//! one source address, further attempts are refused without checking the password,
//! until the window passes. Kept in memory: a restart forgives, which only costs an
//! attacker a restart of the server they cannot cause.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per window, per account and per source.
pub const MAX_FAILURES: u32 = 10;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Counts {
    accounts: HashMap<String, (u32, Instant)>,
    sources: HashMap<IpAddr, (u32, Instant)>,
}

/// Counts failed logins.
#[derive(Default)]
pub struct Limiter {
    counts: Mutex<Counts>,
}

fn blocked<K: std::hash::Hash + Eq>(map: &HashMap<K, (u32, Instant)>, key: &K) -> bool {
    map.get(key).is_some_and(|(n, since)| *n >= MAX_FAILURES && since.elapsed() < WINDOW)
}

fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, (u32, Instant)>, key: K) {
    let entry = map.entry(key).or_insert((0, Instant::now()));
    if entry.1.elapsed() >= WINDOW {
        *entry = (0, Instant::now());
    }
    entry.0 += 1;
}

impl Limiter {
    /// Whether attempts for `account` or from `source` are refused now.
    pub fn is_blocked(&self, account: &str, source: Option<IpAddr>) -> bool {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        blocked(&counts.accounts, &account.to_owned()) || source.is_some_and(|s| blocked(&counts.sources, &s))
    }

    /// Records a failure.
    pub fn failed(&self, account: &str, source: Option<IpAddr>) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.accounts.retain(|_, (_, since)| since.elapsed() < WINDOW);
        counts.sources.retain(|_, (_, since)| since.elapsed() < WINDOW);
        bump(&mut counts.accounts, account.to_owned());
        if let Some(source) = source {
            bump(&mut counts.sources, source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_per_account_and_per_source() {
        let limiter = Limiter::default();
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(!limiter.is_blocked("alice", Some(here)));
            limiter.failed("alice", Some(here));
        }
        assert!(limiter.is_blocked("alice", None), "the account");
        assert!(limiter.is_blocked("bob", Some(here)), "the source");
        assert!(!limiter.is_blocked("bob", Some("10.0.0.1".parse().unwrap())));
    }
}
