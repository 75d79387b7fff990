//! TLS for `berth serve`: a CA and a server certificate generated on first start into
//! `<data>/tls/` (for `localhost`, `127.0.0.1`, `::1` and the host name), or the
//! operator's own certificate and key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Paths of the generated files.
pub struct GeneratedTls {
    /// The CA certificate clients should trust: `<data>/tls/ca.crt`.
    pub ca_cert: PathBuf,
    /// The server certificate (followed by the CA certificate).
    pub cert: PathBuf,
    /// The server key.
    pub key: PathBuf,
}

/// The machine's host name, for the certificate.
pub fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    std::io::Write::write_all(&mut file, contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Makes sure `<dir>` holds a CA and a server certificate, generating both when the
/// server certificate or key is missing.
pub fn ensure_generated(dir: &Path) -> anyhow::Result<GeneratedTls> {
    let files = GeneratedTls { ca_cert: dir.join("ca.crt"), cert: dir.join("server.crt"), key: dir.join("server.key") };
    if files.cert.exists() && files.key.exists() && files.ca_cert.exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    let mut ca_name = DistinguishedName::new();
    ca_name.push(DnType::CommonName, "Berth local CA");
    ca.distinguished_name = ca_name;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca.not_before = date_time_ymd(2025, 1, 1);
    ca.not_after = date_time_ymd(2045, 1, 1);
    let ca_cert = ca.self_signed(&ca_key)?;

    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    names.extend(host_name().filter(|h| h != "localhost"));
    let server_key = KeyPair::generate()?;
    let mut server = CertificateParams::new(names)?;
    let mut server_name = DistinguishedName::new();
    server_name.push(DnType::CommonName, "berth");
    server.distinguished_name = server_name;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.not_before = date_time_ymd(2025, 1, 1);
    server.not_after = date_time_ymd(2045, 1, 1);
    let issuer = Issuer::new(ca, ca_key);
    let server_cert = server.signed_by(&server_key, &issuer)?;

    write_private(&files.key, &server_key.serialize_pem())?;
    std::fs::write(&files.cert, format!("{}{}", server_cert.pem(), ca_cert.pem()))?;
    std::fs::write(&files.ca_cert, ca_cert.pem())?;
    Ok(files)
}

/// A rustls server configuration (HTTP/2 and HTTP/1.1) from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading key {}", key.display()))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The configurations an HTTPS listener picks from by the client's server name.
pub struct TlsChoice {
    /// The registry's own certificate, for clients.
    pub public: Arc<ServerConfig>,
    /// The replica certificate, for other replicas (when this replica has one).
    pub replica: Option<Arc<ServerConfig>>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn chain(pem: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>().context("parsing a replica certificate")
}

fn roots(ca_pem: &str) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in chain(ca_pem)? {
        roots.add(certificate).context("the cluster CA certificate")?;
    }
    Ok(roots)
}

/// The server side of replica connections: the replica's certificate; a client
/// certificate is asked for and, when given, must chain to the cluster CA (a replica
/// still joining has none; the replica endpoints refuse connections without one).
pub fn replica_server_config(identity: &berth_services::cluster::ReplicaIdentity) -> anyhow::Result<Arc<ServerConfig>> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots(&identity.ca)?), provider())
        .allow_unauthenticated()
        .build()
        .context("the cluster CA")?;
    let key = PrivateKeyDer::from_pem_slice(identity.key.expose().as_bytes()).context("the replica key")?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain(&identity.certificate)?, key)
        .context("the replica certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client side of replica connections: trusts only the cluster CA, and presents
/// the replica's certificate.
pub fn replica_client_config(identity: &berth_services::cluster::ReplicaIdentity) -> anyhow::Result<rustls::ClientConfig> {
    let key = PrivateKeyDer::from_pem_slice(identity.key.expose().as_bytes()).context("the replica key")?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(&identity.ca)?)
        .with_client_auth_cert(chain(&identity.certificate)?, key)
        .context("the replica certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A client trusting only the CA `ca_pem`, without a certificate of its own (a replica
/// joining, before it has one).
pub fn pinned_client_config(ca_pem: &str) -> anyhow::Result<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
