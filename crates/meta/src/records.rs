//! Stored values. Each is serialized with a `version` tag: a new shape is a new variant,
//! decoded into the current type; old variants are never changed.

use berth_core::{Descriptor, Digest};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::Error;

/// A repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct Repository {
    /// When it was created (seconds since the epoch).
    pub created_at: u64,
}

/// A repository's link to a blob: the repository may serve it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct BlobLink {
    /// The blob's size.
    pub size: u64,
    /// When the link was made.
    pub linked_at: u64,
}

/// A manifest in a repository (its bytes are in `manifest_content`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct Manifest {
    /// Media type it was pushed with.
    pub media_type: String,
    /// Size of its bytes.
    pub size: u64,
    /// Artifact type reported by the referrers API.
    pub artifact_type: Option<String>,
    /// Blobs it references.
    pub blobs: Vec<Digest>,
    /// Manifests it references (index children).
    pub children: Vec<Digest>,
    /// The manifest it refers to, if any.
    pub subject: Option<Digest>,
    /// When it was pushed.
    pub pushed_at: u64,
}

/// An entry of the referrers index: the descriptor the referrers API returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct Referrer {
    /// The referrer's descriptor.
    pub descriptor: Descriptor,
}

/// Encodes a record for storage.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Records are plain structs of strings and numbers: serialization cannot fail.
    serde_json::to_vec(record).unwrap_or_default()
}

/// Decodes a stored record, naming the table on failure.
pub fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt { table, detail: e.to_string() })
}
