//! The OCI registry rules, knowing nothing of HTTP: blobs visible only through the
//! repositories that link them, the upload protocol, manifest validation and storage,
//! tags, the catalog and the referrers index.
//!
//! # Layout
//! - [`error`]: the one error type, naming conditions (the HTTP layer maps them to wire codes).
//! - `blobs.rs`, `uploads.rs`, `manifests.rs`, `listings.rs`: one file per part of the protocol,
//!   each adding methods to [`Registry`].

mod blobs;
pub mod error;
mod listings;
mod manifests;
mod uploads;

use std::time::{SystemTime, UNIX_EPOCH};

use berth_meta::Meta;
use berth_storage::Storage;

pub use berth_meta::Page;
pub use berth_meta::query::Listing;
pub use error::Error;
pub use manifests::{ManifestPushed, StoredManifest};

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
    storage: Storage,
    meta: Meta,
    limits: Limits,
}

impl Registry {
    /// Builds the registry over its storage and metadata.
    pub fn new(storage: Storage, meta: Meta, limits: Limits) -> Registry {
        Registry { storage, meta, limits }
    }

    /// The metadata handle (for health checks).
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The storage (for health checks and upload metrics).
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// Seconds since the epoch: the timestamp commands carry.
pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `NamespaceUnknown` for `repository`'s namespace.
pub(crate) fn namespace_unknown(repository: &str) -> Error {
    Error::NamespaceUnknown(repository.split('/').next().unwrap_or(repository).to_owned())
}
