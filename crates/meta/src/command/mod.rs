//! Every metadata change, as data. Commands are serialized into the replication log, so
//! they are versioned like records: add variants, never change old ones.
//!
//! Each command checks its preconditions inside the transaction and either writes its
//! effects or answers [`Applied::Rejected`] having written nothing.

mod account;
mod blob_link;
mod grant;
mod manifest;
mod repository;
mod setting;
mod tag;
mod token;
mod trust;

use redb::WriteTransaction;
use serde::{Deserialize, Serialize};

pub use account::{CreateAccount, CreateTeam, DeleteAccount, OWNERS_TEAM, SetTeamMember, SetTeamSync, UpdateAccount};
pub use blob_link::{LinkBlob, UnlinkBlob};
pub use grant::{GrantTarget, SetGrant};
pub use manifest::{DeleteManifest, PutManifest};
pub use repository::{CreateRepository, DeleteRepository, UpdateRepository};
pub use setting::PutSetting;
pub use tag::DeleteTag;
pub use token::{CreateAccessToken, RevokeAccessToken, TouchAccessToken};
pub use trust::{DeleteTrust, PutTrustKey, PutTrustMetadata, SignedTag, TrustFile};

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
    /// Creates a user or an organization.
    CreateAccount(CreateAccount),
    /// Changes an account.
    UpdateAccount(UpdateAccount),
    /// Deletes an account.
    DeleteAccount(DeleteAccount),
    /// Creates a team.
    CreateTeam(CreateTeam),
    /// Adds or removes a team member.
    SetTeamMember(SetTeamMember),
    /// Links a team to the LDAP directory, or unlinks it.
    SetTeamSync(SetTeamSync),
    /// Sets a team's access to a repository or namespace.
    SetGrant(SetGrant),
    /// Creates a repository explicitly.
    CreateRepository(CreateRepository),
    /// Changes a repository's settings.
    UpdateRepository(UpdateRepository),
    /// Stores an access token.
    CreateAccessToken(CreateAccessToken),
    /// Revokes an access token.
    RevokeAccessToken(RevokeAccessToken),
    /// Records a token's use.
    TouchAccessToken(TouchAccessToken),
    /// Sets a registry-wide setting.
    PutSetting(PutSetting),
    /// Deletes a repository and everything in it.
    DeleteRepository(DeleteRepository),
    /// Stores an accepted trust (TUF) update of a GUN.
    PutTrustMetadata(PutTrustMetadata),
    /// Stores a server-held trust key.
    PutTrustKey(PutTrustKey),
    /// Deletes all trust data of a GUN.
    DeleteTrust(DeleteTrust),
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
    /// The tag exists, points elsewhere, and the repository's tags are immutable.
    TagImmutable,
    /// The account name is taken.
    AccountExists,
    /// No such account (or not a user where a user is needed).
    AccountUnknown,
    /// The account is not an organization.
    NotAnOrganization,
    /// The team exists.
    TeamExists,
    /// No such team.
    TeamUnknown,
    /// The repository exists.
    RepositoryExists,
    /// No such repository.
    RepositoryUnknown,
    /// No such access token.
    TokenUnknown,
    /// A trust metadata file's version is not newer than the stored one of its role, or
    /// the trust data changed since the update was validated.
    TrustVersionStale(String),
    /// The repository's namespace is no user's or organization's.
    NamespaceUnknown,
    /// The namespace holds repositories: an account cannot be made over them (without
    /// adopting them) nor deleted from under them.
    NamespaceInUse,
    /// The change would leave the registry without an active system administrator.
    LastAdministrator,
    /// The tag is signed in the repository's trust data; its signature must go first.
    TagSigned(String),
    /// The repository's trust data is held under another GUN (named).
    TrustCollectionExists(String),
    /// An access token's expiry is not in the future.
    ExpiryInThePast,
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
            Command::CreateAccount(c) => c.apply(tx),
            Command::UpdateAccount(c) => c.apply(tx),
            Command::DeleteAccount(c) => c.apply(tx),
            Command::CreateTeam(c) => c.apply(tx),
            Command::SetTeamMember(c) => c.apply(tx),
            Command::SetTeamSync(c) => c.apply(tx),
            Command::SetGrant(c) => c.apply(tx),
            Command::CreateRepository(c) => c.apply(tx),
            Command::UpdateRepository(c) => c.apply(tx),
            Command::CreateAccessToken(c) => c.apply(tx),
            Command::DeleteRepository(c) => c.apply(tx),
            Command::RevokeAccessToken(c) => c.apply(tx),
            Command::TouchAccessToken(c) => c.apply(tx),
            Command::PutSetting(c) => c.apply(tx),
            Command::PutTrustMetadata(c) => c.apply(tx),
            Command::PutTrustKey(c) => c.apply(tx),
            Command::DeleteTrust(c) => c.apply(tx),
        }
    }
}
