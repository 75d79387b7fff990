//! Web UI sessions: begun by a password sign-in, ended by signing out, by their expiry,
//! or by a change of the user's credential epoch (checked when a session is used).

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, Account, AccountKind, Session};
use crate::tables::{ACCOUNTS, SESSIONS};

/// Begins a session (its id and secret chosen by the caller). Refused unless the user is
/// an active user and the expiry lies after the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateSession {
    /// The session's id.
    pub id: String,
    /// The user.
    pub user: String,
    /// SHA-256 (hex) of its secret.
    pub secret_sha256: String,
    /// The user's credential epoch at sign-in.
    pub epoch: u64,
    /// When.
    pub at: u64,
    /// When it ends.
    pub expires_at: u64,
}

impl CreateSession {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let user =
            tx.open_table(ACCOUNTS)?.get(self.user.as_str())?.map(|v| records::decode::<Account>("accounts", v.value())).transpose()?;
        if !user.is_some_and(|u| u.kind == AccountKind::User && u.active) {
            return Ok(Applied::Rejected(Rejection::AccountUnknown));
        }
        if self.expires_at <= self.at {
            return Ok(Applied::Rejected(Rejection::ExpiryInThePast));
        }
        let session = Session {
            user: self.user,
            secret_sha256: self.secret_sha256,
            epoch: self.epoch,
            created_at: self.at,
            expires_at: self.expires_at,
        };
        tx.open_table(SESSIONS)?.insert(self.id.as_str(), records::encode(&session).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Ends a session (signing out). Idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteSession {
    /// The session's id.
    pub id: String,
}

impl DeleteSession {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        tx.open_table(SESSIONS)?.remove(self.id.as_str())?;
        Ok(Applied::Done)
    }
}

/// Forgets the sessions expired by `at` (a periodic job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurgeSessions {
    /// Now.
    pub at: u64,
}

impl PurgeSessions {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut sessions = tx.open_table(SESSIONS)?;
        sessions.retain(|_, value| records::decode::<Session>("sessions", value).is_ok_and(|s| s.expires_at > self.at))?;
        Ok(Applied::Done)
    }
}
