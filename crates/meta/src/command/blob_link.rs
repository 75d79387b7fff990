//! Blob links: which repository may serve which blob.

use berth_core::Digest;
use redb::WriteTransaction;
use serde::{Deserialize, Serialize};

use super::repository::ensure_repository;
use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, BlobLink};
use crate::tables::BLOB_LINKS;

/// Links `digest` (of `size` bytes, already in storage) to `repository`. Idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkBlob {
    /// The repository gaining the blob.
    pub repository: String,
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// When (seconds since the epoch).
    pub at: u64,
}

impl LinkBlob {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        if let Some(rejection) = ensure_repository(tx, &self.repository, self.at)? {
            return Ok(Applied::Rejected(rejection));
        }
        let record = records::encode(&BlobLink { size: self.size, linked_at: self.at });
        tx.open_table(BLOB_LINKS)?.insert((self.repository.as_str(), self.digest.as_str()), record.as_slice())?;
        Ok(Applied::Done)
    }
}

/// Removes a repository's link to a blob. The bytes stay until garbage collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnlinkBlob {
    /// The repository losing the blob.
    pub repository: String,
    /// The blob.
    pub digest: Digest,
}

impl UnlinkBlob {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let removed = tx.open_table(BLOB_LINKS)?.remove((self.repository.as_str(), self.digest.as_str()))?.is_some();
        Ok(if removed { Applied::Done } else { Applied::Rejected(Rejection::BlobUnknown) })
    }
}
