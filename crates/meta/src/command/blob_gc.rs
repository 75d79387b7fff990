//! Garbage collection of blobs, safe while pushes go on.
//!
//! Two indexes, kept by the commands that change links and manifests, let a command
//! decide inside its transaction whether a blob is still needed: `blob_references`
//! (which manifests use a blob) and `blob_repositories` (which repositories link it).
//! [`RetireBlobs`] retires a blob only if no manifest uses it and no link to it is newer
//! than the grace period; it removes the blob's links and marks it retired. From then on
//! no link to it can be made ([`LinkBlob`](super::LinkBlob) and
//! [`MountBlob`](super::MountBlob) answer `BlobRetired`), so a manifest can never come to
//! use it; the collector deletes the bytes, then [`ForgetRetiredBlobs`] lets the digest
//! be pushed again, with its bytes.
//!
//! An upload whose content is already stored keeps the stored bytes rather than its own.
//! If those bytes were retired, deleted and forgotten between that check and the link,
//! the link would name bytes that are gone; so each forget is numbered and remembered
//! per digest, and [`LinkUploadedBlob`](super::LinkUploadedBlob) refuses a blob
//! forgotten after the number its upload read before looking at the bytes.

use berth_core::Digest;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, BlobLink, GcLock, GcRun};
use crate::tables::{
    BLOB_LINKS, BLOB_REFERENCES, BLOB_REPOSITORIES, FORGETS_KEPT, FORGOTTEN_BLOBS, FORGOTTEN_BY_NUMBER, GC, MANIFESTS, NAMESPACE_USAGE,
    RETIRED_BLOBS, keys_under,
};

/// Keys in [`GC`]: the number of the latest forget, and the first one still remembered.
pub(crate) const LAST_FORGET: &str = "last_forget";
pub(crate) const FIRST_FORGET_KEPT: &str = "first_forget_kept";

/// A number kept in [`GC`] (0 when absent).
pub(crate) fn gc_number(gc: &impl ReadableTable<&'static str, &'static [u8]>, key: &str) -> Result<u64, Error> {
    Ok(gc.get(key)?.map(|v| records::decode::<u64>("gc", v.value())).transpose()?.unwrap_or(0))
}

/// Whether `digest`'s bytes may have been deleted (and the digest forgotten) after
/// forget number `checked_after`: then an upload that read that number before finding
/// the bytes present may not link them.
pub(super) fn forgotten_since(tx: &WriteTransaction, digest: &str, checked_after: u64) -> Result<bool, Error> {
    if checked_after + 1 < gc_number(&tx.open_table(GC)?, FIRST_FORGET_KEPT)? {
        // The forgets after it are no longer all remembered.
        return Ok(true);
    }
    Ok(tx.open_table(FORGOTTEN_BLOBS)?.get(digest)?.is_some_and(|n| n.value() > checked_after))
}

/// Records that `repo` links `digest` (the reverse index of `blob_links`).
pub(super) fn index_link(tx: &WriteTransaction, repo: &str, digest: &str) -> Result<(), Error> {
    tx.open_table(BLOB_REPOSITORIES)?.insert((digest, repo), ())?;
    Ok(())
}

/// Forgets that `repo` links `digest`.
pub(super) fn unindex_link(tx: &WriteTransaction, repo: &str, digest: &str) -> Result<(), Error> {
    tx.open_table(BLOB_REPOSITORIES)?.remove((digest, repo))?;
    Ok(())
}

/// The namespace of a repository name.
fn namespace(repo: &str) -> &str {
    repo.split('/').next().unwrap_or(repo)
}

/// Whether a manifest of `namespace` uses `blob` (its repositories are one key range:
/// `ns/` up to `ns0`, `0` following `/`).
fn used_in_namespace(
    references: &impl ReadableTable<(&'static str, &'static str, &'static str), u64>,
    blob: &str,
    namespace: &str,
) -> Result<bool, Error> {
    let (from, to) = (format!("{namespace}/"), format!("{namespace}0"));
    Ok(references.range((blob, from.as_str(), "")..(blob, to.as_str(), "")).map(|mut r| r.next().is_some())?)
}

/// Bytes that `blobs` would add to the usage of `repo`'s namespace (those no manifest
/// of the namespace uses yet, each counted once); sizes from `repo`'s links.
pub(super) fn added_usage(tx: &WriteTransaction, repo: &str, blobs: &[Digest]) -> Result<u64, Error> {
    let references = tx.open_table(BLOB_REFERENCES)?;
    let links = tx.open_table(BLOB_LINKS)?;
    let mut seen = Vec::new();
    let mut added = 0;
    for blob in blobs {
        if seen.contains(&blob.as_str()) || used_in_namespace(&references, blob.as_str(), namespace(repo))? {
            continue;
        }
        seen.push(blob.as_str());
        added += links
            .get((repo, blob.as_str()))?
            .map(|v| records::decode::<BlobLink>("blob_links", v.value()))
            .transpose()?
            .map_or(0, |l| l.size);
    }
    Ok(added)
}

/// Records that `manifest` of `repo` uses `blobs` (sizes from `repo`'s links), counting
/// the ones new to the namespace in its usage.
pub(super) fn reference(tx: &WriteTransaction, repo: &str, manifest: &str, blobs: &[Digest]) -> Result<(), Error> {
    let mut references = tx.open_table(BLOB_REFERENCES)?;
    let links = tx.open_table(BLOB_LINKS)?;
    let mut usage = tx.open_table(NAMESPACE_USAGE)?;
    let ns = namespace(repo);
    for blob in blobs {
        let size = links
            .get((repo, blob.as_str()))?
            .map(|v| records::decode::<BlobLink>("blob_links", v.value()))
            .transpose()?
            .map_or(0, |l| l.size);
        let new_to_namespace = !used_in_namespace(&references, blob.as_str(), ns)?;
        references.insert((blob.as_str(), repo, manifest), size)?;
        if new_to_namespace {
            let used = usage.get(ns)?.map_or(0, |v| v.value());
            usage.insert(ns, used + size)?;
        }
    }
    Ok(())
}

/// Forgets that `manifest` of `repo` uses `blobs`, taking the ones no longer used in the
/// namespace out of its usage.
pub(super) fn unreference(tx: &WriteTransaction, repo: &str, manifest: &str, blobs: &[Digest]) -> Result<(), Error> {
    let mut references = tx.open_table(BLOB_REFERENCES)?;
    let mut usage = tx.open_table(NAMESPACE_USAGE)?;
    let ns = namespace(repo);
    for blob in blobs {
        let Some(size) = references.remove((blob.as_str(), repo, manifest))?.map(|v| v.value()) else { continue };
        if !used_in_namespace(&references, blob.as_str(), ns)? {
            let used = usage.get(ns)?.map_or(0, |v| v.value());
            usage.insert(ns, used.saturating_sub(size))?;
        }
    }
    Ok(())
}

/// Whether `digest` is retired: no link to it may be made.
pub(super) fn is_retired(tx: &WriteTransaction, digest: &str) -> Result<bool, Error> {
    Ok(tx.open_table(RETIRED_BLOBS)?.get(digest)?.is_some())
}

/// Builds both indexes and the namespaces' usage afresh from `blob_links` and
/// `manifests` (a store written before they existed).
pub(crate) fn build_indexes(tx: &WriteTransaction) -> Result<(), Error> {
    tx.open_table(BLOB_REFERENCES)?.retain(|_, _| false)?;
    tx.open_table(NAMESPACE_USAGE)?.retain(|_, _| false)?;
    let mut repositories = tx.open_table(BLOB_REPOSITORIES)?;
    repositories.retain(|_, _| false)?;
    for entry in tx.open_table(BLOB_LINKS)?.iter()? {
        let (key, _) = entry?;
        let (repo, digest) = key.value();
        repositories.insert((digest, repo), ())?;
    }
    drop(repositories);
    let manifests: Vec<(String, String, Vec<Digest>)> = {
        let table = tx.open_table(MANIFESTS)?;
        let mut all = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let (repo, manifest) = key.value();
            let record: records::Manifest = records::decode("manifests", value.value())?;
            all.push((repo.to_owned(), manifest.to_owned(), record.blobs));
        }
        all
    };
    for (repo, manifest, blobs) in manifests {
        reference(tx, &repo, &manifest, &blobs)?;
    }
    Ok(())
}

/// Retires each of `digests` that no manifest uses and no repository linked at or after
/// `linked_before`: removes its links and marks it retired. The others are left alone
/// (they are in use again, or were never unused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetireBlobs {
    /// The candidates.
    pub digests: Vec<Digest>,
    /// Links this recent keep a blob (the grace period's start).
    pub linked_before: u64,
    /// When.
    pub at: u64,
}

impl RetireBlobs {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let references = tx.open_table(BLOB_REFERENCES)?;
        let mut repositories = tx.open_table(BLOB_REPOSITORIES)?;
        let mut links = tx.open_table(BLOB_LINKS)?;
        let mut retired = tx.open_table(RETIRED_BLOBS)?;
        'candidates: for digest in &self.digests {
            let digest = digest.as_str();
            if references.range((digest, "", "")..)?.next().transpose()?.is_some_and(|(k, _)| k.value().0 == digest) {
                continue;
            }
            let linked = keys_under(&repositories, digest)?;
            for repo in &linked {
                let link = links.get((repo.as_str(), digest))?.map(|v| records::decode::<BlobLink>("blob_links", v.value())).transpose()?;
                if link.is_some_and(|l| l.linked_at >= self.linked_before) {
                    continue 'candidates;
                }
            }
            for repo in &linked {
                links.remove((repo.as_str(), digest))?;
                repositories.remove((digest, repo.as_str()))?;
            }
            retired.insert(digest, self.at)?;
        }
        Ok(Applied::Done)
    }
}

/// Forgets retired blobs whose bytes are gone: they may be pushed again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForgetRetiredBlobs {
    /// The blobs.
    pub digests: Vec<Digest>,
}

impl ForgetRetiredBlobs {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut gc = tx.open_table(GC)?;
        let number = gc_number(&gc, LAST_FORGET)? + 1;
        gc.insert(LAST_FORGET, records::encode(&number).as_slice())?;
        let mut retired = tx.open_table(RETIRED_BLOBS)?;
        let mut forgotten = tx.open_table(FORGOTTEN_BLOBS)?;
        let mut by_number = tx.open_table(FORGOTTEN_BY_NUMBER)?;
        for digest in &self.digests {
            retired.remove(digest.as_str())?;
            if let Some(earlier) = forgotten.insert(digest.as_str(), number)?.map(|n| n.value()) {
                by_number.remove((earlier, digest.as_str()))?;
            }
            by_number.insert((number, digest.as_str()), ())?;
        }
        // Only the latest forgets are remembered; an upload older than them all is refused.
        if number > FORGETS_KEPT {
            let first_kept = number - FORGETS_KEPT + 1;
            let mut dropped = Vec::new();
            for entry in by_number.range((0, "")..(first_kept, ""))? {
                let (key, _) = entry?;
                let (n, digest) = key.value();
                dropped.push((n, digest.to_owned()));
            }
            for (n, digest) in dropped {
                by_number.remove((n, digest.as_str()))?;
                forgotten.remove(digest.as_str())?;
            }
            gc.insert(FIRST_FORGET_KEPT, records::encode(&first_kept).as_slice())?;
        }
        Ok(Applied::Done)
    }
}

/// Takes (or renews) the garbage collection lock for `holder` (`<replica>/<run>`) until
/// `until`. Refused with `GcRunning` while another replica's lock has not lapsed; a
/// replica takes over its own (a run it held died with its process).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcquireGcLock {
    /// The replica and run.
    pub holder: String,
    /// Now.
    pub at: u64,
    /// When the lock lapses unless renewed.
    pub until: u64,
}

impl AcquireGcLock {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut gc = tx.open_table(GC)?;
        let current = gc.get("lock")?.map(|v| records::decode::<GcLock>("gc", v.value())).transpose()?;
        let replica = |holder: &str| holder.split('/').next().unwrap_or_default().to_owned();
        if let Some(lock) = current
            && replica(&lock.holder) != replica(&self.holder)
            && lock.until > self.at
        {
            return Ok(Applied::Rejected(Rejection::GcRunning(lock.holder)));
        }
        gc.insert("lock", records::encode(&GcLock { holder: self.holder, until: self.until }).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Ends a run: releases the lock if `run.holder` holds it, and keeps the run as the last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishGc {
    /// The run, as it ended.
    pub run: GcRun,
}

impl FinishGc {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut gc = tx.open_table(GC)?;
        let current = gc.get("lock")?.map(|v| records::decode::<GcLock>("gc", v.value())).transpose()?;
        if current.is_some_and(|lock| lock.holder == self.run.holder) {
            gc.remove("lock")?;
        }
        gc.insert("last", records::encode(&self.run).as_slice())?;
        Ok(Applied::Done)
    }
}
