//! One-time join tokens: an administrator makes one, a new replica spends it to obtain
//! its certificate. Spending goes through the log, so a token works once in the whole
//! cluster, whichever replica the new one asks.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, JoinToken};
use crate::tables::JOIN_TOKENS;

/// Stores a new join token (its id and secret chosen by the caller).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateJoinToken {
    /// The token's id.
    pub id: String,
    /// SHA-256 (hex) of its secret.
    pub secret_sha256: String,
    /// When it was made.
    pub at: u64,
    /// When it stops working (after `at`).
    pub expires_at: u64,
}

impl CreateJoinToken {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        if self.expires_at <= self.at {
            return Ok(Applied::Rejected(Rejection::ExpiryInThePast));
        }
        let mut tokens = tx.open_table(JOIN_TOKENS)?;
        if tokens.get(self.id.as_str())?.is_some() {
            return Ok(Applied::Rejected(Rejection::TokenUnknown));
        }
        let token = JoinToken { secret_sha256: self.secret_sha256, created_at: self.at, expires_at: self.expires_at, used_by: None };
        tokens.insert(self.id.as_str(), records::encode(&token).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Spends a join token for a replica. Refused (always as `TokenUnknown`, whatever was
/// wrong, so nothing is learnt by guessing) unless the token exists, its secret matches,
/// it has not expired and was never used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedeemJoinToken {
    /// The token's id.
    pub id: String,
    /// SHA-256 (hex) of the secret presented.
    pub secret_sha256: String,
    /// The replica joining (12 hex characters).
    pub replica: String,
    /// When.
    pub at: u64,
}

impl RedeemJoinToken {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut tokens = tx.open_table(JOIN_TOKENS)?;
        let Some(mut token) = tokens.get(self.id.as_str())?.map(|v| records::decode::<JoinToken>("join_tokens", v.value())).transpose()?
        else {
            return Ok(Applied::Rejected(Rejection::TokenUnknown));
        };
        let matches =
            aws_lc_rs::constant_time::verify_slices_are_equal(token.secret_sha256.as_bytes(), self.secret_sha256.as_bytes()).is_ok();
        if !matches || token.used_by.is_some() || token.expires_at <= self.at {
            return Ok(Applied::Rejected(Rejection::TokenUnknown));
        }
        token.used_by = Some(self.replica);
        tokens.insert(self.id.as_str(), records::encode(&token).as_slice())?;
        Ok(Applied::Done)
    }
}
