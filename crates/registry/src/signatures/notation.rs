//! Notation (Notary Project v2) signatures, the other OCI-artifact kind the signed-pulls
//! policy accepts: a referrer of artifact type `application/vnd.cncf.notary.signature`
//! whose layer is a JWS envelope (`application/jose+json`, JSON serialization). The
//! envelope's payload names the signed manifest; its signing certificate is the first of
//! the `x5c` chain. A signature counts when the certificate's public key is one an
//! administrator configured (PEM) and the JWS signature verifies with it. Certificate
//! chains and revocation are not evaluated: trust is the configured key.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, RSA_PSS_2048_8192_SHA256, RSA_PSS_2048_8192_SHA384, RSA_PSS_2048_8192_SHA512,
    UnparsedPublicKey, VerificationAlgorithm,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::cosign::public_key_der;

/// The artifact type of a notation signature.
pub const ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// The media type of a JWS signature envelope.
pub const JWS_ENVELOPE: &str = "application/jose+json";

fn algorithm(name: &str) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match name {
        "ES256" => &ECDSA_P256_SHA256_FIXED,
        "ES384" => &ECDSA_P384_SHA384_FIXED,
        "PS256" => &RSA_PSS_2048_8192_SHA256,
        "PS384" => &RSA_PSS_2048_8192_SHA384,
        "PS512" => &RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// Whether `envelope` (a JWS JSON envelope) signs `digest` with the certificate of one
/// of `keys` (PEM public keys).
pub fn verify_jws(envelope: &[u8], keys: &[String], digest: &str) -> bool {
    let Ok(jws) = serde_json::from_slice::<serde_json::Value>(envelope) else { return false };
    let (Some(protected), Some(payload), Some(signature)) = (jws["protected"].as_str(), jws["payload"].as_str(), jws["signature"].as_str())
    else {
        return false;
    };
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok();
    let (Some(header), Some(body), Some(signature)) = (decode(protected), decode(payload), decode(signature)) else { return false };
    let Ok(header) = serde_json::from_slice::<serde_json::Value>(&header) else { return false };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else { return false };
    if body["targetArtifact"]["digest"].as_str() != Some(digest) {
        return false;
    }
    let Some(algorithm) = header["alg"].as_str().and_then(algorithm) else { return false };
    // The signing certificate: the first of the chain (standard base64 DER).
    let Some(leaf) = jws["header"]["x5c"][0].as_str().and_then(|c| STANDARD.decode(c).ok()) else { return false };
    let Ok((_, certificate)) = x509_parser::parse_x509_certificate(&leaf) else { return false };
    let public_key = certificate.public_key();
    if !keys.iter().filter_map(|k| public_key_der(k)).any(|der| der == public_key.raw) {
        return false;
    }
    let signing_input = format!("{protected}.{payload}");
    let key_bytes: &[u8] = &public_key.subject_public_key.data;
    UnparsedPublicKey::new(algorithm, key_bytes).verify(signing_input.as_bytes(), &signature).is_ok()
}
