//! Every metadata change, as data. Commands are serialized into the replication log, so
//! they are versioned like records: add variants, never change old ones.
//!
//! Each command checks its preconditions inside the transaction and either writes its
//! effects or answers [`Applied::Rejected`] having written nothing.

mod blob_link;
mod manifest;
mod repository;
mod tag;

use redb::WriteTransaction;
use serde::{Deserialize, Serialize};

pub use blob_link::{LinkBlob, UnlinkBlob};
pub use manifest::{DeleteManifest, PutManifest};
pub use tag::DeleteTag;

use berth_core::Digest;

use crate::Error;

/// A metadata change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Lets a repository serve a blob (after an upload, or a cross-repository mount).
    LinkBlob(LinkBlob),
    /// Withdraws a repository's access to a blob.
    UnlinkBlob(UnlinkBlob),
    /// Stores a manifest in a repository, optionally tagging it.
    PutManifest(PutManifest),
    /// Removes a manifest, its tags and its referrer entry from a repository.
    DeleteManifest(DeleteManifest),
    /// Removes one tag.
    DeleteTag(DeleteTag),
}

/// The result of applying a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Applied {
    /// The command's effects were written.
    Done,
    /// A precondition failed; nothing was written.
    Rejected(Rejection),
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Rejection {
    /// A manifest references blobs or manifests the repository does not have.
    MissingReferences(Vec<Digest>),
    /// The repository does not hold this blob.
    BlobUnknown,
    /// The repository does not hold this manifest.
    ManifestUnknown,
    /// The repository has no such tag.
    TagUnknown,
}

impl Command {
    /// Runs the command inside `tx`. The caller commits.
    pub(crate) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        match self {
            Command::LinkBlob(c) => c.apply(tx),
            Command::UnlinkBlob(c) => c.apply(tx),
            Command::PutManifest(c) => c.apply(tx),
            Command::DeleteManifest(c) => c.apply(tx),
            Command::DeleteTag(c) => c.apply(tx),
        }
    }
}
