//! Pruning untagged manifests (garbage collection's option): a manifest goes only if,
//! inside the transaction, it is still untagged, older than the cutoff, no index of its
//! repository lists it, no artifact refers to it, and it refers to nothing itself (a
//! signature or other artifact stays while its subject does).

use berth_core::{Digest, RepositoryName};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, DeleteManifest, Rejection};
use crate::Error;
use crate::records::{self, Manifest};
use crate::tables::{MANIFESTS, REFERRERS, TAGS};

/// Deletes an untagged manifest pushed before `pushed_before`; `ManifestInUse` (writing
/// nothing) when it is tagged, listed by an index, referred to, or refers to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneManifest {
    /// The repository.
    pub repository: RepositoryName,
    /// The manifest.
    pub digest: Digest,
    /// Manifests pushed at or after this stay.
    pub pushed_before: u64,
    /// When.
    pub at: u64,
}

impl PruneManifest {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let (repo, digest) = (self.repository.as_str(), self.digest.as_str());
        let record = {
            let manifests = tx.open_table(MANIFESTS)?;
            let Some(value) = manifests.get((repo, digest))? else { return Ok(Applied::Rejected(Rejection::ManifestUnknown)) };
            records::decode::<Manifest>("manifests", value.value())?
        };
        if record.pushed_at >= self.pushed_before || record.subject.is_some() || in_use(tx, repo, digest)? {
            return Ok(Applied::Rejected(Rejection::ManifestInUse));
        }
        DeleteManifest { repository: self.repository, digest: self.digest, at: self.at, by: Some("garbage collection".into()) }.apply(tx)
    }
}

/// Whether a tag, an index or an artifact of `repo` names `digest`.
fn in_use(tx: &WriteTransaction, repo: &str, digest: &str) -> Result<bool, Error> {
    for entry in tx.open_table(TAGS)?.range((repo, "")..)? {
        let (key, value) = entry?;
        if key.value().0 != repo {
            break;
        }
        if value.value() == digest {
            return Ok(true);
        }
    }
    if tx.open_table(REFERRERS)?.range((repo, digest, "")..)?.next().transpose()?.is_some_and(|(k, _)| {
        let (r, subject, _) = k.value();
        r == repo && subject == digest
    }) {
        return Ok(true);
    }
    for entry in tx.open_table(MANIFESTS)?.range((repo, "")..)? {
        let (key, value) = entry?;
        if key.value().0 != repo {
            break;
        }
        let other: Manifest = records::decode("manifests", value.value())?;
        if other.children.iter().any(|c| c.as_str() == digest) {
            return Ok(true);
        }
    }
    Ok(false)
}
