//! Every metadata change, as data. Commands are serialized into the replication log, so
//! their wire form is their own (never a stored record), versioned ([`Command::encode`]
//! writes `{"v":1,"command":{...}}`), and kept stable by a golden test: add variants,
//! never change old ones; a changed shape is a new variant.
//!
//! Each command checks its preconditions inside the transaction and either writes its
//! effects or answers [`Applied::Rejected`] having written nothing. It depends only on the
//! state and on itself (timestamps and ids travel in it), so every replica applying the
//! same commands reaches the same state, byte for byte (a property test checks it).

mod account;
mod blob_gc;
mod blob_link;
mod bytes;
mod cache;
mod event;
mod grant;
mod history;
mod join_token;
mod manifest;
mod mirroring;
mod promotion;
mod prune;
mod pruning;
mod pull;
mod quota;
mod repository;
mod session;
mod setting;
mod tag;
mod token;
mod trust;
mod webhook;

use redb::WriteTransaction;
use serde::{Deserialize, Serialize};

pub use account::{CreateAccount, CreateTeam, DeleteAccount, DeleteTeam, OWNERS_TEAM, SetTeamMember, SetTeamSync, TeamLink, UpdateAccount};
pub(crate) use blob_gc::build_indexes as build_blob_indexes;
pub use blob_gc::{AcquireGcLock, FinishGc, ForgetRetiredBlobs, RetireBlobs};
pub(crate) use blob_gc::{LAST_FORGET, gc_number};
pub use blob_link::{LinkBlob, LinkUploadedBlob, MountBlob, UnlinkBlob};
pub use cache::SetCacheNamespace;
pub use event::PruneEvents;
pub use grant::{GrantTarget, SetGrant};
pub use join_token::{CreateJoinToken, RedeemJoinToken};
pub use manifest::{DeleteManifest, PutManifest};
pub use mirroring::{
    CreateMirrorPolicy, DeleteMirrorPolicy, MirrorOutcome, PUSH_MIRRORING, PollEnded, RecordMirroring, UpdateMirrorPolicy,
};
pub use promotion::{AdvanceCursor, CreatePromotionPolicy, DeletePromotionPolicy, PromoteManifest, UpdatePromotionPolicy};
pub use prune::PruneManifest;
pub use pruning::{CreatePruningPolicy, DeletePruningPolicy, PruneTags, UpdatePruningPolicy};
pub use pull::{PullRecord, RecordPullEvents, RecordPulls};
pub use repository::{CreateRepository, DeleteRepository, UpdateRepository};
pub use session::{CreateSession, DeleteSession, PurgeSessions};
pub use setting::PutSetting;
pub use tag::DeleteTag;
pub use token::{CreateAccessToken, RevokeAccessToken, TouchAccessTokens};
pub use trust::{DeleteTrust, PutTrustKey, PutTrustMetadata, SignedTag, TrustFile};
pub use webhook::{Attempt, CreateWebhook, DeleteWebhook, PruneDeliveries, RecordDeliveries, Redeliver, UpdateWebhook};

use berth_core::Digest;

use crate::Error;

/// A metadata change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Lets a repository serve a blob (after an upload).
    LinkBlob(LinkBlob),
    /// Lets a repository serve a blob another repository holds (cross-repository mount).
    MountBlob(MountBlob),
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
    /// Records when tokens were last used.
    TouchAccessTokens(TouchAccessTokens),
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
    /// Stores a one-time token for a new replica.
    CreateJoinToken(CreateJoinToken),
    /// Spends a join token.
    RedeemJoinToken(RedeemJoinToken),
    /// Records when manifests were last pulled.
    RecordPulls(RecordPulls),
    /// Begins a web UI session.
    CreateSession(CreateSession),
    /// Ends a web UI session.
    DeleteSession(DeleteSession),
    /// Forgets expired web UI sessions.
    PurgeSessions(PurgeSessions),
    /// Retires unused blobs for garbage collection.
    RetireBlobs(RetireBlobs),
    /// Forgets retired blobs whose bytes are gone.
    ForgetRetiredBlobs(ForgetRetiredBlobs),
    /// Takes or renews the garbage collection lock.
    AcquireGcLock(AcquireGcLock),
    /// Ends a garbage collection run.
    FinishGc(FinishGc),
    /// Deletes an untagged, unused manifest older than a cutoff (garbage collection).
    PruneManifest(PruneManifest),
    /// Lets a repository serve a blob it uploaded, unless garbage collection deleted the
    /// bytes meanwhile (replaces `LinkBlob` for uploads).
    LinkUploadedBlob(LinkUploadedBlob),
    /// Deletes a team with its memberships and grants.
    DeleteTeam(DeleteTeam),
    /// Records pulls with who made them (replaces `RecordPulls`).
    RecordPullEvents(RecordPullEvents),
    /// Removes the oldest audit events.
    PruneEvents(PruneEvents),
    /// Creates a webhook.
    CreateWebhook(CreateWebhook),
    /// Pauses or resumes a webhook.
    UpdateWebhook(UpdateWebhook),
    /// Deletes a webhook and its delivery log.
    DeleteWebhook(DeleteWebhook),
    /// Queues a delivery again.
    Redeliver(Redeliver),
    /// Records attempts to post deliveries.
    RecordDeliveries(RecordDeliveries),
    /// Forgets the oldest finished deliveries of each webhook.
    PruneDeliveries(PruneDeliveries),
    /// Stores a repository's new pruning policy.
    CreatePruningPolicy(CreatePruningPolicy),
    /// Changes a pruning policy.
    UpdatePruningPolicy(UpdatePruningPolicy),
    /// Deletes a pruning policy.
    DeletePruningPolicy(DeletePruningPolicy),
    /// Removes tags a pruning policy or the tag limit chose.
    PruneTags(PruneTags),
    /// Stores a repository's new promotion policy.
    CreatePromotionPolicy(CreatePromotionPolicy),
    /// Changes a promotion policy.
    UpdatePromotionPolicy(UpdatePromotionPolicy),
    /// Deletes a promotion policy.
    DeletePromotionPolicy(DeletePromotionPolicy),
    /// Copies a manifest into another repository under a new tag, for a promotion policy.
    PromoteManifest(PromoteManifest),
    /// Moves a background worker's place in the audit log forward.
    AdvanceCursor(AdvanceCursor),
    /// Stores a repository's new mirroring policy.
    CreateMirrorPolicy(CreateMirrorPolicy),
    /// Changes a mirroring policy.
    UpdateMirrorPolicy(UpdateMirrorPolicy),
    /// Deletes a mirroring policy.
    DeleteMirrorPolicy(DeleteMirrorPolicy),
    /// Records what the mirroring workers did.
    RecordMirroring(RecordMirroring),
    /// Makes a namespace a pull-through cache of an upstream registry, or a plain one again.
    SetCacheNamespace(SetCacheNamespace),
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Every organization keeps its `owners` team.
    OwnersTeamKept,
    /// The repository exists.
    RepositoryExists,
    /// No such repository.
    RepositoryUnknown,
    /// No such access token, or a join token that is unknown, spent, expired or does not
    /// match its secret (one answer for all, so guessing learns nothing).
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
    /// The tag (named) would be deleted, and the repository's tags are immutable.
    TagImmutableDeletion(String),
    /// The blob is being garbage collected: it cannot be linked until its bytes are gone.
    BlobRetired,
    /// Another garbage collection (its holder named) is running.
    GcRunning(String),
    /// The manifest is tagged, listed by an index, or refers or is referred to: not pruned.
    ManifestInUse,
    /// The push would take the namespace past its storage quota.
    QuotaExceeded {
        /// The namespace.
        namespace: String,
        /// Its quota, bytes.
        quota: u64,
        /// Bytes its manifests use now.
        used: u64,
        /// Bytes the push would add.
        needed: u64,
    },
    /// No such webhook.
    WebhookUnknown,
    /// No such delivery of the webhook.
    DeliveryUnknown,
    /// No such policy of the repository.
    PolicyUnknown,
    /// The namespace is a pull-through cache: its content comes from its upstream only.
    NamespaceIsCache,
    /// Another namespace already serves the names of no account (the one transparent mirror).
    MirrorTaken(String),
}

/// For fields added to a command after its first release: left out of the wire form
/// while zero, so that commands without them keep their original shape.
pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The wire form's version.
const FORMAT: u32 = 1;

/// A command as written to the replication log.
#[derive(Serialize, Deserialize)]
struct Envelope<C> {
    v: u32,
    command: C,
}

/// A command that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Written by a newer version of Berth.
    #[error("command format version {0} is newer than this binary reads ({FORMAT})")]
    Version(u32),
    /// Not a command.
    #[error("malformed command: {0}")]
    Malformed(#[from] serde_json::Error),
}

impl Command {
    /// The command's wire form: `{"v":1,"command":{"<Variant>":{...}}}`.
    pub fn encode(&self) -> Vec<u8> {
        // Commands are plain data (strings, numbers, digests): serialization cannot fail.
        serde_json::to_vec(&Envelope { v: FORMAT, command: self }).unwrap_or_default()
    }

    /// Reads a command back from its wire form.
    pub fn decode(bytes: &[u8]) -> Result<Command, DecodeError> {
        Command::from_envelope(serde_json::from_slice(bytes)?)
    }

    /// The wire form as a value to serialize (what the log stores).
    pub(crate) fn envelope(&self) -> impl Serialize + '_ {
        Envelope { v: FORMAT, command: self }
    }

    /// Reads a command back from its wire form, already parsed as JSON.
    pub(crate) fn from_envelope(value: serde_json::Value) -> Result<Command, DecodeError> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let version = Version::deserialize(&value)?;
        if version.v > FORMAT {
            return Err(DecodeError::Version(version.v));
        }
        Ok(serde_json::from_value::<Envelope<Command>>(value)?.command)
    }

    /// Runs the command inside `tx`. The caller commits.
    pub(crate) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        match self {
            Command::LinkBlob(c) => c.apply(tx),
            Command::MountBlob(c) => c.apply(tx),
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
            Command::TouchAccessTokens(c) => c.apply(tx),
            Command::PutSetting(c) => c.apply(tx),
            Command::PutTrustMetadata(c) => c.apply(tx),
            Command::PutTrustKey(c) => c.apply(tx),
            Command::DeleteTrust(c) => c.apply(tx),
            Command::CreateJoinToken(c) => c.apply(tx),
            Command::RedeemJoinToken(c) => c.apply(tx),
            Command::RecordPulls(c) => c.apply(tx),
            Command::CreateSession(c) => c.apply(tx),
            Command::DeleteSession(c) => c.apply(tx),
            Command::PurgeSessions(c) => c.apply(tx),
            Command::RetireBlobs(c) => c.apply(tx),
            Command::ForgetRetiredBlobs(c) => c.apply(tx),
            Command::AcquireGcLock(c) => c.apply(tx),
            Command::FinishGc(c) => c.apply(tx),
            Command::PruneManifest(c) => c.apply(tx),
            Command::LinkUploadedBlob(c) => c.apply(tx),
            Command::DeleteTeam(c) => c.apply(tx),
            Command::RecordPullEvents(c) => c.apply(tx),
            Command::PruneEvents(c) => c.apply(tx),
            Command::CreateWebhook(c) => c.apply(tx),
            Command::UpdateWebhook(c) => c.apply(tx),
            Command::DeleteWebhook(c) => c.apply(tx),
            Command::Redeliver(c) => c.apply(tx),
            Command::RecordDeliveries(c) => c.apply(tx),
            Command::PruneDeliveries(c) => c.apply(tx),
            Command::CreatePruningPolicy(c) => c.apply(tx),
            Command::UpdatePruningPolicy(c) => c.apply(tx),
            Command::DeletePruningPolicy(c) => c.apply(tx),
            Command::PruneTags(c) => c.apply(tx),
            Command::CreatePromotionPolicy(c) => c.apply(tx),
            Command::UpdatePromotionPolicy(c) => c.apply(tx),
            Command::DeletePromotionPolicy(c) => c.apply(tx),
            Command::PromoteManifest(c) => c.apply(tx),
            Command::AdvanceCursor(c) => c.apply(tx),
            Command::CreateMirrorPolicy(c) => c.apply(tx),
            Command::UpdateMirrorPolicy(c) => c.apply(tx),
            Command::DeleteMirrorPolicy(c) => c.apply(tx),
            Command::RecordMirroring(c) => c.apply(tx),
            Command::SetCacheNamespace(c) => c.apply(tx),
        }
    }
}
