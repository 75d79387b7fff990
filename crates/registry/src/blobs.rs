//! Blobs as seen through a repository: a blob is visible only where it is linked, so a
//! private blob cannot be read through another repository by guessing its digest.

use berth_core::{ByteRange, Digest, RepositoryName};
use berth_meta::command::{LinkUploadedBlob, MountBlob, UnlinkBlob};
use berth_meta::{Applied, Command, Rejection, now};
use berth_storage::{BlobInfo, BlobReader, BlobStore};

use crate::{Error, Registry, namespace_unknown, unexpected};

impl Registry {
    /// The blob's size, if `repository` links it.
    pub async fn stat_blob(&self, repository: &RepositoryName, digest: &Digest) -> Result<BlobInfo, Error> {
        let (repo, key) = (repository.to_string(), digest.to_string());
        let link = self.meta.read_settled(move |r| r.blob_link(&repo, &key), Option::is_some).await?;
        link.map(|l| BlobInfo { size: l.size }).ok_or_else(|| Error::BlobUnknown(digest.clone()))
    }

    /// Streams the blob (or a range of it), if `repository` links it.
    pub async fn open_blob(&self, repository: &RepositoryName, digest: &Digest, range: Option<ByteRange>) -> Result<BlobReader, Error> {
        self.stat_blob(repository, digest).await?;
        self.storage.open(digest, range).await?.ok_or_else(|| Error::BlobUnknown(digest.clone()))
    }

    /// Removes the repository's link to the blob; the bytes stay for other repositories
    /// until garbage collection.
    pub async fn delete_blob(&self, repository: &RepositoryName, digest: &Digest) -> Result<(), Error> {
        let command = Command::UnlinkBlob(UnlinkBlob { repository: repository.clone(), digest: digest.clone() });
        match self.meta.apply(command).await? {
            Applied::Done => Ok(()),
            Applied::Rejected(Rejection::BlobUnknown) => Err(Error::BlobUnknown(digest.clone())),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Cross-repository mount: links a blob that `from` holds into `repository` without
    /// moving bytes (the caller has checked that whoever asks may read `from`). `Ok(None)`
    /// when `from` does not hold it (the client then uploads).
    pub async fn mount_blob(&self, repository: &RepositoryName, digest: &Digest, from: &RepositoryName) -> Result<Option<BlobInfo>, Error> {
        self.refuse_cache_push(repository).await?;
        if self.storage.stat(digest).await?.is_none() {
            return Ok(None);
        }
        let command =
            Command::MountBlob(MountBlob { repository: repository.clone(), from: from.clone(), digest: digest.clone(), at: now() });
        match self.meta.apply(command).await? {
            Applied::Done => self.stat_blob(repository, digest).await.map(Some),
            // Unknown there, or being deleted by garbage collection: the client uploads.
            Applied::Rejected(Rejection::BlobUnknown | Rejection::BlobRetired) => Ok(None),
            Applied::Rejected(Rejection::NamespaceUnknown) => Err(namespace_unknown(repository)),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Links an uploaded blob, refused when garbage collection deleted the stored bytes
    /// after the upload read forget number `checked_after` (see `wait_while_retired`).
    pub(crate) async fn link_blob(&self, repository: &RepositoryName, digest: &Digest, size: u64, checked_after: u64) -> Result<(), Error> {
        let link = LinkUploadedBlob { repository: repository.clone(), digest: digest.clone(), size, at: now(), checked_after };
        let command = Command::LinkUploadedBlob(link);
        match self.meta.apply(command).await? {
            Applied::Done => Ok(()),
            Applied::Rejected(Rejection::NamespaceUnknown) => Err(namespace_unknown(repository)),
            Applied::Rejected(Rejection::BlobRetired) => Err(Error::BlobBeingCollected(digest.clone())),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }
}
