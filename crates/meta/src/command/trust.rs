//! Trust data (Notary/TUF metadata) of a GUN: metadata files, kept in every version, and
//! the server-held timestamp and snapshot keys.

use std::collections::BTreeMap;

use berth_core::RepositoryName;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, SignedTarget, TrustKey};
use crate::tables::{REPOSITORIES, SIGNED_TAGS, TRUST_CHECKSUMS, TRUST_CURRENT, TRUST_FILES, TRUST_GUNS, TRUST_KEYS, keys_under};

/// One metadata file of an update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustFile {
    /// The role (`root`, `targets`, `targets/releases`, `snapshot`, `timestamp`).
    pub role: String,
    /// The `signed.version` inside the file.
    pub version: u64,
    /// Lower-hex sha256 of `bytes`.
    pub sha256: String,
    /// The file, exactly as it is to be served.
    #[serde(with = "super::bytes")]
    pub bytes: Vec<u8>,
}

/// A tag as signed in a GUN's trust data, for the repository's signed-tags index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTag {
    /// The tag.
    pub tag: String,
    /// The signed digest, `sha256:<hex>`.
    pub digest: String,
    /// The role that signs it.
    pub role: String,
}

/// Stores the files of one accepted update of a GUN as the roles' current versions, and
/// replaces the repository's signed-tags index with the tags the resulting trust data
/// signs. The update was validated against the versions in `expected`; it is refused,
/// writing nothing, if the GUN's current versions differ from them (a concurrent or
/// replayed update), if a file's version is not newer than its role's, if the repository
/// does not exist, or if its trust data is held under another GUN. The first update (or
/// server key) of a repository binds its GUN: one trust collection per repository.
/// An update with no files re-derives the index only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutTrustMetadata {
    /// The GUN (`host:port/namespace/repository`).
    pub gun: String,
    /// The repository the GUN names.
    pub repository: RepositoryName,
    /// The files.
    pub files: Vec<TrustFile>,
    /// Every role's current version as the update was validated against (absent roles: none).
    pub expected: BTreeMap<String, u64>,
    /// The tags the trust data signs once the update is stored.
    pub signed: Vec<SignedTag>,
}

impl PutTrustMetadata {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let (gun, repository) = (self.gun.as_str(), self.repository.as_str());
        if let Some(rejection) = collection_rejection(tx, repository, gun)? {
            return Ok(Applied::Rejected(rejection));
        }
        let mut current = tx.open_table(TRUST_CURRENT)?;
        let mut stored = BTreeMap::new();
        for role in keys_under(&current, gun)? {
            if let Some(version) = current.get((gun, role.as_str()))? {
                stored.insert(role, version.value());
            }
        }
        if stored != self.expected {
            return Ok(Applied::Rejected(Rejection::TrustVersionStale("the trust data changed during the update".into())));
        }
        for file in &self.files {
            if stored.get(&file.role).is_some_and(|v| *v >= file.version) {
                return Ok(Applied::Rejected(Rejection::TrustVersionStale(file.role.clone())));
            }
        }
        let mut files = tx.open_table(TRUST_FILES)?;
        let mut checksums = tx.open_table(TRUST_CHECKSUMS)?;
        for file in &self.files {
            let role = file.role.as_str();
            files.insert((gun, role, file.version), file.bytes.as_slice())?;
            checksums.insert((gun, role, file.sha256.as_str()), file.version)?;
            current.insert((gun, role), file.version)?;
        }
        tx.open_table(TRUST_GUNS)?.insert((repository, gun), ())?;
        let mut signed = tx.open_table(SIGNED_TAGS)?;
        for tag in keys_under(&signed, repository)? {
            signed.remove((repository, tag.as_str()))?;
        }
        for tag in &self.signed {
            let record = records::encode(&SignedTarget { digest: tag.digest.clone(), role: tag.role.clone() });
            signed.insert((repository, tag.tag.as_str()), record.as_slice())?;
        }
        Ok(Applied::Done)
    }
}

/// `None` when `gun` may hold the trust data of `repository`: the repository exists and
/// its trust data is held under no other GUN.
fn collection_rejection(tx: &WriteTransaction, repository: &str, gun: &str) -> Result<Option<Rejection>, Error> {
    if tx.open_table(REPOSITORIES)?.get(repository)?.is_none() {
        return Ok(Some(Rejection::RepositoryUnknown));
    }
    let bound = keys_under(&tx.open_table(TRUST_GUNS)?, repository)?;
    Ok(bound.into_iter().find(|g| g != gun).map(Rejection::TrustCollectionExists))
}

/// Stores a new server-held key for a role of a GUN, binding the GUN to its repository
/// (refused like an update when the repository is unknown or bound to another GUN).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutTrustKey {
    /// The GUN.
    pub gun: String,
    /// The repository the GUN names.
    pub repository: RepositoryName,
    /// `timestamp` or `snapshot`.
    pub role: String,
    /// The TUF key id.
    pub key_id: String,
    /// The TUF key type (`ed25519`).
    pub keytype: String,
    /// The public key as TUF writes it (base64).
    pub public: String,
    /// The private key, sealed with the master key.
    pub sealed_private: String,
    /// When (milliseconds since the epoch; the newest key of a role is the one handed out).
    pub at: u64,
    /// Store only if the GUN holds no key for the role yet (a first `GET …/<role>.key`).
    pub only_if_none: bool,
}

impl PutTrustKey {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let (gun, role) = (self.gun.as_str(), self.role.as_str());
        if let Some(rejection) = collection_rejection(tx, self.repository.as_str(), gun)? {
            return Ok(Applied::Rejected(rejection));
        }
        let mut keys = tx.open_table(TRUST_KEYS)?;
        if self.only_if_none && !crate::tables::pairs_under(&keys, gun)?.iter().all(|(r, _)| r != role) {
            return Ok(Applied::Done);
        }
        let key = TrustKey { keytype: self.keytype, public: self.public, private_pkcs8: self.sealed_private, created_at: self.at };
        keys.insert((gun, role, self.key_id.as_str()), records::encode(&key).as_slice())?;
        tx.open_table(TRUST_GUNS)?.insert((self.repository.as_str(), gun), ())?;
        Ok(Applied::Done)
    }
}

/// Deletes every metadata file and server-held key of a GUN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteTrust {
    /// The GUN.
    pub gun: String,
}

impl DeleteTrust {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        delete_gun(tx, &self.gun)?;
        Ok(Applied::Done)
    }
}

/// Removes all trust data of `gun`.
pub(super) fn delete_gun(tx: &WriteTransaction, gun: &str) -> Result<(), Error> {
    let mut current = tx.open_table(TRUST_CURRENT)?;
    let roles = keys_under(&current, gun)?;
    for role in &roles {
        current.remove((gun, role.as_str()))?;
    }
    let mut files = tx.open_table(TRUST_FILES)?;
    let mut stale: Vec<(String, u64)> = Vec::new();
    for entry in files.range((gun, "", 0)..)? {
        let (key, _) = entry?;
        let (g, role, version) = key.value();
        if g != gun {
            break;
        }
        stale.push((role.to_owned(), version));
    }
    for (role, version) in stale {
        files.remove((gun, role.as_str(), version))?;
    }
    let mut checksums = tx.open_table(TRUST_CHECKSUMS)?;
    for (role, sum) in crate::tables::pairs_under(&checksums, gun)? {
        checksums.remove((gun, role.as_str(), sum.as_str()))?;
    }
    let mut keys = tx.open_table(TRUST_KEYS)?;
    for (role, id) in crate::tables::pairs_under(&keys, gun)? {
        keys.remove((gun, role.as_str(), id.as_str()))?;
    }
    let mut guns = tx.open_table(TRUST_GUNS)?;
    let mut owners = Vec::new();
    for entry in guns.iter()? {
        let (key, _) = entry?;
        let (repo, g) = key.value();
        if g == gun {
            owners.push(repo.to_owned());
        }
    }
    let mut signed = tx.open_table(SIGNED_TAGS)?;
    for repo in owners {
        guns.remove((repo.as_str(), gun))?;
        for tag in keys_under(&signed, &repo)? {
            signed.remove((repo.as_str(), tag.as_str()))?;
        }
    }
    Ok(())
}

/// Removes the trust data of every GUN naming `repository`.
pub(super) fn delete_repository_trust(tx: &WriteTransaction, repository: &str) -> Result<(), Error> {
    let guns = keys_under(&tx.open_table(TRUST_GUNS)?, repository)?;
    for gun in guns {
        delete_gun(tx, &gun)?;
    }
    Ok(())
}
