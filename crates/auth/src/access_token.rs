//! Personal access tokens: `berth_<id>_<secret>`. The id finds the record; only the
//! SHA-256 of the secret is stored, so a stolen database reveals no usable token.

use sha2::{Digest as _, Sha256};

/// A freshly made token: the id to store under, the text shown once, and the hash to keep.
pub struct NewToken {
    /// The record's id.
    pub id: String,
    /// The whole token, shown to the user once.
    pub text: String,
    /// SHA-256 (hex) of the secret part.
    pub secret_sha256: String,
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // aws-lc's system random source; failure here means the OS has no entropy.
    let _ = aws_lc_rs::rand::fill(&mut buf);
    hex::encode(buf)
}

/// Makes a new random token.
pub fn generate() -> NewToken {
    let id = random_hex(8);
    let secret = random_hex(24);
    NewToken { text: format!("berth_{id}_{secret}"), secret_sha256: hex::encode(Sha256::digest(secret.as_bytes())), id }
}

/// Splits a token's text into (id, SHA-256 of its secret), or `None` if it is not a token.
pub fn parse(text: &str) -> Option<(String, String)> {
    let rest = text.strip_prefix("berth_")?;
    let (id, secret) = rest.split_once('_')?;
    let hexish = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexish(id, 16) && hexish(secret, 48)).then(|| (id.to_owned(), hex::encode(Sha256::digest(secret.as_bytes()))))
}

/// Compares two hashes in constant time.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = generate();
        let (id, hash) = parse(&t.text).unwrap();
        assert_eq!(id, t.id);
        assert!(same_hash(&hash, &t.secret_sha256));
        assert!(parse("berth_zz_yy").is_none());
        assert!(parse("password").is_none());
        assert!(!same_hash("ab", "abc"));
    }
}
