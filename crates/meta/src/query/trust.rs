//! Trust data: metadata files by role, version and checksum; server-held keys.

use std::collections::BTreeMap;

use redb::ReadableTable;

use super::Reader;
use crate::Error;
use crate::records::{self, SignedTarget, TrustKey};
use crate::tables::{SIGNED_TAGS, TRUST_CHECKSUMS, TRUST_CURRENT, TRUST_FILES, TRUST_GUNS, TRUST_KEYS, keys_under, pairs_under};

impl Reader {
    /// The current version of a role and its bytes; `None` when the GUN has no such role.
    pub fn trust_current(&self, gun: &str, role: &str) -> Result<Option<(u64, Vec<u8>)>, Error> {
        let Some(version) = self.tx.open_table(TRUST_CURRENT)?.get((gun, role))?.map(|v| v.value()) else { return Ok(None) };
        Ok(self.trust_version(gun, role, version)?.map(|bytes| (version, bytes)))
    }

    /// Every role of a GUN at its current version, with its bytes.
    pub fn trust_state(&self, gun: &str) -> Result<BTreeMap<String, (u64, Vec<u8>)>, Error> {
        let roles = keys_under(&self.tx.open_table(TRUST_CURRENT)?, gun)?;
        let mut out = BTreeMap::new();
        for role in roles {
            if let Some(current) = self.trust_current(gun, &role)? {
                out.insert(role, current);
            }
        }
        Ok(out)
    }

    /// One version of a role.
    pub fn trust_version(&self, gun: &str, role: &str, version: u64) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.tx.open_table(TRUST_FILES)?.get((gun, role, version))?.map(|v| v.value().to_vec()))
    }

    /// The version of a role whose bytes have this sha256 (lower hex).
    pub fn trust_by_checksum(&self, gun: &str, role: &str, sha256: &str) -> Result<Option<Vec<u8>>, Error> {
        let Some(version) = self.tx.open_table(TRUST_CHECKSUMS)?.get((gun, role, sha256))?.map(|v| v.value()) else { return Ok(None) };
        self.trust_version(gun, role, version)
    }

    /// The server-held keys of a role of a GUN, by key id.
    pub fn trust_keys(&self, gun: &str, role: &str) -> Result<Vec<(String, TrustKey)>, Error> {
        let table = self.tx.open_table(TRUST_KEYS)?;
        let mut out = Vec::new();
        for (r, id) in pairs_under(&table, gun)? {
            if r != role {
                continue;
            }
            if let Some(value) = table.get((gun, r.as_str(), id.as_str()))? {
                out.push((id, records::decode("trust_keys", value.value())?));
            }
        }
        Ok(out)
    }

    /// Every server-held key: (GUN, role, key id, key).
    pub fn all_trust_keys(&self) -> Result<Vec<(String, String, String, TrustKey)>, Error> {
        let mut out = Vec::new();
        for entry in self.tx.open_table(TRUST_KEYS)?.iter()? {
            let (key, value) = entry?;
            let (gun, role, id) = key.value();
            out.push((gun.to_owned(), role.to_owned(), id.to_owned(), records::decode("trust_keys", value.value())?));
        }
        Ok(out)
    }

    /// The GUNs holding trust data of a repository: one, or none yet (more only in data
    /// written before a repository was limited to one).
    pub fn trust_guns(&self, repository: &str) -> Result<Vec<String>, Error> {
        keys_under(&self.tx.open_table(TRUST_GUNS)?, repository)
    }

    /// Every (repository, GUN) binding.
    pub fn trust_collections(&self) -> Result<Vec<(String, String)>, Error> {
        let mut out = Vec::new();
        for entry in self.tx.open_table(TRUST_GUNS)?.iter()? {
            let (key, _) = entry?;
            let (repository, gun) = key.value();
            out.push((repository.to_owned(), gun.to_owned()));
        }
        Ok(out)
    }

    /// The tags signed in a repository's trust data, sorted.
    pub fn signed_tags(&self, repository: &str) -> Result<Vec<(String, SignedTarget)>, Error> {
        self.records_in_scope((SIGNED_TAGS, "signed_tags"), repository)
    }
}
