//! Counts of what authentication did since the process started, for monitoring.

use std::sync::atomic::{AtomicU64, Ordering};

/// The live counters (relaxed atomics: each is its own figure).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    password_ok: AtomicU64,
    password_failed: AtomicU64,
    limited: AtomicU64,
    token_ok: AtomicU64,
    token_failed: AtomicU64,
    bearer_issued: AtomicU64,
    refresh_issued: AtomicU64,
    access_tokens_created: AtomicU64,
    sessions_started: AtomicU64,
    ldap_syncs_ok: AtomicU64,
    ldap_syncs_failed: AtomicU64,
}

/// A credential checked by `Auth::login`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Checked {
    Password,
    AccessToken,
}

fn add(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn login(&self, checked: Checked, ok: bool) {
        add(match (checked, ok) {
            (Checked::Password, true) => &self.password_ok,
            (Checked::Password, false) => &self.password_failed,
            (Checked::AccessToken, true) => &self.token_ok,
            (Checked::AccessToken, false) => &self.token_failed,
        });
    }

    pub(crate) fn limited(&self) {
        add(&self.limited);
    }

    pub(crate) fn bearer_issued(&self) {
        add(&self.bearer_issued);
    }

    pub(crate) fn refresh_issued(&self) {
        add(&self.refresh_issued);
    }

    pub(crate) fn access_token_created(&self) {
        add(&self.access_tokens_created);
    }

    pub(crate) fn session_started(&self) {
        add(&self.sessions_started);
    }

    pub(crate) fn ldap_sync(&self, ok: bool) {
        add(if ok { &self.ldap_syncs_ok } else { &self.ldap_syncs_failed });
    }

    pub(crate) fn snapshot(&self) -> AuthCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AuthCounts {
            password_ok: get(&self.password_ok),
            password_failed: get(&self.password_failed),
            limited: get(&self.limited),
            token_ok: get(&self.token_ok),
            token_failed: get(&self.token_failed),
            bearer_issued: get(&self.bearer_issued),
            refresh_issued: get(&self.refresh_issued),
            access_tokens_created: get(&self.access_tokens_created),
            sessions_started: get(&self.sessions_started),
            ldap_syncs_ok: get(&self.ldap_syncs_ok),
            ldap_syncs_failed: get(&self.ldap_syncs_failed),
        }
    }
}

/// What authentication did since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthCounts {
    /// Passwords (local or LDAP) accepted.
    pub password_ok: u64,
    /// Passwords refused.
    pub password_failed: u64,
    /// Password attempts refused unchecked by the failed-login limit.
    pub limited: u64,
    /// Access tokens accepted as passwords.
    pub token_ok: u64,
    /// Access tokens refused.
    pub token_failed: u64,
    /// Bearer tokens issued by `/auth/token`.
    pub bearer_issued: u64,
    /// Refresh tokens issued.
    pub refresh_issued: u64,
    /// Access tokens created.
    pub access_tokens_created: u64,
    /// Web UI sessions started.
    pub sessions_started: u64,
    /// Directory syncs that completed.
    pub ldap_syncs_ok: u64,
    /// Directory syncs that failed.
    pub ldap_syncs_failed: u64,
}
