//! The two caches that spare work on every request, each bounded in bytes, and neither
//! able to keep a credential alive: an entry only says "this secret was checked", and
//! the account (its credential epoch, whether it is active) and any access token behind
//! the credential are read again on every request.
//!
//! - [`Logins`]: password checks that succeeded, for a minute, keyed by a hash of user and
//!   password, with the account's credential epoch at the time: a password change moves
//!   the epoch, so the old password stops working at the next request.
//! - [`Signatures`]: bearer tokens whose signature was checked, until they expire: a
//!   client sends the same token with every request, and checking an Ed25519 signature
//!   costs more than the rest of a manifest GET.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::jwt::Claims;

/// How long a checked password is remembered.
pub const LOGIN_TTL: Duration = Duration::from_secs(60);
/// The most bytes the login cache holds (about 100 bytes an entry).
pub const LOGINS_MAX_BYTES: usize = 4 << 20;
/// The most bytes the token cache holds (tokens and their claims).
pub const SIGNATURES_MAX_BYTES: usize = 16 << 20;

/// Password checks that succeeded.
#[derive(Default)]
pub struct Logins {
    entries: Mutex<Bounded<[u8; 32], (String, u64, Instant)>>,
}

impl Logins {
    /// Whether `key` (a hash of user and password) was checked for `user` at `epoch`
    /// within the last minute.
    pub fn remembers(&self, key: &[u8; 32], user: &str, epoch: u64) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.map.get(key).is_some_and(|((u, e, at), _)| u == user && *e == epoch && at.elapsed() < LOGIN_TTL)
    }

    /// Remembers a successful check.
    pub fn remember(&self, key: [u8; 32], user: &str, epoch: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let size = 32 + user.len() + 64;
        entries.insert(key, (user.to_owned(), epoch, Instant::now()), size, LOGINS_MAX_BYTES, |(_, _, at)| at.elapsed() < LOGIN_TTL);
    }
}

/// Bearer tokens whose signature and lifetime were checked.
#[derive(Default)]
pub struct Signatures {
    entries: Mutex<Bounded<Box<str>, Claims>>,
}

impl Signatures {
    /// The claims of a checked token that has not expired by `now`.
    pub fn get(&self, token: &str, now: u64) -> Option<Claims> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.map.get(token).map(|(c, _)| c).filter(|c| c.exp > now).cloned()
    }

    /// Remembers a checked token.
    pub fn remember(&self, token: &str, claims: &Claims, now: u64) {
        let size = token.len() * 2 + claims.access.iter().map(|a| a.name.len() + 16 * a.actions.len() + 64).sum::<usize>() + 256;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(token.into(), claims.clone(), size, SIGNATURES_MAX_BYTES, |c| c.exp > now);
    }
}

/// A map that keeps the sum of its entries' sizes under a bound: when an entry would
/// pass it, stale entries go first, then everything (a flood costs a cache miss, never memory).
struct Bounded<K, V> {
    map: HashMap<K, (V, usize)>,
    bytes: usize,
}

impl<K, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Bounded { map: HashMap::new(), bytes: 0 }
    }
}

impl<K: std::hash::Hash + Eq, V> Bounded<K, V> {
    fn insert(&mut self, key: K, value: V, size: usize, max: usize, fresh: impl Fn(&V) -> bool) {
        if size > max {
            return;
        }
        if self.bytes + size > max {
            self.map.retain(|_, (v, _)| fresh(v));
            self.bytes = self.map.values().map(|(_, s)| s).sum();
            if self.bytes + size > max {
                self.map.clear();
                self.bytes = 0;
            }
        }
        if let Some((_, old)) = self.map.insert(key, (value, size)) {
            self.bytes -= old;
        }
        self.bytes += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_bytes() {
        let mut map: Bounded<u32, u32> = Bounded::default();
        for i in 0..1000 {
            map.insert(i, i, 100, 10_000, |_| true);
            assert!(map.bytes <= 10_000);
        }
        assert!(map.map.len() <= 100);
        map.insert(5000, 0, 20_000, 10_000, |_| true);
        assert!(!map.map.contains_key(&5000), "an entry larger than the bound is not kept");
    }

    #[test]
    fn a_new_epoch_forgets_the_old_password() {
        let logins = Logins::default();
        logins.remember([1; 32], "alice", 3);
        assert!(logins.remembers(&[1; 32], "alice", 3));
        assert!(!logins.remembers(&[1; 32], "alice", 4));
        assert!(!logins.remembers(&[1; 32], "bob", 3));
    }
}
