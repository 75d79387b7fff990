//! The cluster's certificate authority: replicas prove who they are to each other with
//! certificates it signs (mutual TLS on the registry's port). It is made once, by the
//! replica that founds the cluster; its certificate and its key (sealed with the master
//! key) are replicated in the metadata, so any replica can sign for a joining one.
//!
//! A replica certificate names the replica id as its common name and
//! [`REPLICA_SERVER_NAME`] as its DNS name: replicas address each other by that name
//! (TLS SNI), which is how a replica's connection is told from a client's.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SubjectPublicKeyInfo, date_time_ymd,
};
use sha2::{Digest as _, Sha256};

/// The TLS server name replicas use for each other.
pub const REPLICA_SERVER_NAME: &str = "replica.berth.internal";

/// A certificate or key that could not be made or read.
#[derive(Debug, thiserror::Error)]
#[error("cluster certificates: {0}")]
pub struct CaError(String);

fn ca_error(e: impl std::fmt::Display) -> CaError {
    CaError(e.to_string())
}

/// A new CA for cluster `cluster`: its certificate and key, PEM.
pub fn generate(cluster: &str) -> Result<(String, String), CaError> {
    let key = KeyPair::generate().map_err(ca_error)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(ca_error)?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, format!("Berth cluster CA {cluster}"));
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2055, 1, 1);
    let certificate = params.self_signed(&key).map_err(ca_error)?;
    Ok((certificate.pem(), key.serialize_pem()))
}

/// A key pair for a replica: its key (PEM) and public key (SubjectPublicKeyInfo, DER).
pub fn replica_key() -> Result<(String, Vec<u8>), CaError> {
    use rcgen::PublicKeyData as _;
    let key = KeyPair::generate().map_err(ca_error)?;
    Ok((key.serialize_pem(), key.subject_public_key_info()))
}

/// A certificate for replica `replica`'s public key (SubjectPublicKeyInfo, DER), signed
/// by the CA: good as a TLS server and as a TLS client.
pub fn issue(ca_certificate: &str, ca_key: &str, replica: &str, public_key: &[u8]) -> Result<String, CaError> {
    let public_key = SubjectPublicKeyInfo::from_der(public_key).map_err(|e| CaError(format!("the replica's public key: {e}")))?;
    let ca_key = KeyPair::from_pem(ca_key).map_err(ca_error)?;
    let issuer = Issuer::from_ca_cert_pem(ca_certificate, ca_key).map_err(ca_error)?;
    let mut params = CertificateParams::new(vec![REPLICA_SERVER_NAME.to_owned()]).map_err(ca_error)?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, replica);
    params.distinguished_name = name;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2055, 1, 1);
    Ok(params.signed_by(&public_key, &issuer).map_err(ca_error)?.pem())
}

/// The SHA-256 (hex) of a PEM certificate's DER bytes: what a join token pins.
pub fn fingerprint(certificate: &str) -> Result<String, CaError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let der = CertificateDer::from_pem_slice(certificate.as_bytes()).map_err(ca_error)?;
    Ok(hex::encode(Sha256::digest(der.as_ref())))
}

/// The common name (the replica id) of a certificate, DER.
pub fn replica_of(certificate: &[u8]) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    let name = parsed.subject().iter_common_name().next()?.as_str().ok()?.to_owned();
    berth_meta::raft::replica::parse_id(&name).map(|_| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificates_name_the_replica_and_chain_to_the_ca() {
        let (ca, ca_key) = generate("c1").unwrap();
        let (_key, public) = replica_key().unwrap();
        let certificate = issue(&ca, &ca_key, "0123456789ab", &public).unwrap();
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject as _;
        let der = CertificateDer::from_pem_slice(certificate.as_bytes()).unwrap();
        assert_eq!(replica_of(der.as_ref()).as_deref(), Some("0123456789ab"));
        assert_eq!(fingerprint(&ca).unwrap().len(), 64);
        assert!(issue(&ca, &ca_key, "0123456789ab", b"not a key").is_err());
    }
}
