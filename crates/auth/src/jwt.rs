//! The Docker token service's tokens: JWTs signed with an Ed25519 key that lives in the
//! replicated metadata (so every replica can verify what any replica issued), listing
//! the repositories and actions granted.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The issuer written into every token.
pub const ISSUER: &str = "berth";
/// How long an access token lives.
pub const ACCESS_TTL_SECS: u64 = 300;
/// How long a refresh token (a `docker login` identity token) lives.
pub const REFRESH_TTL_SECS: u64 = 30 * 24 * 3600;

/// One granted scope, as in the Docker token specification.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Access {
    /// `repository` (or `registry` for the catalog).
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository name (or `catalog`).
    pub name: String,
    /// Granted actions: `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

/// The claims of a Berth token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// The user, empty for anonymous.
    pub sub: String,
    /// The service the token is for.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Not before.
    pub nbf: u64,
    /// Issued at.
    pub iat: u64,
    /// Unique id.
    pub jti: String,
    /// Granted access (access tokens).
    #[serde(default)]
    pub access: Vec<Access>,
    /// `refresh` for refresh tokens, absent for access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// The user's credential epoch when the token was issued: a password change or a
    /// deactivation since ends the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// The access token the token was obtained with: its revocation or expiry ends the
    /// token, and its limits travel with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
}

/// Signs and verifies tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
}

impl TokenKeys {
    /// A new random key, as PKCS#8 (sealed before it is stored).
    pub fn generate() -> Result<Vec<u8>, Error> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| Error::Crypto(e.to_string()))?;
        Ok(pkcs8.as_ref().to_vec())
    }

    /// Loads a key from its PKCS#8 form.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<TokenKeys, Error> {
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| Error::Crypto(e.to_string()))?;
        use aws_lc_rs::signature::KeyPair as _;
        let public = pair.public_key().as_ref().to_vec();
        let kid = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(&public)[..8]);
        Ok(TokenKeys { encoding: EncodingKey::from_ed_der(pkcs8), decoding: DecodingKey::from_ed_der(&public), kid })
    }

    /// Signs `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| Error::Crypto(e.to_string()))
    }

    /// Verifies signature, issuer, audience and lifetime.
    pub fn verify(&self, token: &str, service: &str) -> Result<Claims, Error> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[service]);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| Error::InvalidToken(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            sub: "alice".into(),
            aud: "berth".into(),
            exp,
            nbf: 0,
            iat: 0,
            jti: "1".into(),
            access: vec![Access { kind: "repository".into(), name: "a/b".into(), actions: vec!["pull".into()] }],
            typ: None,
            epoch: Some(0),
            tid: None,
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn sign_verify_and_refuse() {
        let keys = TokenKeys::from_pkcs8(&TokenKeys::generate().unwrap()).unwrap();
        let token = keys.sign(&claims(now() + 60)).unwrap();
        let back = keys.verify(&token, "berth").unwrap();
        assert_eq!(back.access[0].name, "a/b");
        assert!(keys.verify(&token, "other-service").is_err());
        let expired = keys.sign(&claims(now() - 600)).unwrap();
        assert!(keys.verify(&expired, "berth").is_err());
        let other = TokenKeys::from_pkcs8(&TokenKeys::generate().unwrap()).unwrap();
        assert!(other.verify(&token, "berth").is_err(), "forged with another key");
        let mut tampered = token.clone();
        tampered.replace_range(token.len() - 4.., "AAAA");
        assert!(keys.verify(&tampered, "berth").is_err());
        assert!(keys.verify("not.a.jwt", "berth").is_err());
    }
}
