//! Registry errors: each variant names a condition of the protocol. The HTTP layer maps
//! them, exhaustively, to the distribution-spec's codes.

use berth_core::Digest;

/// What went wrong with a registry operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository does not exist.
    #[error("repository name not known to registry")]
    NameUnknown,
    /// The repository's namespace belongs to no user or organization, so the repository
    /// cannot be created.
    #[error("namespace {0} belongs to no user or organization; an administrator creates the account first")]
    NamespaceUnknown(String),
    /// The tag is signed in the repository's trust data.
    #[error("tag {0} is signed in the repository's trust data; remove its signature first (docker trust revoke)")]
    TagSigned(String),
    /// The tag would be deleted and the repository's tags are immutable.
    #[error("tag {0} cannot be deleted: the repository's tags are immutable (turn immutable tags off first)")]
    TagImmutableDeletion(String),
    /// A pull by tag refused by the repository's or namespace's "signed pulls only"
    /// policy; the message says why.
    #[error("{0}")]
    Unsigned(String),
    /// The repository has no policy by that id.
    #[error("no such policy in this repository")]
    PolicyUnknown,
    /// The repository exists already.
    #[error("the repository exists")]
    RepositoryExists,
    /// A setting's value is malformed (a name, a key), with why.
    #[error("{0}")]
    Invalid(String),
    /// The repository does not hold this blob.
    #[error("blob unknown to registry")]
    BlobUnknown(Digest),
    /// No such upload session in this repository.
    #[error("blob upload unknown to registry")]
    UploadUnknown,
    /// The upload request is inconsistent (a chunk's length, a missing digest, …).
    #[error("blob upload invalid: {0}")]
    UploadInvalid(String),
    /// A chunk does not start where the upload stands.
    #[error("chunk starts at {requested}, but the upload holds {current} bytes")]
    ChunkOutOfOrder {
        /// Bytes the upload holds.
        current: u64,
        /// Where the chunk started.
        requested: u64,
    },
    /// The content does not match the digest given.
    #[error("provided digest did not match uploaded content")]
    DigestMismatch {
        /// The digest the client gave.
        expected: Digest,
        /// The digest of the content.
        actual: Digest,
    },
    /// A digest parameter is malformed or of an unsupported algorithm.
    #[error("invalid digest: {0}")]
    DigestInvalid(String),
    /// A body exceeds a limit.
    #[error("{0}")]
    TooLarge(String),
    /// The manifest does not exist in the repository (by digest or tag).
    #[error("manifest unknown")]
    ManifestUnknown,
    /// The manifest is malformed.
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// The manifest references blobs or manifests the repository does not hold.
    #[error("manifest references unknown blobs or manifests")]
    ManifestBlobUnknown(Vec<Digest>),
    /// The tag exists and the repository's tags are immutable.
    #[error("tag {0} already exists and the repository's tags are immutable")]
    TagImmutable(String),
    /// The range asked for lies outside the blob.
    #[error("requested range not satisfiable")]
    RangeNotSatisfiable {
        /// The blob's size.
        size: u64,
    },
    /// The client's body ended early.
    #[error("request body interrupted: {0}")]
    BodyInterrupted(String),
    /// A metadata rule refused the change in a way this operation does not expect (a
    /// bug); the detail is for the log.
    #[error("the change was refused unexpectedly: {0:?}")]
    Refused(berth_meta::Rejection),
    /// The blob storage is full; nothing was published.
    #[error("the registry's storage is full")]
    StorageFull,
    /// Storage failed; the detail is for the log, not the client.
    #[error("storage failure: {0}")]
    Storage(berth_storage::Error),
    /// The push would take the namespace past its storage quota; the message says by how
    /// much.
    #[error("{0}")]
    QuotaExceeded(String),
    /// Another garbage collection (its holder named) is running.
    #[error("a garbage collection is already running ({0})")]
    GcRunning(String),
    /// The blob's old bytes are being deleted by garbage collection; push it again.
    #[error("blob {0} is being deleted by garbage collection; push it again")]
    BlobBeingCollected(Digest),
    /// The cluster cannot take the change now (no quorum), or a cache's upstream cannot
    /// be reached for what is not cached; nothing was lost.
    #[error("{0}")]
    Unavailable(String),
    /// A push to a pull-through cache namespace: its content comes from its upstream.
    #[error("namespace {0} is a pull-through cache: it is read-only (push to the upstream registry instead)")]
    CacheReadOnly(String),
    /// Metadata failed; the detail is for the log, not the client.
    #[error("metadata failure: {0}")]
    Meta(berth_meta::Error),
}

impl From<berth_meta::Error> for Error {
    fn from(e: berth_meta::Error) -> Self {
        e.unavailable().map_or_else(Error::Meta, Error::Unavailable)
    }
}

impl From<berth_storage::Error> for Error {
    fn from(e: berth_storage::Error) -> Self {
        use berth_storage::Error as S;
        match e {
            S::UploadUnknown(_) => Error::UploadUnknown,
            S::OffsetMismatch { current, requested } => Error::ChunkOutOfOrder { current, requested },
            S::DigestMismatch { expected, actual } => Error::DigestMismatch { expected, actual },
            S::TooLarge { limit } => Error::TooLarge(format!("upload exceeds the limit of {limit} bytes")),
            S::BodyInterrupted(detail) => Error::BodyInterrupted(detail),
            S::RangeNotSatisfiable { size, .. } => Error::RangeNotSatisfiable { size },
            S::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
                tracing::error!(error = %io, "storage full");
                Error::StorageFull
            }
            e @ (S::Corrupt(_) | S::Io(_)) => Error::Storage(e),
        }
    }
}
