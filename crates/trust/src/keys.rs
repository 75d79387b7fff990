//! Keys: TUF key ids, signature verification for every key type Notary accepts, and
//! the server-held Ed25519 keys that sign snapshots and timestamps.
//!
//! | keytype | `public` (base64 of) | methods |
//! |---|---|---|
//! | `ecdsa` | SubjectPublicKeyInfo DER (P-256) | `ecdsa`: r‖s over sha256 |
//! | `ecdsa-x509` | PEM certificate | `ecdsa` |
//! | `ed25519` | raw 32 bytes | `eddsa` |
//! | `rsa` / `rsa-x509` | SPKI DER / PEM certificate, ≥ 2048 bits | `rsapss` (sha256), `rsapkcs1v15` |

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use berth_meta::TrustKey;
use serde_json::json;

use crate::Error;
use crate::canonical;
use crate::tuf::{KeyVal, PublicKey, Signature};

/// The key id: lower-hex sha256 of the canonical key with `private` null.
pub fn key_id(key: &PublicKey) -> String {
    let value = json!({"keytype": key.keytype, "keyval": {"private": null, "public": key.keyval.public}});
    crate::tuf::sha256_hex(&canonical::encode(&value).unwrap_or_default())
}

/// What the rules need from an X.509 key's certificate.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// The subject's common name.
    pub common_name: Option<String>,
    /// Validity, as Unix seconds.
    pub not_before: i64,
    /// Validity, as Unix seconds.
    pub not_after: i64,
    /// Signed with SHA-1 (refused by Notary).
    pub sha1: bool,
    /// The certified key, SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
}

/// The certificate inside an `*-x509` key; `None` for other types or a bad certificate.
pub fn certificate(key: &PublicKey) -> Option<Certificate> {
    if !key.keytype.ends_with("-x509") {
        return None;
    }
    let pem_text = B64.decode(&key.keyval.public).ok()?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem_text).ok()?;
    let cert = pem.parse_x509().ok()?;
    let common_name = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_owned);
    let algorithm = cert.signature_algorithm.algorithm.to_id_string();
    Some(Certificate {
        common_name,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        sha1: algorithm == "1.2.840.113549.1.1.5" || algorithm == "1.2.840.10045.4.1",
        spki: cert.public_key().raw.to_vec(),
    })
}

/// Whether `sig` is a valid signature by `key` over `message`.
pub fn verify(key: &PublicKey, sig: &Signature, message: &[u8]) -> bool {
    let Ok(signature_bytes) = B64.decode(&sig.sig) else { return false };
    let material = match key.keytype.as_str() {
        "ecdsa-x509" | "rsa-x509" => match certificate(key) {
            Some(cert) => cert.spki,
            None => return false,
        },
        _ => match B64.decode(&key.keyval.public) {
            Ok(bytes) => bytes,
            Err(_) => return false,
        },
    };
    let method = sig.method.to_ascii_lowercase();
    let algorithm: &'static dyn VerificationAlgorithm = match (key.keytype.as_str(), method.as_str()) {
        ("ecdsa" | "ecdsa-x509", "ecdsa") => &signature::ECDSA_P256_SHA256_FIXED,
        ("ed25519", "eddsa") => &signature::ED25519,
        ("rsa" | "rsa-x509", "rsapss") => &signature::RSA_PSS_2048_8192_SHA256,
        ("rsa" | "rsa-x509", "rsapkcs1v15") => &signature::RSA_PKCS1_2048_8192_SHA256,
        _ => return false,
    };
    UnparsedPublicKey::new(algorithm, material).verify(message, &signature_bytes).is_ok()
}

/// A key the server holds, ready to sign.
pub struct ServerKey {
    pair: Ed25519KeyPair,
    /// Its public half, as metadata lists it.
    pub public: PublicKey,
    /// Its key id.
    pub id: String,
}

impl ServerKey {
    /// A new random key, with its PKCS#8 form (to be sealed and stored).
    pub fn generate() -> Result<(ServerKey, Vec<u8>), Error> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|e| Error::Crypto(e.to_string()))?;
        Ok((ServerKey::from_pkcs8(pkcs8.as_ref())?, pkcs8.as_ref().to_vec()))
    }

    /// Loads a key from its PKCS#8 form.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<ServerKey, Error> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| Error::Crypto(e.to_string()))?;
        let public =
            PublicKey { keytype: "ed25519".into(), keyval: KeyVal { public: B64.encode(pair.public_key().as_ref()), private: None } };
        let id = key_id(&public);
        Ok(ServerKey { pair, public, id })
    }

    /// Signs `message` (canonical `signed` bytes).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature { keyid: self.id.clone(), method: "eddsa".into(), sig: B64.encode(self.pair.sign(message).as_ref()) }
    }
}

/// The public form of a stored key.
pub fn public_of(record: &TrustKey) -> PublicKey {
    PublicKey { keytype: record.keytype.clone(), keyval: KeyVal { public: record.public.clone(), private: None } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_key_signs_what_verify_accepts() {
        let (key, pkcs8) = ServerKey::generate().unwrap();
        assert_eq!(ServerKey::from_pkcs8(&pkcs8).unwrap().id, key.id);
        let sig = key.sign(b"message");
        assert!(verify(&key.public, &sig, b"message"));
        assert!(!verify(&key.public, &sig, b"messagf"));
        let wrong_method = Signature { method: "ecdsa".into(), ..sig };
        assert!(!verify(&key.public, &wrong_method, b"message"));
    }

    #[test]
    fn key_id_is_sha256_of_canonical_key() {
        let key = PublicKey { keytype: "ed25519".into(), keyval: KeyVal { public: "AAAA".into(), private: None } };
        let expected = crate::tuf::sha256_hex(br#"{"keytype":"ed25519","keyval":{"private":null,"public":"AAAA"}}"#);
        assert_eq!(key_id(&key), expected);
    }
}
