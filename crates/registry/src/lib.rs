//! The OCI registry rules, knowing nothing of HTTP or of who is asking (the HTTP layer
//! asks `berth-auth` first): blobs visible only through the repositories that link them,
//! the upload protocol, manifest validation and storage, tags and their trust state,
//! repositories and their settings, the signing policy that pulls by tag obey, the
//! referrers index.
//!
//! # Layout
//! - [`error`]: the one error type, naming conditions (the HTTP layer maps them to wire codes).
//! - `blobs.rs`, `uploads.rs`, `manifests.rs`, `listings.rs`, `repositories.rs`, `tags.rs`:
//!   one file per part of the protocol, each adding methods to [`Registry`].
//! - `signing.rs`: "signed pulls only", from the repository's and the namespace's policy,
//!   the trust data's signed tags and [`signatures`] verified against configured keys.
//! - [`signatures`]: cosign and notation signatures (OCI artifacts) and their checks.
//! - `pulls.rs`: when manifests were last pulled (remembered, then written by a job).
//! - [`views`]: what the web UI shows of repositories and tags, read in one snapshot.
//! - `gc.rs`: online garbage collection of blobs no manifest uses.
//! - `quotas.rs`: namespace storage quotas.
//! - `pruning.rs`: pruning policies and tag limits; `promotion.rs`: promotion policies and
//!   their worker; `mirroring.rs`: mirroring policies and what their workers owe (the
//!   remote side is berth-services'); `rules.rs`: the rules they state about tags.
//! - `cache.rs`: pull-through cache namespaces: routes, storing what was fetched, no pushes.
//! - `events.rs`: audit log retention.

mod blobs;
mod cache;
pub mod error;
mod events;
mod gc;
mod listings;
mod manifests;
mod mirroring;
mod promotion;
mod pruning;
mod pulls;
mod quotas;
mod repositories;
mod rules;
pub mod signatures;
mod signing;
mod tags;
mod uploads;
pub mod views;

use berth_meta::Meta;
use berth_storage::{BlobStore, Storage};
use std::sync::Arc;

pub use berth_meta::query::{Inventory, Listing};
pub use berth_meta::{Page, Repository, SignedTarget, SigningPolicy};
pub use berth_storage::{BlobInfo, BlobReader, ByteStream, UploadId, UploadState};
pub use error::Error;
pub use gc::{GcMonitor, GcOptions, GcProgress};
/// How many shards a garbage collection walks the storage in (progress counts them).
pub const GC_SHARDS: u16 = berth_storage::BLOB_SHARDS;
pub use berth_meta::CacheNamespace;
pub use berth_meta::{GcLock, GcRun};
pub use berth_meta::{MirrorDirection, MirrorLogEntry, MirrorPolicy, PendingMirror};
pub use berth_meta::{PromotionOutcome, PromotionPolicy, PruningPolicy, PruningRun, TagRule};
pub use cache::CacheRoute;
pub use manifests::{ManifestPushed, StoredManifest};
pub use mirroring::{MirrorPolicySpec, PushJob, PushWork, check_remote_host};
pub use promotion::PromotionPolicySpec;
pub use pruning::{PrunedTag, PruningPolicySpec};
pub use quotas::QuotaUsage;
pub use repositories::{NewRepository, RepositoryChanges};
pub use tags::TagState;

/// Limits the registry enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest manifest accepted, in bytes.
    pub max_manifest_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_manifest_size: 4 << 20 }
    }
}

/// The registry: storage for bytes, metadata for everything else.
pub struct Registry {
    storage: Arc<Storage>,
    meta: Meta,
    limits: Limits,
    pulls: pulls::Pulls,
}

impl Registry {
    /// Builds the registry over its storage and metadata.
    pub fn new(storage: Arc<Storage>, meta: Meta, limits: Limits) -> Registry {
        Registry { storage, meta, limits, pulls: pulls::Pulls::default() }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the metadata and the blob storage answer; the failing part otherwise.
    pub async fn check(&self) -> Vec<&'static str> {
        let mut failures = Vec::new();
        if let Err(e) = self.meta.check().await {
            tracing::error!(error = %e, "health: metadata");
            failures.push("metadata: the metadata store does not answer");
        }
        if let Err(e) = self.storage.count_uploads().await {
            tracing::error!(error = %e, "health: storage");
            failures.push("storage: the blob storage does not answer");
        }
        failures
    }

    /// Upload sessions open now (0 when the storage cannot say).
    pub async fn uploads_in_progress(&self) -> usize {
        self.storage.count_uploads().await.unwrap_or(0)
    }

    /// What the registry holds, in totals (for monitoring).
    pub async fn inventory(&self) -> Result<Inventory, Error> {
        Ok(self.meta.read(|r| r.inventory()).await?)
    }
}

/// A new id for a stored object (a policy).
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `NamespaceUnknown` for `repository`'s namespace.
pub(crate) fn namespace_unknown(repository: &berth_core::RepositoryName) -> Error {
    Error::NamespaceUnknown(repository.namespace().to_owned())
}

/// Maps a command's refusal that the operation did not expect: a bug, reported as such.
pub(crate) fn unexpected(rejection: berth_meta::Rejection) -> Error {
    Error::Refused(rejection)
}
