//! Manifests: stored once by digest, held by repositories, optionally tagged, and
//! indexed as referrers of their subject.

use berth_core::{Descriptor, Digest, RepositoryName, Tag};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::repository::{ensure_repository, new_repository_rejection};
use super::tag::signed_rejection;
use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, Referrer};
use crate::tables::{BLOB_LINKS, MANIFEST_CONTENT, MANIFEST_REPOSITORIES, MANIFESTS, REFERRERS, TAGS, keys_under};

/// Stores a manifest in a repository. Refused with `MissingReferences` unless every blob
/// it names is linked to the repository and every child manifest is in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutManifest {
    /// The repository.
    pub repository: RepositoryName,
    /// The manifest's digest (over `content`).
    pub digest: Digest,
    /// The bytes exactly as pushed.
    #[serde(with = "super::bytes")]
    pub content: Vec<u8>,
    /// The media type it was pushed with.
    pub media_type: String,
    /// Artifact type for the referrers API.
    pub artifact_type: Option<String>,
    /// Top-level annotations, for the referrers API.
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
    /// Blobs it references.
    pub blobs: Vec<Digest>,
    /// Manifests it references.
    pub children: Vec<Digest>,
    /// The manifest it refers to.
    pub subject: Option<Digest>,
    /// The tag to point at it, when pushed by tag.
    pub tag: Option<Tag>,
    /// When (seconds since the epoch).
    pub at: u64,
    /// Who pushed it, when known (added after the first release: absent from the wire
    /// form when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_by: Option<String>,
    /// Stored by a pull-through cache from its upstream: the only way a manifest enters a
    /// cache namespace. Its blobs and children are fetched when pulled, so they need not
    /// be here yet (absent from the wire form when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

impl PutManifest {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let repo = self.repository.as_str();
        if let Some(rejection) = new_repository_rejection(tx, repo)? {
            return Ok(Applied::Rejected(rejection));
        }
        if super::cache::is_cached(tx, repo)? != self.cached {
            return Ok(Applied::Rejected(if self.cached { Rejection::NamespaceUnknown } else { Rejection::NamespaceIsCache }));
        }
        let mut missing = Vec::new();
        if !self.cached {
            let links = tx.open_table(BLOB_LINKS)?;
            for blob in &self.blobs {
                if links.get((repo, blob.as_str()))?.is_none() && !missing.contains(blob) {
                    missing.push(blob.clone());
                }
            }
            let manifests = tx.open_table(MANIFESTS)?;
            for child in &self.children {
                // An index may list the manifest being pushed only if it is already there.
                if manifests.get((repo, child.as_str()))?.is_none() && !missing.contains(child) {
                    missing.push(child.clone());
                }
            }
        }
        if !missing.is_empty() {
            return Ok(Applied::Rejected(Rejection::MissingReferences(missing)));
        }
        if let Some(tag) = &self.tag
            && super::repository::repository(tx, repo)?.is_some_and(|r| r.immutable_tags)
            && tx.open_table(TAGS)?.get((repo, tag.as_str()))?.is_some_and(|d| d.value() != self.digest.as_str())
        {
            return Ok(Applied::Rejected(Rejection::TagImmutable));
        }
        if !self.cached
            && let Some(rejection) = super::quota::check(tx, repo, &self.blobs)?
        {
            return Ok(Applied::Rejected(rejection));
        }
        if let Some(rejection) = ensure_repository(tx, repo, self.at)? {
            return Ok(Applied::Rejected(rejection));
        }
        let digest = self.digest.as_str();
        let size = self.content.len() as u64;
        {
            let mut content = tx.open_table(MANIFEST_CONTENT)?;
            if content.get(digest)?.is_none() {
                content.insert(digest, self.content.as_slice())?;
            }
        }
        let mut manifests = tx.open_table(MANIFESTS)?;
        let last_pulled =
            manifests.get((repo, digest))?.map(|v| records::decode::<records::Manifest>("manifests", v.value())).transpose()?;
        if let Some(old) = &last_pulled {
            // The same digest names the same blobs; a store is robust to a command that
            // says otherwise all the same.
            super::blob_gc::unreference(tx, repo, digest, &old.blobs)?;
        }
        super::blob_gc::reference(tx, repo, digest, &self.blobs)?;
        let record = records::Manifest {
            media_type: self.media_type.clone(),
            size,
            artifact_type: self.artifact_type.clone(),
            blobs: self.blobs,
            children: self.children,
            subject: self.subject.clone(),
            pushed_at: self.at,
            pushed_by: self.pushed_by.clone(),
            last_pulled: last_pulled.and_then(|m| m.last_pulled),
        };
        manifests.insert((repo, digest), records::encode(&record).as_slice())?;
        drop(manifests);
        tx.open_table(MANIFEST_REPOSITORIES)?.insert((digest, repo), ())?;
        if let Some(tag) = &self.tag {
            let before = tx.open_table(TAGS)?.insert((repo, tag.as_str()), digest)?.map(|d| d.value().to_owned());
            if before.as_deref() != Some(digest) {
                super::history::record(tx, repo, tag.as_str(), Some(digest), self.at, self.pushed_by.as_deref())?;
            }
        }
        if let Some(subject) = &self.subject {
            let descriptor = Descriptor {
                media_type: self.media_type,
                digest: self.digest.clone(),
                size,
                artifact_type: self.artifact_type,
                annotations: self.annotations,
                urls: None,
            };
            let entry = records::encode(&Referrer { descriptor });
            tx.open_table(REFERRERS)?.insert((repo, subject.as_str(), digest), entry.as_slice())?;
        }
        Ok(Applied::Done)
    }
}

/// Removes a manifest from a repository, with every tag pointing at it and its entry in
/// the referrers index. Its bytes go when no repository holds it any more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteManifest {
    /// The repository.
    pub repository: RepositoryName,
    /// The manifest.
    pub digest: Digest,
    /// When (added after the first release: absent from the wire form while 0).
    #[serde(default, skip_serializing_if = "super::is_zero")]
    pub at: u64,
    /// Who, when known (likewise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl DeleteManifest {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let repo = self.repository.as_str();
        let digest = self.digest.as_str();
        if tx.open_table(MANIFESTS)?.get((repo, digest))?.is_none() {
            return Ok(Applied::Rejected(Rejection::ManifestUnknown));
        }
        let doomed = tags_pointing_at(tx, repo, digest)?;
        // A signed tag goes only with its signature: neither the tags that would go with
        // the manifest nor the manifest a signature names may be removed.
        if let Some(rejection) = signed_rejection(tx, repo, |tag, signed| doomed.iter().any(|t| t == tag) || signed == digest)? {
            return Ok(Applied::Rejected(rejection));
        }
        let doomed_names: Vec<&str> = doomed.iter().map(String::as_str).collect();
        if let Some(rejection) = super::tag::immutable_rejection(tx, repo, &doomed_names)? {
            return Ok(Applied::Rejected(rejection));
        }
        let Some(removed) = tx.open_table(MANIFESTS)?.remove((repo, digest))?.map(|g| g.value().to_vec()) else {
            return Ok(Applied::Rejected(Rejection::ManifestUnknown));
        };
        let record: records::Manifest = records::decode("manifests", &removed)?;
        super::blob_gc::unreference(tx, repo, digest, &record.blobs)?;
        {
            let mut tags = tx.open_table(TAGS)?;
            for tag in &doomed {
                tags.remove((repo, tag.as_str()))?;
            }
        }
        for tag in &doomed {
            super::history::record(tx, repo, tag, None, self.at, self.by.as_deref())?;
        }
        if let Some(subject) = &record.subject {
            tx.open_table(REFERRERS)?.remove((repo, subject.as_str(), digest))?;
        }
        let mut holders = tx.open_table(MANIFEST_REPOSITORIES)?;
        holders.remove((digest, repo))?;
        if keys_under(&holders, digest)?.is_empty() {
            tx.open_table(MANIFEST_CONTENT)?.remove(digest)?;
        }
        Ok(Applied::Done)
    }
}

/// The tags of `repo` pointing at `digest`.
fn tags_pointing_at(tx: &WriteTransaction, repo: &str, digest: &str) -> Result<Vec<String>, Error> {
    let tags = tx.open_table(TAGS)?;
    let mut found = Vec::new();
    for entry in tags.range((repo, "")..)? {
        let (key, value) = entry?;
        let (key_repo, tag) = key.value();
        if key_repo != repo {
            break;
        }
        if value.value() == digest {
            found.push(tag.to_owned());
        }
    }
    Ok(found)
}
