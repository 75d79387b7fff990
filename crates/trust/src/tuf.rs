//! TUF role files as Notary writes them. A file is kept as received: [`Parsed`] holds its
//! bytes, the generic `signed` object, and that object's canonical form (what the
//! signatures cover), beside the typed view the rules need.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::canonical;

/// Expiry of server-signed snapshots (Notary's default, three years).
pub const SNAPSHOT_EXPIRY_DAYS: i64 = 3 * 365;
/// Expiry of server-signed timestamps (Notary's default, fourteen days).
pub const TIMESTAMP_EXPIRY_DAYS: i64 = 14;

/// The four base roles.
pub const BASE_ROLES: [&str; 4] = ["root", "targets", "snapshot", "timestamp"];

/// `{"keyid","method","sig"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// The signing key's id.
    pub keyid: String,
    /// `ecdsa`, `eddsa`, `rsapss`, `rsapkcs1v15` (any case).
    pub method: String,
    /// Base64 signature bytes.
    pub sig: String,
}

/// `{"signed":…, "signatures":[…]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    /// The signed object, generic.
    pub signed: serde_json::Value,
    /// Its signatures.
    pub signatures: Vec<Signature>,
}

/// A public key: `{"keytype", "keyval": {"public", "private": null}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicKey {
    /// `ecdsa`, `ecdsa-x509`, `ed25519`, `rsa`, `rsa-x509`.
    pub keytype: String,
    /// The key material.
    pub keyval: KeyVal,
}

/// The material of a [`PublicKey`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyVal {
    /// Base64 public key (DER, raw or PEM certificate, depending on the type).
    pub public: String,
    /// Always `null` in metadata.
    pub private: Option<String>,
}

/// Keys and threshold of a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleKeys {
    /// Key ids allowed to sign.
    pub keyids: Vec<String>,
    /// How many of them must.
    pub threshold: u64,
}

/// Fields common to every role file.
#[derive(Debug, Clone, Deserialize)]
pub struct Common {
    /// `Root`, `Targets`, `Snapshot`, `Timestamp`.
    #[serde(rename = "_type")]
    pub kind: String,
    /// ≥ 1, increasing.
    pub version: u64,
    /// RFC 3339 UTC.
    pub expires: String,
}

/// `signed` of `root.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Root {
    /// Every key any base role uses.
    pub keys: BTreeMap<String, PublicKey>,
    /// The base roles' keys and thresholds.
    pub roles: BTreeMap<String, RoleKeys>,
}

/// A delegated role, as its parent names it.
#[derive(Debug, Clone, Deserialize)]
pub struct DelegatedRole {
    /// `targets/<name>…`.
    pub name: String,
    /// Key ids allowed to sign it.
    pub keyids: Vec<String>,
    /// How many must.
    pub threshold: u64,
}

/// The delegations of a targets file.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Delegations {
    /// Keys of the delegated roles.
    #[serde(default)]
    pub keys: BTreeMap<String, PublicKey>,
    /// The delegated roles.
    #[serde(default)]
    pub roles: Vec<DelegatedRole>,
}

/// `signed` of `targets.json` and of delegations.
#[derive(Debug, Clone, Deserialize)]
pub struct Targets {
    /// Target name (the tag) → its hashes and length.
    #[serde(default)]
    pub targets: BTreeMap<String, FileMeta>,
    /// Roles this one delegates to.
    #[serde(default)]
    pub delegations: Delegations,
}

/// Hashes (base64) and length of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    /// `sha256`, `sha512` → base64 digest.
    pub hashes: BTreeMap<String, String>,
    /// Size in bytes.
    pub length: u64,
}

/// `signed` of `snapshot.json` and `timestamp.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetaList {
    /// `Snapshot` or `Timestamp`.
    #[serde(rename = "_type")]
    pub kind: String,
    /// Expiry.
    pub expires: String,
    /// Role name → hashes and length of its current file.
    pub meta: BTreeMap<String, FileMeta>,
    /// Version.
    pub version: u64,
}

/// A role file as received, with its canonical `signed` bytes and common fields.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The envelope.
    pub envelope: Envelope,
    /// Canonical JSON of `signed`.
    pub canonical: Vec<u8>,
    /// `_type`, `version`, `expires`.
    pub common: Common,
}

impl Parsed {
    /// Parses a role file; `None` if it is not `{signed:{_type,version,expires},signatures}`.
    pub fn parse(bytes: Vec<u8>) -> Option<Parsed> {
        let envelope: Envelope = serde_json::from_slice(&bytes).ok()?;
        let common: Common = serde_json::from_value(envelope.signed.clone()).ok()?;
        let canonical = canonical::encode(&envelope.signed).ok()?;
        Some(Parsed { bytes, envelope, canonical, common })
    }

    /// The typed view of `signed`.
    pub fn signed<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.envelope.signed.clone()).ok()
    }
}

/// A TUF role: one of the four base roles, or a delegation under `targets`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Names the keys of every base role.
    Root,
    /// Lists the signed tags (and delegates).
    Targets,
    /// Lists the versions of the other files (server-signed unless uploaded).
    Snapshot,
    /// Names the current snapshot; always server-signed.
    Timestamp,
    /// `targets/<name>[/…]`.
    Delegation(String),
}

impl Role {
    /// The role a name stands for, if Notary accepts the name.
    pub fn parse(name: &str) -> Option<Role> {
        Some(match name {
            "root" => Role::Root,
            "targets" => Role::Targets,
            "snapshot" => Role::Snapshot,
            "timestamp" => Role::Timestamp,
            _ if valid_role(name) => Role::Delegation(name.to_owned()),
            _ => return None,
        })
    }

    /// Its name, as files and routes spell it.
    pub fn as_str(&self) -> &str {
        match self {
            Role::Root => "root",
            Role::Targets => "targets",
            Role::Snapshot => "snapshot",
            Role::Timestamp => "timestamp",
            Role::Delegation(name) => name,
        }
    }
}

/// A role whose key the server holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerRole {
    /// The snapshot role.
    Snapshot,
    /// The timestamp role.
    Timestamp,
}

impl ServerRole {
    /// The role a name stands for, if the server holds its key.
    pub fn parse(name: &str) -> Option<ServerRole> {
        match name {
            "snapshot" => Some(ServerRole::Snapshot),
            "timestamp" => Some(ServerRole::Timestamp),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerRole::Snapshot => "snapshot",
            ServerRole::Timestamp => "timestamp",
        }
    }
}

/// Whether `name` is a role Notary accepts: a base role, or `targets/…` of
/// `[-a-z0-9_/]`, under 256 characters, with no empty, `.` or `..` component.
pub fn valid_role(name: &str) -> bool {
    if BASE_ROLES.contains(&name) {
        return true;
    }
    let Some(rest) = name.strip_prefix("targets/") else { return false };
    name.len() < 256
        && rest.split('/').all(|c| !c.is_empty())
        && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'/')
}

/// The parent of a delegation (`targets/a/b` → `targets/a`).
pub fn parent(role: &str) -> Option<&str> {
    role.rsplit_once('/').map(|(p, _)| p)
}

/// Hashes and length of `bytes`, as snapshot and timestamp list them.
pub fn file_meta(bytes: &[u8]) -> FileMeta {
    use base64::Engine as _;
    use sha2::Digest as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut hashes = BTreeMap::new();
    hashes.insert("sha256".to_owned(), b64.encode(sha2::Sha256::digest(bytes)));
    hashes.insert("sha512".to_owned(), b64.encode(sha2::Sha512::digest(bytes)));
    FileMeta { hashes, length: bytes.len() as u64 }
}

/// Lower-hex sha256 of `bytes` (the checksum files are fetched by).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_print() {
        for name in ["root", "targets", "snapshot", "timestamp", "targets/releases"] {
            assert_eq!(Role::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(Role::parse("targets/releases"), Some(Role::Delegation("targets/releases".into())));
        assert_eq!(Role::parse("foo"), None);
        assert_eq!(ServerRole::parse("timestamp").map(ServerRole::as_str), Some("timestamp"));
        assert_eq!(ServerRole::parse("root"), None);
    }

    #[test]
    fn role_names() {
        for ok in ["root", "targets", "snapshot", "timestamp", "targets/releases", "targets/a/b-c_d"] {
            assert!(valid_role(ok), "{ok}");
        }
        for bad in ["foo", "targets/", "targets//a", "targets/A", "targets/../x", "Root", "targets/a.b", ""] {
            assert!(!valid_role(bad), "{bad}");
        }
    }
}
