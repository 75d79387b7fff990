//! argon2id password hashes (PHC strings), computed off the async threads: one hash
//! costs ~100 ms of CPU, so callers cache successful checks rather than repeat them.

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, Version};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::Error;

/// The longest password accepted: argon2 takes any length, but hashing megabytes on
/// request would be a cheap denial of service.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// OWASP's argon2id profile with the least memory among its equivalent ones (m = 7 MiB,
/// t = 5, p = 1): as costly to attack as the crate's default (m = 19 MiB, t = 2), but a
/// login holds 12 MiB less, which counts in a server that keeps its memory flat. Hashes
/// record their parameters, so hashes made with other ones still verify.
fn argon2() -> Argon2<'static> {
    match Params::new(7 * 1024, 5, 1, None) {
        Ok(params) => Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        Err(_) => Argon2::default(),
    }
}

/// Hashes `password` with a fresh salt.
pub async fn hash(password: String) -> Result<String, Error> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::InvalidCredentials);
    }
    tokio::task::spawn_blocking(move || {
        argon2().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| Error::Crypto(e.to_string()))
    })
    .await
    .map_err(|e| Error::Crypto(e.to_string()))?
}

/// Whether `password` matches `phc`. A malformed stored hash never matches.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    if password.len() > MAX_PASSWORD_LEN {
        return false;
    }
    tokio::task::spawn_blocking(move || {
        // Without a stored hash, still spend the time of a check, so that timing does
        // not tell which accounts exist.
        let dummy = dummy_hash();
        let phc = phc.unwrap_or_else(|| dummy.to_owned());
        PasswordHash::new(&phc).is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok()) && phc != dummy
    })
    .await
    .unwrap_or(false)
}

/// The hash of a random password nobody knows, with the current parameters (checked
/// against for unknown accounts); made once, at the first need.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = crate::access_token::generate().secret_sha256;
        argon2().hash_password(secret.as_bytes()).map(|h| h.to_string()).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{h}");
        // A hash made with other parameters (the crate's defaults) still verifies.
        let old = Argon2::default().hash_password(b"older").unwrap().to_string();
        assert!(old.contains("m=19456,t=2"), "{old}");
        assert!(verify("older".into(), Some(old.clone())).await);
        assert!(!verify("newer".into(), Some(old)).await);
        assert!(verify("correct horse".into(), Some(h.clone())).await);
        assert!(!verify("wrong".into(), Some(h)).await);
        assert!(!verify("x".into(), None).await);
        assert!(!verify("x".into(), Some("garbage".into())).await);
        assert!(hash("x".repeat(MAX_PASSWORD_LEN + 1)).await.is_err());
    }
}
