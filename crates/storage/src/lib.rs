//! Blob bytes by digest, and the byte state of uploads in progress.
//!
//! This crate knows nothing of repositories: which repository may read a blob is
//! metadata (`berth-meta`), never a storage path. It is the only crate that touches blob
//! files.
//!
//! # Layout
//! - [`layout`]: the one description of where things live on disk.
//! - [`upload`]: the upload state record kept beside the upload's data.
//! - [`fs`]: the local filesystem backend (default; also shared filesystems for clusters).
//! - [`s3`]: S3-compatible object storage (AWS S3, Ceph RGW, MinIO, Garage).
//! - [`hashing`]: the running hash of an upload, computed while it is written.
//!
//! [`Storage`] is what the rest of Berth holds; it delegates to a backend implementing
//! [`BlobStore`]. Every backend runs the same behaviour suite (`tests/suite.rs`).

pub mod fs;
pub mod hashing;
pub mod layout;
mod locks;
pub mod s3;
#[cfg(feature = "test-server")]
pub mod testing;
pub mod upload;

use std::pin::Pin;
use std::time::Duration;

use berth_core::{ByteRange, Digest};
use bytes::Bytes;
use futures_util::Stream;

pub use fs::FsStore;
pub use s3::{S3Options, S3Store};
pub use upload::{UploadId, UploadState};

/// A stream of body bytes coming in from a client.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Storage failures and refusals.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No upload session with this id (never created, finished, cancelled or purged).
    #[error("upload {0} is unknown")]
    UploadUnknown(String),
    /// A chunk did not start where the upload stands.
    #[error("chunk starts at {requested}, but the upload has {current} bytes")]
    OffsetMismatch {
        /// Bytes received so far.
        current: u64,
        /// Where the rejected chunk started.
        requested: u64,
    },
    /// The bytes received do not hash to the digest the client named.
    #[error("content digest is {actual}, not {expected}")]
    DigestMismatch {
        /// What the client said.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// An upload would grow past the configured limit.
    #[error("upload exceeds the size limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The client's body stream failed before its end.
    #[error("request body interrupted: {0}")]
    BodyInterrupted(String),
    /// The requested range lies outside the blob.
    #[error("range {first}-{last} is outside a blob of {size} bytes")]
    RangeNotSatisfiable {
        /// First byte asked for.
        first: u64,
        /// Last byte asked for.
        last: u64,
        /// The blob's size.
        size: u64,
    },
    /// Stored state that cannot be read back.
    #[error("corrupt storage state: {0}")]
    Corrupt(String),
    /// The backend failed (disk full, permissions, …).
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// What storage knows of a committed blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobInfo {
    /// Size in bytes.
    pub size: u64,
}

/// A blob found in storage by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Its digest.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written (seconds since the epoch).
    pub modified: u64,
}

/// How many shards blobs are stored in: one per first byte of the digest's hex.
pub const BLOB_SHARDS: u16 = 256;

/// Every committed blob, as a listing goes: in ascending digest order within each
/// algorithm (so a consumer can tell its progress from the digest's shard).
pub type BlobListing<'a> = Pin<Box<dyn Stream<Item = Result<StoredBlob, Error>> + Send + 'a>>;

impl StoredBlob {
    /// The shard the blob is stored in (`0..BLOB_SHARDS`).
    pub fn shard(&self) -> u16 {
        u16::from_str_radix(&self.digest.hex()[..2], 16).unwrap_or(0)
    }
}

/// A blob being read: its total size, the range served, and the bytes.
pub struct BlobReader {
    /// Total size of the blob.
    pub size: u64,
    /// The range of bytes the stream yields (the whole blob when no range was asked).
    pub range: Option<ByteRange>,
    /// The bytes.
    pub stream: Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
}

/// The contract every blob backend keeps. Methods are idempotent where stated; none
/// holds a whole blob in memory.
#[allow(async_fn_in_trait)]
pub trait BlobStore: Send + Sync {
    /// The blob's size, `Ok(None)` when absent. Never reads the content.
    async fn stat(&self, digest: &Digest) -> Result<Option<BlobInfo>, Error>;
    /// Streams the blob, or a range of it. `Ok(None)` when absent;
    /// `RangeNotSatisfiable` when the range starts past the end.
    async fn open(&self, digest: &Digest, range: Option<ByteRange>) -> Result<Option<BlobReader>, Error>;
    /// Removes a blob. Idempotent: deleting an absent blob succeeds.
    async fn delete(&self, digest: &Digest) -> Result<(), Error>;
    /// Removes many blobs (garbage collection), in one pass where the backend can.
    /// Idempotent like [`BlobStore::delete`].
    async fn delete_blobs(&self, digests: &[Digest]) -> Result<(), Error>;
    /// Starts an upload session owned by `repository`, at `now` (seconds since the epoch).
    async fn create_upload(&self, repository: &str, now: u64) -> Result<UploadState, Error>;
    /// The upload's state, `Ok(None)` when unknown.
    async fn upload_state(&self, id: &UploadId) -> Result<Option<UploadState>, Error>;
    /// Appends `body` at `offset`, which must equal the bytes received so far
    /// (`OffsetMismatch` otherwise), hashing while writing. Data and state are on disk
    /// when it returns, so the upload can be continued after a restart. On an interrupted
    /// body, what arrived is kept and the error returned.
    async fn append(&self, id: &UploadId, offset: u64, body: ByteStream, now: u64) -> Result<UploadState, Error>;
    /// Verifies that the upload hashes to `expected`, then publishes it atomically as
    /// that blob (fsync data, rename, fsync directory) and ends the session. Idempotent
    /// for content: if the blob already exists, the upload is simply discarded.
    async fn commit(&self, id: &UploadId, expected: &Digest) -> Result<BlobInfo, Error>;
    /// Ends a session and removes its bytes. Idempotent.
    async fn cancel(&self, id: &UploadId) -> Result<(), Error>;
    /// Removes sessions untouched for `idle` at `now`; returns how many were removed.
    async fn purge_uploads(&self, idle: Duration, now: u64) -> Result<usize, Error>;
    /// How many upload sessions exist.
    async fn count_uploads(&self) -> Result<usize, Error>;
    /// Every committed blob, every algorithm, as one stream (an object store pages
    /// through one listing). Files that are not blobs are skipped.
    fn list_blobs(&self) -> BlobListing<'_>;
}

/// Which backend, and where.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// A directory (local, or shared by every replica).
    Fs {
        /// Its root.
        root: std::path::PathBuf,
    },
    /// An S3 bucket.
    S3 {
        /// How to reach it.
        options: S3Options,
        /// The local directory upload tails spill to.
        spill: std::path::PathBuf,
    },
}

impl StorageConfig {
    /// Where the blobs are, for messages: a directory, or `s3://bucket/prefix`.
    pub fn describe(&self) -> String {
        match self {
            StorageConfig::Fs { root } => root.display().to_string(),
            StorageConfig::S3 { options, .. } => format!("s3://{}/{}", options.bucket, options.prefix),
        }
    }
}

/// The configured blob backend.
pub enum Storage {
    /// Local (or shared) filesystem.
    Fs(FsStore),
    /// An S3 bucket.
    S3(S3Store),
}

impl Storage {
    /// Opens the configured backend; uploads may grow to `max_upload_size` bytes.
    pub fn open(config: &StorageConfig, max_upload_size: u64) -> Result<Storage, Error> {
        Ok(match config {
            StorageConfig::Fs { root } => Storage::Fs(FsStore::open(root.clone(), max_upload_size)?),
            StorageConfig::S3 { options, spill } => Storage::S3(S3Store::open(options, spill.clone(), max_upload_size)?),
        })
    }

    /// Stores the local file `file`, already verified to hash to `digest`, as that blob,
    /// and removes the file (restoring a backup). A blob already present is kept.
    pub async fn adopt(&self, digest: &Digest, file: &std::path::Path) -> Result<(), Error> {
        match self {
            Storage::Fs(store) => store.adopt(digest, file),
            Storage::S3(store) => {
                if store.stat(digest).await?.is_none() {
                    let upload = store.create_upload("restore", 0).await?;
                    let reader = tokio::fs::File::open(file).await?;
                    let body: ByteStream = Box::pin(tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20));
                    store.append(&upload.id, 0, body, 0).await?;
                    store.commit(&upload.id, digest).await?;
                }
                Ok(tokio::fs::remove_file(file).await?)
            }
        }
    }
}

macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Storage::Fs($store) => $call.await,
            Storage::S3($store) => $call.await,
        }
    };
}

impl BlobStore for Storage {
    async fn stat(&self, digest: &Digest) -> Result<Option<BlobInfo>, Error> {
        delegate!(self, s => s.stat(digest))
    }
    async fn open(&self, digest: &Digest, range: Option<ByteRange>) -> Result<Option<BlobReader>, Error> {
        delegate!(self, s => s.open(digest, range))
    }
    async fn delete(&self, digest: &Digest) -> Result<(), Error> {
        delegate!(self, s => s.delete(digest))
    }
    async fn create_upload(&self, repository: &str, now: u64) -> Result<UploadState, Error> {
        delegate!(self, s => s.create_upload(repository, now))
    }
    async fn upload_state(&self, id: &UploadId) -> Result<Option<UploadState>, Error> {
        delegate!(self, s => s.upload_state(id))
    }
    async fn append(&self, id: &UploadId, offset: u64, body: ByteStream, now: u64) -> Result<UploadState, Error> {
        delegate!(self, s => s.append(id, offset, body, now))
    }
    async fn commit(&self, id: &UploadId, expected: &Digest) -> Result<BlobInfo, Error> {
        delegate!(self, s => s.commit(id, expected))
    }
    async fn cancel(&self, id: &UploadId) -> Result<(), Error> {
        delegate!(self, s => s.cancel(id))
    }
    async fn purge_uploads(&self, idle: Duration, now: u64) -> Result<usize, Error> {
        delegate!(self, s => s.purge_uploads(idle, now))
    }
    async fn delete_blobs(&self, digests: &[Digest]) -> Result<(), Error> {
        delegate!(self, s => s.delete_blobs(digests))
    }
    fn list_blobs(&self) -> BlobListing<'_> {
        match self {
            Storage::Fs(s) => s.list_blobs(),
            Storage::S3(s) => s.list_blobs(),
        }
    }
    async fn count_uploads(&self) -> Result<usize, Error> {
        delegate!(self, s => s.count_uploads())
    }
}
