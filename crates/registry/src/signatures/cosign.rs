//! Cosign signatures ("simple signing"), the OCI-artifact kind the signed-pulls policy
//! accepts besides Notary data: a manifest whose layers are
//! `application/vnd.dev.cosign.simplesigning.v1+json` payloads naming the signed digest,
//! each with its ECDSA P-256 signature (ASN.1, sha256) in the layer annotation
//! `dev.cosignproject.cosign/signature`. Checked against PEM public keys an
//! administrator configured; nothing here fetches anything.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// The artifact type of a cosign signature stored as an OCI 1.1 referrer.
pub const ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// The media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// The DER SubjectPublicKeyInfo inside a `-----BEGIN PUBLIC KEY-----` PEM block.
pub fn public_key_der(pem: &str) -> Option<Vec<u8>> {
    let body = pem.split("-----BEGIN PUBLIC KEY-----").nth(1)?.split("-----END PUBLIC KEY-----").next()?;
    let text: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(text).ok().filter(|der| !der.is_empty())
}

/// Whether `payload` names `digest` and `signature` (base64) is a signature over it by
/// one of `keys` (PEM).
pub fn verify_simple_signing(payload: &[u8], signature: &str, keys: &[String], digest: &str) -> bool {
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(payload) else { return false };
    if document["critical"]["image"]["docker-manifest-digest"].as_str() != Some(digest) {
        return false;
    }
    let Ok(signature) = B64.decode(signature.trim()) else { return false };
    keys.iter()
        .filter_map(|k| public_key_der(k))
        .any(|der| UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, der).verify(payload, &signature).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    fn key() -> (EcdsaKeyPair, String) {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let der = pair.public_key().as_der().unwrap();
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", B64.encode(der.as_ref()));
        (pair, pem)
    }

    #[test]
    fn accepts_only_the_configured_key_and_the_named_digest() {
        let (pair, pem) = key();
        let (_, other) = key();
        let digest = format!("sha256:{}", "ab".repeat(32));
        let payload = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"x"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        );
        let sig = B64.encode(pair.sign(&SystemRandom::new(), payload.as_bytes()).unwrap().as_ref());
        assert!(verify_simple_signing(payload.as_bytes(), &sig, std::slice::from_ref(&pem), &digest));
        assert!(!verify_simple_signing(payload.as_bytes(), &sig, &[other], &digest));
        assert!(!verify_simple_signing(payload.as_bytes(), &sig, std::slice::from_ref(&pem), &format!("sha256:{}", "cd".repeat(32))));
        assert!(!verify_simple_signing(b"{}", &sig, &[pem], &digest));
    }
}
