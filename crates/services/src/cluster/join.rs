//! Joining a cluster. An administrator asks any replica for a one-time token; the new
//! replica presents it to any replica, over TLS pinned to the cluster CA the token
//! names, with a public key of its own; the cluster spends the token (once, through the
//! log) and answers with a certificate for the new replica, the CA, the cluster's id
//! and the master key. The new replica then asks to be added: the leader sends it a
//! snapshot and the log until it has caught up, and makes it a voter.
//!
//! A token reads `berthjoin1.<id>.<secret>.<sha256 of the CA certificate>`.

use serde::{Deserialize, Serialize};

/// The token's prefix (and format version).
const PREFIX: &str = "berthjoin1";

/// A join token, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// Its id.
    pub id: String,
    /// Its secret (hex).
    pub secret: String,
    /// The SHA-256 (hex) of the cluster CA's certificate.
    pub ca_fingerprint: String,
}

impl JoinToken {
    /// The token as shown to the administrator.
    pub fn render(&self) -> String {
        format!("{PREFIX}.{}.{}.{}", self.id, self.secret, self.ca_fingerprint)
    }

    /// Reads a token; `None` when it is not one.
    pub fn parse(text: &str) -> Option<JoinToken> {
        let mut parts = text.trim().split('.');
        let (prefix, id, secret, ca) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        (prefix == PREFIX && parts.next().is_none() && hex(id, 16) && hex(secret, 64) && hex(ca, 64)).then(|| JoinToken {
            id: id.to_owned(),
            secret: secret.to_ascii_lowercase(),
            ca_fingerprint: ca.to_ascii_lowercase(),
        })
    }
}

/// What a joining replica sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The token's id.
    pub token_id: String,
    /// The token's secret.
    pub secret: String,
    /// The new replica's id (12 hex characters).
    pub replica: String,
    /// How the other replicas will reach it (its base URL).
    pub address: String,
    /// Its public key (SubjectPublicKeyInfo, DER, base64).
    pub public_key: String,
}

/// What it gets back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinGrant {
    /// The cluster's id.
    pub cluster: String,
    /// Its certificate (PEM).
    pub certificate: String,
    /// The cluster CA's certificate (PEM).
    pub ca: String,
    /// The master key every replica seals secrets with (base64).
    pub master_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_nothing_else_reads_as_one() {
        let token = JoinToken { id: "0123456789abcdef".into(), secret: "ab".repeat(32), ca_fingerprint: "cd".repeat(32) };
        assert_eq!(JoinToken::parse(&token.render()), Some(token.clone()));
        assert_eq!(JoinToken::parse(&format!("  {}\n", token.render())), Some(token.clone()));
        for bad in ["", "berthjoin1", "berthjoin2.0123456789abcdef.x.y", &format!("{}.extra", token.render())] {
            assert_eq!(JoinToken::parse(bad), None, "{bad}");
        }
    }
}
