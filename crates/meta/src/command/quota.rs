//! Namespace storage quotas, checked by `PutManifest` inside its transaction: the bytes
//! of distinct blobs a namespace's manifests use (kept in `namespace_usage` as
//! references come and go) may not pass the namespace's quota.

use berth_core::Digest;
use redb::{ReadableTable, WriteTransaction};

use super::Rejection;
use crate::Error;
use crate::tables::{NAMESPACE_USAGE, SETTINGS};

/// `QuotaExceeded` if `blobs`, used by a manifest of `repo`, would take its namespace
/// past its quota. A push that adds no new bytes to the namespace always passes.
pub(super) fn check(tx: &WriteTransaction, repo: &str, blobs: &[Digest]) -> Result<Option<Rejection>, Error> {
    let namespace = repo.split('/').next().unwrap_or(repo);
    let quota = tx
        .open_table(SETTINGS)?
        .get(format!("quota/{namespace}").as_str())?
        .and_then(|v| serde_json::from_slice::<Option<u64>>(v.value()).ok())
        .flatten();
    let Some(quota) = quota else { return Ok(None) };
    let added = super::blob_gc::added_usage(tx, repo, blobs)?;
    let used = tx.open_table(NAMESPACE_USAGE)?.get(namespace)?.map_or(0, |v| v.value());
    if added > 0 && used + added > quota {
        return Ok(Some(Rejection::QuotaExceeded { namespace: namespace.to_owned(), quota, used, needed: added }));
    }
    Ok(None)
}
