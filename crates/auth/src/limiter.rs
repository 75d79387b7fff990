//! Failed-login limiting. Failures are counted per source address and per (account,
//! source): after too many in a window, further password checks from that source (or for
//! that account from that source) are refused without checking, until the window passes.
//! An attacker elsewhere can therefore never lock a user out, and access tokens (whose
//! secrets cannot be guessed) are not limited at all.
//!
//! A check reserves its place before the password is verified ([`Limiter::begin`]), and
//! the reservation counts like a failure until the outcome is known: forty concurrent
//! wrong guesses cannot all slip past a limit of ten. A check that finds the limit
//! filled by checks in flight (not by failures) waits for one of them to end
//! ([`Limiter::acquire`]) instead of being refused: sixty-four CI jobs logging in as one
//! robot account from one address at once all get in, ten checks at a time. Kept in
//! memory, bounded: a restart forgives, and the tables never grow past [`MAX_ENTRIES`]
//! each.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per window for one account from one source.
pub const MAX_PER_ACCOUNT_AND_SOURCE: u32 = 10;
/// Failures allowed per window from one source, whatever the accounts (password spraying).
pub const MAX_PER_SOURCE: u32 = 50;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(300);
/// How long a check waits for checks in flight before it is refused.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// The most sources (and account-source pairs) remembered.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Copy)]
struct Count {
    failures: u32,
    in_flight: u32,
    since: Instant,
}

impl Count {
    fn fresh() -> Count {
        Count { failures: 0, in_flight: 0, since: Instant::now() }
    }

    fn current(&mut self) -> &mut Count {
        if self.since.elapsed() >= WINDOW {
            *self = Count { in_flight: self.in_flight, ..Count::fresh() };
        }
        self
    }
}

/// A table of counts that never holds more than [`MAX_ENTRIES`].
struct Table<K>(HashMap<K, Count>);

impl<K: Hash + Eq + Clone> Table<K> {
    fn entry(&mut self, key: &K) -> &mut Count {
        if self.0.len() >= MAX_ENTRIES && !self.0.contains_key(key) {
            self.0.retain(|_, c| c.in_flight > 0 || c.since.elapsed() < WINDOW);
            if self.0.len() >= MAX_ENTRIES {
                // Under a flood of distinct sources, forget the idle ones: a flood must not
                // cost memory, and the in-flight reservations stay exact.
                self.0.retain(|_, c| c.in_flight > 0);
            }
        }
        self.0.entry(key.clone()).or_insert_with(Count::fresh).current()
    }

    fn release(&mut self, key: &K, failed: bool) {
        if let Some(count) = self.0.get_mut(key) {
            let count = count.current();
            count.in_flight = count.in_flight.saturating_sub(1);
            if failed {
                count.failures += 1;
            }
        }
    }
}

#[derive(Default)]
struct Counts {
    sources: Table<IpAddr>,
    pairs: Table<(String, IpAddr)>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table(HashMap::new())
    }
}

/// Counts failed logins.
#[derive(Default)]
pub struct Limiter {
    counts: Mutex<Counts>,
    /// Woken whenever a check ends, for the checks waiting for room.
    ended: tokio::sync::Notify,
}

/// Why a check cannot start now.
enum Full {
    /// Failures alone reached a limit: refused until the window passes.
    Failures,
    /// Checks in flight fill the room left: wait for one to end.
    InFlight,
}

/// A password check in progress: report its outcome, or drop it to release it unused.
pub struct Attempt<'a> {
    limiter: &'a Limiter,
    source: IpAddr,
    pair: (String, IpAddr),
    done: bool,
}

/// The key a source is counted under: the address, or its /64 for IPv6 (one host
/// commonly holds a whole /64).
fn source_key(source: Option<IpAddr>) -> IpAddr {
    match source {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
        Some(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        Some(v4) => v4,
        None => IpAddr::from([0, 0, 0, 0]),
    }
}

impl Limiter {
    /// Reserves a password check for `account` from `source`; `None` when failures and
    /// checks in flight have reached a limit, and the check must be refused unmade.
    pub fn begin(&self, account: &str, source: Option<IpAddr>) -> Option<Attempt<'_>> {
        self.try_begin(account, source).ok()
    }

    /// Reserves a password check, waiting (up to [`MAX_WAIT`]) while checks in flight,
    /// not failures, fill the limit; `None` when failures have reached it, or the wait
    /// was too long.
    pub async fn acquire(&self, account: &str, source: Option<IpAddr>) -> Option<Attempt<'_>> {
        let deadline = tokio::time::Instant::now() + MAX_WAIT;
        loop {
            // Listen before looking, so that a check ending in between is not missed.
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            match self.try_begin(account, source) {
                Ok(attempt) => return Some(attempt),
                Err(Full::Failures) => return None,
                Err(Full::InFlight) => {
                    if tokio::time::timeout_at(deadline, ended).await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    fn try_begin(&self, account: &str, source: Option<IpAddr>) -> Result<Attempt<'_>, Full> {
        let source = source_key(source);
        let pair = (account.to_owned(), source);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let by_source = *counts.sources.entry(&source);
        let by_pair = *counts.pairs.entry(&pair);
        if by_source.failures >= MAX_PER_SOURCE || by_pair.failures >= MAX_PER_ACCOUNT_AND_SOURCE {
            return Err(Full::Failures);
        }
        if by_source.failures + by_source.in_flight >= MAX_PER_SOURCE || by_pair.failures + by_pair.in_flight >= MAX_PER_ACCOUNT_AND_SOURCE
        {
            return Err(Full::InFlight);
        }
        counts.sources.entry(&source).in_flight += 1;
        counts.pairs.entry(&pair).in_flight += 1;
        Ok(Attempt { limiter: self, source, pair, done: false })
    }
}

impl Attempt<'_> {
    /// The password was wrong.
    pub fn failed(mut self) {
        self.finish(true);
    }

    /// The password was right (or the check could not be made): the reservation goes.
    pub fn succeeded(mut self) {
        self.finish(false);
    }

    fn finish(&mut self, failed: bool) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        {
            let mut counts = self.limiter.counts.lock().unwrap_or_else(|p| p.into_inner());
            counts.sources.release(&self.source, failed);
            counts.pairs.release(&self.pair, failed);
        }
        self.limiter.ended.notify_waiters();
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.finish(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn an_account_is_limited_per_source_only() {
        let limiter = Limiter::default();
        for _ in 0..MAX_PER_ACCOUNT_AND_SOURCE {
            limiter.begin("alice", ip("10.0.0.1")).unwrap().failed();
        }
        assert!(limiter.begin("alice", ip("10.0.0.1")).is_none(), "the guessing source");
        assert!(limiter.begin("alice", ip("10.0.0.2")).is_some(), "another address is never locked out");
        assert!(limiter.begin("bob", ip("10.0.0.1")).is_some(), "other accounts from the source, up to its own limit");
    }

    #[test]
    fn a_source_is_limited_across_accounts() {
        let limiter = Limiter::default();
        for i in 0..MAX_PER_SOURCE {
            limiter.begin(&format!("user{i}"), ip("10.0.0.9")).unwrap().failed();
        }
        assert!(limiter.begin("someone", ip("10.0.0.9")).is_none());
        assert!(limiter.begin("someone", ip("10.0.0.8")).is_some());
    }

    #[test]
    fn concurrent_checks_count_before_their_outcome() {
        let limiter = Limiter::default();
        let held: Vec<Attempt> = (0..MAX_PER_ACCOUNT_AND_SOURCE).map(|_| limiter.begin("alice", ip("10.0.0.1")).unwrap()).collect();
        assert!(limiter.begin("alice", ip("10.0.0.1")).is_none(), "ten checks in flight fill the limit");
        drop(held);
        assert!(limiter.begin("alice", ip("10.0.0.1")).is_some(), "released unused, they cost nothing");
    }

    #[tokio::test]
    async fn a_check_waits_for_checks_in_flight_but_not_for_failures() {
        let limiter = std::sync::Arc::new(Limiter::default());
        let mut held: Vec<Attempt> = (0..MAX_PER_ACCOUNT_AND_SOURCE).map(|_| limiter.begin("alice", ip("10.0.0.1")).unwrap()).collect();
        let waiting = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire("alice", ip("10.0.0.1")).await.map(Attempt::succeeded).is_some() })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the room is taken by checks in flight: it waits");
        held.pop().unwrap().succeeded();
        assert!(waiting.await.unwrap(), "one ended: it goes");
        // Failures fill the limit: refused at once, however long one would wait.
        held.into_iter().for_each(Attempt::failed);
        limiter.begin("alice", ip("10.0.0.1")).unwrap().failed();
        let refused = tokio::time::timeout(Duration::from_secs(1), limiter.acquire("alice", ip("10.0.0.1"))).await;
        assert!(matches!(refused, Ok(None)), "ten failures: refused without waiting");
    }

    #[test]
    fn ipv6_hosts_are_counted_by_their_64() {
        assert_eq!(source_key(ip("2001:db8::1")), source_key(ip("2001:db8::ffff:1")));
        assert_ne!(source_key(ip("2001:db8::1")), source_key(ip("2001:db8:0:1::1")));
        assert_eq!(source_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1").unwrap());
    }
}
