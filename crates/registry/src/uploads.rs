//! The upload protocol: start, append chunks in order, report status, complete with a
//! digest (verify, publish, link), cancel; and the purge of abandoned sessions.

use std::time::Duration;

use berth_core::{ByteRange, Digest, RepositoryName};
use berth_meta::now;
use berth_storage::{BlobInfo, BlobStore, ByteStream, UploadId, UploadState};

use crate::{Error, Registry};

impl Registry {
    /// Starts an upload session in `repository`. Refused at once when the repository could
    /// never be created (its namespace is no account's), before any byte is sent.
    pub async fn start_upload(&self, repository: &RepositoryName) -> Result<UploadState, Error> {
        self.refuse_cache_push(repository).await?;
        let repo = repository.to_string();
        if !self.meta.read_settled(move |r| r.repository_may_exist(&repo), |exists| *exists).await? {
            return Err(crate::namespace_unknown(repository));
        }
        Ok(self.storage.create_upload(repository.as_str(), now()).await?)
    }

    /// The session's state, if it exists in `repository`.
    pub async fn upload_status(&self, repository: &RepositoryName, id: &UploadId) -> Result<UploadState, Error> {
        match self.storage.upload_state(id).await? {
            Some(state) if state.repository == repository.as_str() => Ok(state),
            _ => Err(Error::UploadUnknown),
        }
    }

    /// Appends a chunk. With a `Content-Range`, it must start at the upload's current
    /// offset (`ChunkOutOfOrder` otherwise) and its length must equal the declared
    /// `Content-Length`; without one, the body is appended at the current offset.
    pub async fn append_upload(
        &self,
        repository: &RepositoryName,
        id: &UploadId,
        chunk: Option<ByteRange>,
        declared_length: Option<u64>,
        body: ByteStream,
    ) -> Result<UploadState, Error> {
        let state = self.upload_status(repository, id).await?;
        let offset = match chunk {
            Some(range) => {
                if range.first != state.offset {
                    return Err(Error::ChunkOutOfOrder { current: state.offset, requested: range.first });
                }
                if declared_length.is_some_and(|len| len != range.len()) {
                    return Err(Error::UploadInvalid("Content-Range does not match Content-Length".into()));
                }
                range.first
            }
            None => state.offset,
        };
        Ok(self.storage.append(id, offset, body, now()).await?)
    }

    /// Completes an upload: appends the final `body` if any, checks the content against
    /// `digest`, publishes the blob durably and links it to `repository`.
    pub async fn complete_upload(
        &self,
        repository: &RepositoryName,
        id: &UploadId,
        digest: &Digest,
        body: Option<ByteStream>,
    ) -> Result<BlobInfo, Error> {
        let state = self.upload_status(repository, id).await?;
        if let Some(body) = body {
            self.storage.append(id, state.offset, body, now()).await?;
        }
        // Old bytes of this content being deleted by garbage collection go first, so the
        // upload publishes its own.
        let checked_after = self.wait_while_retired(digest).await?;
        let info = self.storage.commit(id, digest).await?;
        self.link_blob(repository, digest, info.size, checked_after).await?;
        Ok(info)
    }

    /// Cancels an upload session of `repository`.
    pub async fn cancel_upload(&self, repository: &RepositoryName, id: &UploadId) -> Result<(), Error> {
        self.upload_status(repository, id).await?;
        Ok(self.storage.cancel(id).await?)
    }

    /// Removes sessions idle for longer than `idle`; returns how many.
    pub async fn purge_uploads(&self, idle: Duration) -> Result<usize, Error> {
        Ok(self.storage.purge_uploads(idle, now()).await?)
    }
}
