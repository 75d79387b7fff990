//! What the registry holds, counted for monitoring: repositories, tags, manifests, blobs
//! and the bytes they take. Totals only: `/metrics` is open to whoever reaches the port,
//! and namespace names can be private.

use redb::{ReadableTable, ReadableTableMetadata};

use super::Reader;
use crate::Error;
use crate::tables::{BLOB_REFERENCES, BLOB_REPOSITORIES, MANIFEST_CONTENT, REPOSITORIES, TAGS};

/// The counts, from one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Repositories.
    pub repositories: u64,
    /// Tags, over every repository.
    pub tags: u64,
    /// Distinct manifests.
    pub manifests: u64,
    /// Distinct blobs some repository links.
    pub blobs: u64,
    /// Bytes of the distinct blobs manifests use (each blob counted once, however many
    /// repositories share it): what the blob storage holds for them.
    pub used_bytes: u64,
}

impl Reader {
    /// Counts what the registry holds. Table lengths are stored; the blob figures read the
    /// blob indexes once (sorted by digest, so each blob is counted at its first entry).
    pub fn inventory(&self) -> Result<Inventory, Error> {
        let mut inventory = Inventory {
            repositories: self.tx.open_table(REPOSITORIES)?.len()?,
            tags: self.tx.open_table(TAGS)?.len()?,
            manifests: self.tx.open_table(MANIFEST_CONTENT)?.len()?,
            ..Inventory::default()
        };
        let mut last = String::new();
        for entry in self.tx.open_table(BLOB_REPOSITORIES)?.iter()? {
            let (key, _) = entry?;
            let (blob, _) = key.value();
            if blob != last {
                inventory.blobs += 1;
                last = blob.to_owned();
            }
        }
        last.clear();
        for entry in self.tx.open_table(BLOB_REFERENCES)?.iter()? {
            let (key, size) = entry?;
            let (blob, _, _) = key.value();
            if blob != last {
                inventory.used_bytes += size.value();
                last = blob.to_owned();
            }
        }
        Ok(inventory)
    }
}
