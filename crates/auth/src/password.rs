//! argon2id password hashes (PHC strings), computed off the async threads: one hash
//! costs ~100 ms of CPU, so callers cache successful checks rather than repeat them.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::Error;

/// The longest password accepted: argon2 takes any length, but hashing megabytes on
/// request would be a cheap denial of service.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Hashes `password` with a fresh salt.
pub async fn hash(password: String) -> Result<String, Error> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::InvalidCredentials);
    }
    tokio::task::spawn_blocking(move || {
        Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| Error::Crypto(e.to_string()))
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
        let phc = phc.unwrap_or_else(|| DUMMY_HASH.to_owned());
        PasswordHash::new(&phc).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
            && phc != DUMMY_HASH
    })
    .await
    .unwrap_or(false)
}

/// The hash of a random password nobody knows (checked against for unknown accounts).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$YVy6XZ1Wd0bjbz0PHrvNzUAkl7sAN8TqRwZ0O2mZxIk";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(h.clone())).await);
        assert!(!verify("wrong".into(), Some(h)).await);
        assert!(!verify("x".into(), None).await);
        assert!(!verify("x".into(), Some("garbage".into())).await);
        assert!(hash("x".repeat(MAX_PASSWORD_LEN + 1)).await.is_err());
    }
}
