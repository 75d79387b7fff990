//! Access tokens.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, AccessToken, Account, AccountKind};
use crate::tables::{ACCESS_TOKENS, ACCOUNTS};

/// Stores a new token (its id chosen by the caller).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateAccessToken {
    /// The token's id.
    pub id: String,
    /// The token.
    pub token: AccessToken,
}

impl CreateAccessToken {
    /// Refused unless the token's user is an active user and its expiry (if any) lies
    /// after its creation.
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let user = tx.open_table(ACCOUNTS)?.get(self.token.user.as_str())?.map(|v| records::decode::<Account>("accounts", v.value())).transpose()?;
        if !user.is_some_and(|u| u.kind == AccountKind::User && u.active) {
            return Ok(Applied::Rejected(Rejection::AccountUnknown));
        }
        if self.token.expires_at.is_some_and(|at| at <= self.token.created_at) {
            return Ok(Applied::Rejected(Rejection::ExpiryInThePast));
        }
        tx.open_table(ACCESS_TOKENS)?.insert(self.id.as_str(), records::encode(&self.token).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Revokes a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeAccessToken {
    /// The token's id.
    pub id: String,
}

impl RevokeAccessToken {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let removed = tx.open_table(ACCESS_TOKENS)?.remove(self.id.as_str())?.is_some();
        Ok(if removed { Applied::Done } else { Applied::Rejected(Rejection::TokenUnknown) })
    }
}

/// Records that a token was used at `at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TouchAccessToken {
    /// The token's id.
    pub id: String,
    /// When.
    pub at: u64,
}

impl TouchAccessToken {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut tokens = tx.open_table(ACCESS_TOKENS)?;
        let Some(mut token) = tokens.get(self.id.as_str())?.map(|v| records::decode::<AccessToken>("access_tokens", v.value())).transpose()?
        else {
            return Ok(Applied::Rejected(Rejection::TokenUnknown));
        };
        token.last_used = Some(self.at);
        tokens.insert(self.id.as_str(), records::encode(&token).as_slice())?;
        Ok(Applied::Done)
    }
}
