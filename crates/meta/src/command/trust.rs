//! Trust data (Notary/TUF metadata) of a GUN: metadata files, kept in every version, and
//! the server-held timestamp and snapshot keys.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, TrustKey};
use crate::tables::{TRUST_CHECKSUMS, TRUST_CURRENT, TRUST_FILES, TRUST_GUNS, TRUST_KEYS, keys_under};

/// One metadata file of an update.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustFile {
    /// The role (`root`, `targets`, `targets/releases`, `snapshot`, `timestamp`).
    pub role: String,
    /// The `signed.version` inside the file.
    pub version: u64,
    /// Lower-hex sha256 of `bytes`.
    pub sha256: String,
    /// The file, exactly as it is to be served.
    pub bytes: Vec<u8>,
}

/// Stores the files of one accepted update of a GUN as the roles' current versions.
/// Refused, writing nothing, if any file's version is not greater than the stored
/// current version of its role (a concurrent or replayed update).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutTrustMetadata {
    /// The GUN (`host:port/namespace/repository`).
    pub gun: String,
    /// The repository the GUN names, for deleting trust data with the repository.
    pub repository: String,
    /// The files.
    pub files: Vec<TrustFile>,
}

impl PutTrustMetadata {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let gun = self.gun.as_str();
        let mut current = tx.open_table(TRUST_CURRENT)?;
        for file in &self.files {
            if let Some(stored) = current.get((gun, file.role.as_str()))?.map(|v| v.value())
                && stored >= file.version
            {
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
        tx.open_table(TRUST_GUNS)?.insert((self.repository.as_str(), gun), ())?;
        Ok(Applied::Done)
    }
}

/// Stores a new server-held key for a role of a GUN.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutTrustKey {
    /// The GUN.
    pub gun: String,
    /// `timestamp` or `snapshot`.
    pub role: String,
    /// The TUF key id.
    pub key_id: String,
    /// The key.
    pub key: TrustKey,
    /// Store only if the GUN holds no key for the role yet (a first `GET …/<role>.key`).
    pub only_if_none: bool,
}

impl PutTrustKey {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut keys = tx.open_table(TRUST_KEYS)?;
        let (gun, role) = (self.gun.as_str(), self.role.as_str());
        if self.only_if_none {
            let mut existing = keys.range((gun, role, "")..)?;
            if let Some(entry) = existing.next() {
                let (key, _) = entry?;
                let (g, r, _) = key.value();
                if g == gun && r == role {
                    return Ok(Applied::Done);
                }
            }
        }
        keys.insert((gun, role, self.key_id.as_str()), records::encode(&self.key).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Deletes every metadata file and server-held key of a GUN.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    let owners: Vec<String> = guns.iter()?.filter_map(|e| e.ok()).filter(|(k, _)| k.value().1 == gun).map(|(k, _)| k.value().0.to_owned()).collect();
    for repo in owners {
        guns.remove((repo.as_str(), gun))?;
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
