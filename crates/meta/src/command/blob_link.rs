//! Blob links: which repository may serve which blob.

use berth_core::{Digest, RepositoryName};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::repository::ensure_repository;
use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, BlobLink};
use crate::tables::BLOB_LINKS;

/// Links `digest` (of `size` bytes, already in storage) to `repository`. Idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkBlob {
    /// The repository gaining the blob.
    pub repository: RepositoryName,
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// When (seconds since the epoch).
    pub at: u64,
}

impl LinkBlob {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        link(tx, &self.repository, &self.digest, self.size, self.at)
    }
}

fn link(tx: &WriteTransaction, repository: &RepositoryName, digest: &Digest, size: u64, at: u64) -> Result<Applied, Error> {
    if super::blob_gc::is_retired(tx, digest.as_str())? {
        return Ok(Applied::Rejected(Rejection::BlobRetired));
    }
    if let Some(rejection) = ensure_repository(tx, repository.as_str(), at)? {
        return Ok(Applied::Rejected(rejection));
    }
    let record = records::encode(&BlobLink { size, linked_at: at });
    tx.open_table(BLOB_LINKS)?.insert((repository.as_str(), digest.as_str()), record.as_slice())?;
    super::blob_gc::index_link(tx, repository.as_str(), digest.as_str())?;
    Ok(Applied::Done)
}

/// Links into `repository` a blob it just uploaded, whose bytes were found stored after
/// reading forget number `checked_after` (see [`blob_gc`](super::blob_gc)): refused with
/// `BlobRetired` when the blob is retired, or was forgotten since (its bytes may be gone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkUploadedBlob {
    /// The repository gaining the blob.
    pub repository: RepositoryName,
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// When (seconds since the epoch).
    pub at: u64,
    /// The latest forget when the upload began to look at the stored bytes.
    pub checked_after: u64,
}

impl LinkUploadedBlob {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        if super::blob_gc::forgotten_since(tx, self.digest.as_str(), self.checked_after)? {
            return Ok(Applied::Rejected(Rejection::BlobRetired));
        }
        link(tx, &self.repository, &self.digest, self.size, self.at)
    }
}

/// Cross-repository mount: links into `repository` a blob that `from` holds, with the
/// size `from` records. Refused with `BlobUnknown` when `from` does not hold it (checked
/// here, in the transaction, so a concurrent unlink cannot slip between check and link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountBlob {
    /// The repository gaining the blob.
    pub repository: RepositoryName,
    /// The repository lending it.
    pub from: RepositoryName,
    /// The blob.
    pub digest: Digest,
    /// When.
    pub at: u64,
}

impl MountBlob {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let source = tx.open_table(BLOB_LINKS)?.get((self.from.as_str(), self.digest.as_str()))?.map(|v| v.value().to_vec());
        let Some(source) = source else { return Ok(Applied::Rejected(Rejection::BlobUnknown)) };
        let source: BlobLink = records::decode("blob_links", &source)?;
        link(tx, &self.repository, &self.digest, source.size, self.at)
    }
}

/// Removes a repository's link to a blob. The bytes stay until garbage collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnlinkBlob {
    /// The repository losing the blob.
    pub repository: RepositoryName,
    /// The blob.
    pub digest: Digest,
}

impl UnlinkBlob {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let removed = tx.open_table(BLOB_LINKS)?.remove((self.repository.as_str(), self.digest.as_str()))?.is_some();
        if !removed {
            return Ok(Applied::Rejected(Rejection::BlobUnknown));
        }
        super::blob_gc::unindex_link(tx, self.repository.as_str(), self.digest.as_str())?;
        Ok(Applied::Done)
    }
}
