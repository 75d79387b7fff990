//! Content trust: the Notary v1 (TUF) service the Docker and notary CLIs talk to, kept in
//! Berth's metadata store. Knows nothing of HTTP: the top crate parses requests and maps
//! [`Error`] to Notary's wire codes.
//!
//! # Layout
//! - [`canonical`]: canonical JSON, the bytes every signature covers.
//! - [`tuf`]: the role files (root, targets and delegations, snapshot, timestamp).
//! - [`keys`]: key ids, signature verification (ecdsa, ecdsa-x509, ed25519, rsa), and the
//!   server-held signing keys.
//! - [`validate`]: the pure check of an update against the stored state (Notary's rules).
//! - [`service`]: reads, updates, server-signed snapshot and timestamp, keys, deletion.

pub mod canonical;
pub mod keys;
pub mod service;
pub mod tuf;
pub mod validate;

pub use service::{Trust, TrustOptions, TrustedTarget};
pub use validate::Invalid;

/// Why a trust request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such metadata (or key route) for this GUN.
    #[error("You have requested metadata that does not exist.")]
    MetadataNotFound,
    /// A file name in an update is not a role name.
    #[error("invalid role: {0}")]
    InvalidRole(String),
    /// A file in an update is not TUF metadata.
    #[error("malformed JSON in {0}")]
    MalformedJson(String),
    /// The update breaks a validation rule; nothing was stored.
    #[error("{0}")]
    InvalidUpdate(Invalid),
    /// A file's version is not newer than the stored one of its role; nothing was stored.
    #[error("A newer version of metadata is already available for {0}.")]
    OldVersion(String),
    /// Signing with a server-held key failed, or a stored key is unusable.
    #[error("trust signing: {0}")]
    Crypto(String),
    /// The GUN does not start with one of the registry's own names.
    #[error(
        "{gun} does not name this registry; trust data is accepted for GUNs starting with {hosts} (set external_url to the name clients use)"
    )]
    ForeignGun {
        /// The GUN.
        gun: String,
        /// The accepted hosts.
        hosts: String,
    },
    /// The GUN names no repository of the registry (push the image first).
    #[error("the repository does not exist; push it before publishing its trust data")]
    RepositoryUnknown,
    /// The repository's trust data is held under another GUN.
    #[error("the repository's trust data is held under {0}; one repository has one trust collection")]
    CollectionExists(String),
    /// The cluster cannot take the change now (no quorum); nothing was lost.
    #[error("{0}")]
    Unavailable(String),
    /// The metadata store failed.
    #[error(transparent)]
    Meta(berth_meta::Error),
}

impl From<berth_meta::Error> for Error {
    fn from(e: berth_meta::Error) -> Self {
        e.unavailable().map_or_else(Error::Meta, Error::Unavailable)
    }
}
