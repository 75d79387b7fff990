//! Web UI sessions. Signing in checks the password exactly as any login does (the same
//! limiter, LDAP included; access tokens are not accepted), then records a session in
//! the metadata, so that every replica knows it. The browser holds `<id>.<secret>` in a
//! cookie; the metadata holds the secret's SHA-256, the user, the user's credential epoch
//! and the expiry. A session stands for the password until it expires, its user signs
//! out, or the user's password or activation changes (the epoch moves).
//!
//! Forms carry a CSRF token derived from the session's secret: only the holder of the
//! cookie can know it, and it needs no storage.

use std::net::IpAddr;

use berth_meta::command::{CreateSession, DeleteSession, PurgeSessions};
use berth_meta::{Applied, Command, now};
use sha2::{Digest as _, Sha256};

use crate::Error;
use crate::access_token::random_hex;
use crate::service::Auth;
use crate::subject::{Credential, Subject};

/// How long a session lasts.
pub const SESSION_TTL_SECS: u64 = 12 * 3600;

/// A session just begun: the cookie's value and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct SessionStarted {
    /// `<id>.<secret>`, for the cookie.
    pub cookie: String,
    /// The CSRF token of the session's forms.
    pub csrf: String,
    /// Seconds until it ends.
    pub lifetime: u64,
}

/// A session in use: who, and the CSRF token its forms must carry.
#[derive(Debug, Clone)]
pub struct SessionInUse {
    /// The user, with the password's rights.
    pub subject: Subject,
    /// The CSRF token.
    pub csrf: String,
}

fn csrf_of(secret: &str) -> String {
    hex::encode(Sha256::new().chain_update(b"berth-csrf\0").chain_update(secret.as_bytes()).finalize())
}

fn split(cookie: &str) -> Option<(&str, &str)> {
    let (id, secret) = cookie.split_once('.')?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

impl Auth {
    /// Signs `user` in with a password from `source`: a new session.
    pub async fn sign_in(&self, user: &str, password: &str, source: Option<IpAddr>) -> Result<SessionStarted, Error> {
        if crate::access_token::parse(password).is_some() {
            return Err(Error::InvalidCredentials);
        }
        let subject = self.login(user, password, source).await?;
        let epoch = subject.user.as_ref().map_or(0, |u| u.epoch);
        let (id, secret) = (random_hex(8), random_hex(32));
        let at = now();
        let create = CreateSession {
            id: id.clone(),
            user: user.to_owned(),
            secret_sha256: hex::encode(Sha256::digest(secret.as_bytes())),
            epoch,
            at,
            expires_at: at + SESSION_TTL_SECS,
        };
        match self.meta.apply(Command::CreateSession(create)).await? {
            Applied::Done => {
                self.counters.session_started();
                Ok(SessionStarted { csrf: csrf_of(&secret), cookie: format!("{id}.{secret}"), lifetime: SESSION_TTL_SECS })
            }
            Applied::Rejected(_) => Err(Error::InvalidCredentials),
        }
    }

    /// The session a cookie names, if it is still good.
    pub async fn session(&self, cookie: &str) -> Result<SessionInUse, Error> {
        let (id, secret) = split(cookie).ok_or(Error::InvalidCredentials)?;
        let key = id.to_owned();
        // A session begun on another replica a moment ago may not be here yet.
        let session = self.meta.read_settled(move |r| r.session(&key), Option::is_some).await?.ok_or(Error::InvalidCredentials)?;
        let presented = hex::encode(Sha256::digest(secret.as_bytes()));
        let matches = aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_bytes(), session.secret_sha256.as_bytes()).is_ok();
        if !matches || session.expires_at <= now() {
            return Err(Error::InvalidCredentials);
        }
        let subject = self.user_subject(&session.user, Credential::Password).await?.ok_or(Error::InvalidCredentials)?;
        if subject.user.as_ref().is_none_or(|u| u.epoch != session.epoch) {
            return Err(Error::InvalidCredentials);
        }
        Ok(SessionInUse { subject, csrf: csrf_of(secret) })
    }

    /// Ends the session a cookie names (signing out).
    pub async fn sign_out(&self, cookie: &str) -> Result<(), Error> {
        if let Some((id, _)) = split(cookie) {
            self.session(cookie).await?;
            self.meta.apply(Command::DeleteSession(DeleteSession { id: id.to_owned() })).await?;
        }
        Ok(())
    }

    /// Forgets expired sessions (a periodic job).
    pub async fn purge_sessions(&self) -> Result<(), Error> {
        self.meta.apply(Command::PurgeSessions(PurgeSessions { at: now() })).await?;
        Ok(())
    }
}

/// A fresh token for the sign-in form, which has no session yet to carry one: the page
/// sets it as a `SameSite=Strict` cookie and as a hidden field, and the POST must bring
/// both (a cross-site form cannot send the cookie, so it cannot sign a victim in).
pub fn new_form_token() -> String {
    random_hex(16)
}

/// Whether `presented` is the CSRF token `expected` (in constant time).
pub fn csrf_matches(expected: &str, presented: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), presented.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_id_dot_secret_and_csrf_depends_on_the_secret() {
        assert!(split(&format!("{}.{}", "a".repeat(16), "b".repeat(64))).is_some());
        assert!(split("nope").is_none());
        assert!(split(&format!("{}.{}", "a".repeat(15), "b".repeat(64))).is_none());
        assert!(split(&format!("{}.{}", "g".repeat(16), "b".repeat(64))).is_none());
        assert_ne!(csrf_of("x"), csrf_of("y"));
        assert!(csrf_matches(&csrf_of("x"), &csrf_of("x")));
        assert!(!csrf_matches(&csrf_of("x"), ""));
    }
}
