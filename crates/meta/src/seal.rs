//! Secrets kept in the metadata (the token-signing key, the trust service's private
//! keys) are sealed with AES-256-GCM under a master key that is not in the metadata: a
//! copy of `meta.redb` (or of a backup of it) alone yields none of them.
//!
//! The master key is 32 random bytes, base64 in `<data>/master.key` (mode 0600, made at
//! the first start) or in `BERTH_MASTER_KEY`. A sealed value is the text
//! `sealed:v1:<base64 of nonce ‖ ciphertext ‖ tag>`; what it is for (its purpose, such as
//! the GUN and role of a trust key) is bound to it as associated data, so a sealed value
//! cannot be moved to stand for another secret.

use std::io::Write as _;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

const PREFIX: &str = "sealed:v1:";
const KEY_LEN: usize = 32;

/// Why a master key or a sealed value could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key file could not be read or written.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key is not base64 of 32 bytes.
    #[error("the master key ({0}) is not base64 of 32 bytes")]
    Malformed(&'static str),
    /// A sealed value does not open with this key (another key, or altered).
    #[error("a sealed secret does not open with this master key (is BERTH_MASTER_KEY or master.key the one this data was made with?)")]
    WrongKey,
    /// The system's random source failed.
    #[error("no randomness available")]
    Random,
}

/// The key that seals secrets kept in the metadata.
pub struct MasterKey {
    key: RandomizedNonceKey,
    /// Kept to hand to a joining replica: every replica of a cluster seals with one key.
    bytes: [u8; KEY_LEN],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// The key from `BERTH_MASTER_KEY`'s value when given, else from `file`, which is
    /// created (0600, fsynced) with a new random key when it does not exist.
    pub fn load_or_create(file: &Path, from_env: Option<&str>) -> Result<MasterKey, SealError> {
        if let Some(text) = from_env {
            return MasterKey::from_base64(text, "BERTH_MASTER_KEY");
        }
        let io = |source| SealError::Io { path: file.display().to_string(), source };
        match std::fs::read_to_string(file) {
            Ok(text) => MasterKey::from_base64(&text, "master.key"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; KEY_LEN];
                aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SealError::Random)?;
                use std::os::unix::fs::OpenOptionsExt as _;
                let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file).map_err(io)?;
                out.write_all(format!("{}\n", B64.encode(bytes)).as_bytes()).map_err(io)?;
                out.sync_all().map_err(io)?;
                MasterKey::from_bytes(&bytes)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The key from its base64 text.
    pub fn from_base64(text: &str, source: &'static str) -> Result<MasterKey, SealError> {
        let bytes = B64.decode(text.trim()).map_err(|_| SealError::Malformed(source))?;
        if bytes.len() != KEY_LEN {
            return Err(SealError::Malformed(source));
        }
        MasterKey::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<MasterKey, SealError> {
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::Malformed("key"))?;
        let bytes = bytes.try_into().map_err(|_| SealError::Malformed("key"))?;
        Ok(MasterKey { key, bytes })
    }

    /// The key as base64, for a replica joining the cluster (over the join's pinned TLS
    /// connection, never anywhere else).
    pub fn to_base64(&self) -> String {
        B64.encode(self.bytes)
    }

    /// Writes the key to `file` (0600, fsynced), which must not exist.
    pub fn save(&self, file: &Path) -> Result<(), SealError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let io = |source| SealError::Io { path: file.display().to_string(), source };
        let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file).map_err(io)?;
        out.write_all(format!("{}\n", self.to_base64()).as_bytes()).map_err(io)?;
        out.sync_all().map_err(io)
    }

    /// Seals `secret` for `purpose`.
    pub fn seal(&self, purpose: &str, secret: &[u8]) -> Result<String, SealError> {
        let mut in_out = secret.to_vec();
        let nonce = self.key.seal_in_place_append_tag(Aad::from(purpose.as_bytes()), &mut in_out).map_err(|_| SealError::Random)?;
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&in_out);
        Ok(format!("{PREFIX}{}", B64.encode(out)))
    }

    /// Opens a value sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::WrongKey)?;
        let bytes = B64.decode(body).map_err(|_| SealError::WrongKey)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::WrongKey);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::WrongKey)?;
        let mut in_out = ciphertext.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut in_out).map_err(|_| SealError::WrongKey)?;
        Ok(plain.to_vec())
    }

    /// Whether a stored value is sealed (values stored by earlier versions are not).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_binds_the_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        let key = MasterKey::load_or_create(&file, None).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        let sealed = key.seal("token", b"secret bytes").unwrap();
        assert!(MasterKey::is_sealed(&sealed) && !sealed.contains("secret"));
        assert_eq!(key.open("token", &sealed).unwrap(), b"secret bytes");
        assert!(key.open("another purpose", &sealed).is_err(), "bound to its purpose");
        // The same file gives the same key; another key opens nothing.
        assert_eq!(MasterKey::load_or_create(&file, None).unwrap().open("token", &sealed).unwrap(), b"secret bytes");
        let other = MasterKey::load_or_create(&dir.path().join("other.key"), None).unwrap();
        assert!(matches!(other.open("token", &sealed), Err(SealError::WrongKey)));
        assert!(MasterKey::from_base64("c2hvcnQ=", "env").is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(key.open("token", &tampered).is_err());
    }
}
