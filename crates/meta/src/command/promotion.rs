//! Promotion: repositories' promotion policies, and the copy of a manifest (with the
//! manifests an index lists and every blob they use) into another repository under a new
//! tag, through the metadata alone, in one transaction. Which pushes match is the
//! registry's business; this checks, inside the transaction, that the copy can be made.

use std::collections::HashSet;

use berth_core::{Digest, RepositoryName, Tag};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, PutManifest, Rejection};
use crate::Error;
use crate::records::{self, BlobLink, Manifest, PromotionOutcome, PromotionPolicy};
use crate::tables::{BLOB_LINKS, COUNTERS, MANIFEST_CONTENT, MANIFESTS, PROMOTION_POLICIES, TAGS};

/// Stores a new promotion policy of an existing repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatePromotionPolicy {
    /// The repository promoted from.
    pub repository: RepositoryName,
    /// The policy's id (made by the proposer).
    pub id: String,
    /// The policy.
    pub policy: PromotionPolicy,
}

impl CreatePromotionPolicy {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let repo = self.repository.as_str();
        if super::repository::repository(tx, repo)?.is_none() {
            return Ok(Applied::Rejected(Rejection::RepositoryUnknown));
        }
        // Pushes before it are not its business: it starts after the log's last event.
        let since_event = tx.open_table(COUNTERS)?.get("event")?.map_or(0, |v| v.value());
        let policy = PromotionPolicy { since_event, ..self.policy };
        tx.open_table(PROMOTION_POLICIES)?.insert((repo, self.id.as_str()), records::encode(&policy).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Replaces a promotion policy's rules, target and template; who made it, when, and its
/// last promotion stay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdatePromotionPolicy {
    /// The repository promoted from.
    pub repository: RepositoryName,
    /// The policy.
    pub id: String,
    /// Its new rules, target and template.
    pub policy: PromotionPolicy,
}

impl UpdatePromotionPolicy {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let key = (self.repository.as_str(), self.id.as_str());
        let mut policies = tx.open_table(PROMOTION_POLICIES)?;
        let old = policies.get(key)?.map(|v| records::decode::<PromotionPolicy>("promotion_policies", v.value())).transpose()?;
        let Some(old) = old else { return Ok(Applied::Rejected(Rejection::PolicyUnknown)) };
        let policy = PromotionPolicy {
            created_by: old.created_by,
            created_at: old.created_at,
            since_event: old.since_event,
            last: old.last,
            ..self.policy
        };
        policies.insert(key, records::encode(&policy).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Deletes a promotion policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletePromotionPolicy {
    /// The repository promoted from.
    pub repository: RepositoryName,
    /// The policy.
    pub id: String,
}

impl DeletePromotionPolicy {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        if tx.open_table(PROMOTION_POLICIES)?.remove((self.repository.as_str(), self.id.as_str()))?.is_none() {
            return Ok(Applied::Rejected(Rejection::PolicyUnknown));
        }
        Ok(Applied::Done)
    }
}

/// Copies `digest` of `source` (as its tag `source_tag` chose it) into `target` as `tag`,
/// for `policy`. The copy is whole or nothing: every manifest an index lists, every blob
/// linked, the manifest stored and tagged; when it cannot be made (the target's namespace
/// unknown, its tag immutable, its quota, the manifest gone), nothing is copied and the
/// reason is recorded on the policy. Either way the policy's last promotion says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromoteManifest {
    /// The repository promoted from.
    pub source: RepositoryName,
    /// The tag that matched.
    pub source_tag: Tag,
    /// The manifest it pointed at.
    pub digest: Digest,
    /// The repository promoted to.
    pub target: RepositoryName,
    /// The tag made there.
    pub tag: Tag,
    /// The policy.
    pub policy: String,
    /// When (seconds since the epoch).
    pub at: u64,
    /// Why the promotion may not be made, when the registry's policy refused it (the
    /// policy's maker may no longer push to the target): recorded, nothing copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// What a promotion copies: manifests (children before the indexes listing them) and blobs.
pub(crate) struct Copy {
    /// (digest, record, bytes).
    manifests: Vec<(String, Manifest, Vec<u8>)>,
    /// (digest, size).
    blobs: Vec<(String, u64)>,
    /// The target tag points there already: nothing to do.
    pub(crate) unchanged: bool,
    /// The top manifest's media type.
    pub(crate) media_type: String,
}

impl PromoteManifest {
    /// The copy to make, or why it cannot be made.
    pub(crate) fn plan(&self, tx: &WriteTransaction) -> Result<Result<Copy, String>, Error> {
        if let Some(why) = &self.refused {
            return Ok(Err(why.clone()));
        }
        let (source, target) = (self.source.as_str(), self.target.as_str());
        if source == target {
            return Ok(Err("a repository is not promoted to itself".into()));
        }
        if let Some(rejection) = super::repository::new_repository_rejection(tx, target)? {
            let why = match rejection {
                Rejection::NamespaceUnknown => format!("namespace {} belongs to no user or organization", self.target.namespace()),
                other => format!("{other:?}"),
            };
            return Ok(Err(why));
        }
        if super::cache::is_cached(tx, target)? {
            return Ok(Err(format!("{target} is in a pull-through cache namespace, which is read-only")));
        }
        let current = tx.open_table(TAGS)?.get((target, self.tag.as_str()))?.map(|d| d.value().to_owned());
        if current.as_deref() == Some(self.digest.as_str()) {
            return Ok(Ok(Copy { manifests: Vec::new(), blobs: Vec::new(), unchanged: true, media_type: String::new() }));
        }
        if current.is_some() && super::repository::repository(tx, target)?.is_some_and(|r| r.immutable_tags) {
            return Ok(Err(format!("tag {} of {target} exists and its tags are immutable", self.tag)));
        }
        // Walk the index's children first, so each is stored before what lists it.
        let (manifests_table, content, links) = (tx.open_table(MANIFESTS)?, tx.open_table(MANIFEST_CONTENT)?, tx.open_table(BLOB_LINKS)?);
        let mut manifests = Vec::new();
        let mut blobs: Vec<(String, u64)> = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![(self.digest.to_string(), false)];
        while let Some((digest, expanded)) = stack.pop() {
            let Some(record) =
                manifests_table.get((source, digest.as_str()))?.map(|v| records::decode::<Manifest>("manifests", v.value())).transpose()?
            else {
                return Ok(Err(format!("manifest {digest} is no longer in {source}")));
            };
            if !expanded {
                if !seen.insert(digest.clone()) {
                    continue;
                }
                stack.push((digest.clone(), true));
                stack.extend(record.children.iter().map(|c| (c.to_string(), false)));
                continue;
            }
            for blob in &record.blobs {
                if blobs.iter().any(|(b, _)| b == blob.as_str()) {
                    continue;
                }
                let Some(link) =
                    links.get((source, blob.as_str()))?.map(|v| records::decode::<BlobLink>("blob_links", v.value())).transpose()?
                else {
                    return Ok(Err(format!("blob {blob} is no longer in {source}")));
                };
                blobs.push((blob.to_string(), link.size));
            }
            let Some(bytes) = content.get(digest.as_str())?.map(|v| v.value().to_vec()) else {
                return Ok(Err(format!("manifest {digest} has no content")));
            };
            manifests.push((digest, record, bytes));
        }
        let blob_digests: Vec<Digest> = blobs.iter().filter_map(|(b, _)| b.parse().ok()).collect();
        drop((manifests_table, content, links));
        if let Some(Rejection::QuotaExceeded { namespace, quota, .. }) = super::quota::check(tx, target, &blob_digests)? {
            return Ok(Err(format!("the copy would take namespace {namespace} past its quota of {quota} bytes")));
        }
        let media_type = manifests.last().map(|(_, m, _)| m.media_type.clone()).unwrap_or_default();
        Ok(Ok(Copy { manifests, blobs, unchanged: false, media_type }))
    }

    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let key = (self.source.as_str(), self.policy.as_str());
        let stored =
            tx.open_table(PROMOTION_POLICIES)?.get(key)?.map(|v| records::decode::<PromotionPolicy>("promotion_policies", v.value()));
        let Some(mut policy) = stored.transpose()? else { return Ok(Applied::Rejected(Rejection::PolicyUnknown)) };
        let error = match self.plan(tx)? {
            Err(why) => Some(why),
            Ok(copy) if copy.unchanged => None,
            Ok(copy) => self.copy(tx, copy)?,
        };
        policy.last = Some(PromotionOutcome {
            at: self.at,
            source_tag: self.source_tag.to_string(),
            digest: self.digest.to_string(),
            target_tag: self.tag.to_string(),
            error,
        });
        tx.open_table(PROMOTION_POLICIES)?.insert(key, records::encode(&policy).as_slice())?;
        Ok(Applied::Done)
    }

    /// Makes the planned copy; why not, should a store rule refuse it after all.
    fn copy(&self, tx: &WriteTransaction, copy: Copy) -> Result<Option<String>, Error> {
        let target = self.target.as_str();
        if let Some(rejection) = super::repository::ensure_repository(tx, target, self.at)? {
            return Ok(Some(format!("{rejection:?}")));
        }
        {
            let mut links = tx.open_table(BLOB_LINKS)?;
            for (blob, size) in &copy.blobs {
                if links.get((target, blob.as_str()))?.is_none() {
                    links.insert((target, blob.as_str()), records::encode(&BlobLink { size: *size, linked_at: self.at }).as_slice())?;
                    super::blob_gc::index_link(tx, target, blob)?;
                }
            }
        }
        let by = format!("promotion policy {}", self.policy);
        let last = copy.manifests.len().saturating_sub(1);
        for (i, (digest, record, content)) in copy.manifests.into_iter().enumerate() {
            let Ok(digest) = digest.parse::<Digest>() else { return Ok(Some(format!("stored digest {digest} does not parse"))) };
            let put = PutManifest {
                repository: self.target.clone(),
                digest,
                content,
                media_type: record.media_type,
                artifact_type: record.artifact_type,
                annotations: None,
                blobs: record.blobs,
                children: record.children,
                subject: record.subject,
                tag: (i == last).then(|| self.tag.clone()),
                at: self.at,
                pushed_by: Some(by.clone()),
                cached: false,
            };
            if let Applied::Rejected(rejection) = put.apply(tx)? {
                // The plan checked what PutManifest checks: a refusal here is a bug, and the
                // caller's transaction is not committed half-made (see `StateMachine`).
                return Err(Error::Task(format!("promotion refused after its plan: {rejection:?}")));
            }
        }
        Ok(None)
    }
}

/// Moves a worker's cursor (the last event it handled) forward; never back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvanceCursor {
    /// The worker.
    pub worker: String,
    /// The last event it handled.
    pub event: u64,
}

impl AdvanceCursor {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        advance_cursor(tx, &self.worker, self.event)?;
        Ok(Applied::Done)
    }
}

/// Moves `worker`'s place to `event`, never back.
pub(super) fn advance_cursor(tx: &WriteTransaction, worker: &str, event: u64) -> Result<(), Error> {
    let key = format!("cursor:{worker}");
    let mut counters = tx.open_table(COUNTERS)?;
    if counters.get(key.as_str())?.is_none_or(|v| v.value() < event) {
        counters.insert(key.as_str(), event)?;
    }
    Ok(())
}
