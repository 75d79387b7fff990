//! Access tokens.

use berth_core::{Action, RepositoryName};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, AccessToken, Account, AccountKind};
use crate::tables::{ACCESS_TOKENS, ACCOUNTS};

/// Stores a new token (its id and secret chosen by the caller). Refused unless its user
/// is an active user and its expiry, if any, lies after its creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateAccessToken {
    /// The token's id.
    pub id: String,
    /// The user it acts for.
    pub user: String,
    /// The user's name for it.
    pub name: String,
    /// SHA-256 (hex) of its secret.
    pub secret_sha256: String,
    /// When it was made.
    pub at: u64,
    /// When it stops working, if ever.
    pub expires_at: Option<u64>,
    /// Repositories it is limited to (empty: none).
    pub repositories: Vec<RepositoryName>,
    /// Actions it is limited to (empty: pull, push and delete).
    pub actions: Vec<Action>,
}

impl CreateAccessToken {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let user =
            tx.open_table(ACCOUNTS)?.get(self.user.as_str())?.map(|v| records::decode::<Account>("accounts", v.value())).transpose()?;
        if !user.is_some_and(|u| u.kind == AccountKind::User && u.active) {
            return Ok(Applied::Rejected(Rejection::AccountUnknown));
        }
        if self.expires_at.is_some_and(|at| at <= self.at) {
            return Ok(Applied::Rejected(Rejection::ExpiryInThePast));
        }
        let token = AccessToken {
            user: self.user,
            name: self.name,
            secret_sha256: self.secret_sha256,
            created_at: self.at,
            expires_at: self.expires_at,
            last_used: None,
            repositories: self.repositories.iter().map(ToString::to_string).collect(),
            actions: self.actions,
        };
        tx.open_table(ACCESS_TOKENS)?.insert(self.id.as_str(), records::encode(&token).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Revokes a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// Records when tokens were last used (a batch, written by a periodic job, never by a
/// login). Tokens revoked since are skipped; an older time never replaces a newer one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TouchAccessTokens {
    /// (token id, when it was last used).
    pub uses: Vec<(String, u64)>,
}

impl TouchAccessTokens {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut tokens = tx.open_table(ACCESS_TOKENS)?;
        for (id, at) in self.uses {
            let Some(mut token) =
                tokens.get(id.as_str())?.map(|v| records::decode::<AccessToken>("access_tokens", v.value())).transpose()?
            else {
                continue;
            };
            if token.last_used.is_some_and(|t| t >= at) {
                continue;
            }
            token.last_used = Some(at);
            tokens.insert(id.as_str(), records::encode(&token).as_slice())?;
        }
        Ok(Applied::Done)
    }
}
