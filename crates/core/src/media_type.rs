//! The manifest media types the registry accepts, and what kind of manifest each is.

/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-platform).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The OCI empty descriptor's media type, used as `config` of artifacts.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Whether a manifest lists blobs (an image or artifact) or other manifests (an index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// Config and layers: Docker schema 2 or OCI image manifest.
    Image,
    /// Child manifests: Docker manifest list or OCI index.
    Index,
}

/// The kind of a manifest media type, `None` when the registry does not accept it.
pub fn manifest_kind(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        DOCKER_MANIFEST | OCI_MANIFEST => Some(ManifestKind::Image),
        DOCKER_MANIFEST_LIST | OCI_INDEX => Some(ManifestKind::Index),
        _ => None,
    }
}

/// All accepted manifest media types, in the order a registry prefers to serve them.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];
