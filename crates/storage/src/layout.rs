//! Where bytes live in a filesystem backend. This is the only place that builds paths.
//!
//! ```text
//! <root>/blobs/<algorithm>/<first two hex>/<hex>   a committed blob; present means complete
//! <root>/uploads/<upload id>/data                  bytes received so far (may run past `offset` after a crash)
//! <root>/uploads/<upload id>/state.json            the upload's state (see `upload.rs`), replaced atomically
//! ```
//!
//! Blobs appear only by `rename` of a fully written, fsynced file, followed by an fsync
//! of the directory, so a crash never leaves a partial blob under `blobs/`.

use std::path::{Path, PathBuf};

use berth_core::Digest;

use crate::upload::UploadId;

/// The directory of committed blobs.
pub fn blobs_dir(root: &Path) -> PathBuf {
    root.join("blobs")
}

/// The file of a committed blob.
pub fn blob_path(root: &Path, digest: &Digest) -> PathBuf {
    let hex = digest.hex();
    blobs_dir(root).join(digest.algorithm().as_str()).join(&hex[..2]).join(hex)
}

/// The directory holding every upload session.
pub fn uploads_dir(root: &Path) -> PathBuf {
    root.join("uploads")
}

/// The directory of one upload session.
pub fn upload_dir(root: &Path, id: &UploadId) -> PathBuf {
    uploads_dir(root).join(id.as_str())
}

/// The bytes received by an upload session.
pub fn upload_data(root: &Path, id: &UploadId) -> PathBuf {
    upload_dir(root, id).join("data")
}

/// The state record of an upload session.
pub fn upload_state(root: &Path, id: &UploadId) -> PathBuf {
    upload_dir(root, id).join("state.json")
}
