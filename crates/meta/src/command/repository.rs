//! Repositories: created explicitly (API) or with their first blob or manifest (push).

use berth_core::RepositoryName;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, Repository};
use crate::tables::{
    ACCOUNTS, BLOB_LINKS, MANIFEST_CONTENT, MANIFEST_REPOSITORIES, MANIFESTS, MIRROR_POLICIES, PROMOTION_POLICIES, PRUNING_POLICIES,
    REFERRERS, REPOSITORIES, REPOSITORY_GRANTS, SIGNED_TAGS, TAGS, keys_under, pairs_under,
};

/// The namespace (first component) of a repository name.
pub(super) fn namespace_of(repository: &str) -> &str {
    repository.split('/').next().unwrap_or(repository)
}

/// Whether any repository lives in `namespace`.
pub(super) fn namespace_in_use(tx: &WriteTransaction, namespace: &str) -> Result<bool, Error> {
    let table = tx.open_table(REPOSITORIES)?;
    // Names in the namespace sort right after `<namespace>/` ('/' is the smallest byte a name may hold there).
    let prefix = format!("{namespace}/");
    let mut after = table.range::<&str>(prefix.as_str()..)?;
    Ok(match after.next() {
        Some(entry) => entry?.0.value().starts_with(&prefix),
        None => false,
    })
}

/// `None` when `repository` may exist: its namespace is a user's or an organization's.
fn namespace_rejection(tx: &WriteTransaction, repository: &str) -> Result<Option<Rejection>, Error> {
    let known = tx.open_table(ACCOUNTS)?.get(namespace_of(repository))?.is_some();
    Ok((!known).then_some(Rejection::NamespaceUnknown))
}

/// `None` when `name` exists or may be created (its namespace is an account's).
pub(super) fn new_repository_rejection(tx: &WriteTransaction, name: &str) -> Result<Option<Rejection>, Error> {
    if tx.open_table(REPOSITORIES)?.get(name)?.is_some() {
        return Ok(None);
    }
    namespace_rejection(tx, name)
}

/// Creates `name` at `at` unless it exists (a push creates repositories private). Refused
/// when the namespace belongs to no account.
pub(super) fn ensure_repository(tx: &WriteTransaction, name: &str, at: u64) -> Result<Option<Rejection>, Error> {
    let mut table = tx.open_table(REPOSITORIES)?;
    if table.get(name)?.is_none() {
        if let Some(rejection) = namespace_rejection(tx, name)? {
            return Ok(Some(rejection));
        }
        let record = Repository {
            created_at: at,
            public: false,
            immutable_tags: false,
            short_description: String::new(),
            long_description: String::new(),
            signed_pulls_only: false,
            signature_keys: Vec::new(),
            tag_limit: 0,
        };
        table.insert(name, records::encode(&record).as_slice())?;
    }
    Ok(None)
}

/// The stored repository, if any.
pub(super) fn repository(tx: &WriteTransaction, name: &str) -> Result<Option<Repository>, Error> {
    let table = tx.open_table(REPOSITORIES)?;
    let value = table.get(name)?;
    value.map(|v| records::decode("repositories", v.value())).transpose()
}

/// Creates a repository with its settings. Refused if it exists, or if its namespace
/// belongs to no account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateRepository {
    /// Its name.
    pub name: RepositoryName,
    /// Whether anyone may pull.
    pub public: bool,
    /// Whether tags may never move.
    pub immutable_tags: bool,
    /// One-line description.
    pub short_description: String,
    /// Long description.
    pub long_description: String,
    /// Pulls by tag must be signed.
    pub signed_pulls_only: bool,
    /// When.
    pub at: u64,
}

impl CreateRepository {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let name = self.name.as_str();
        if repository(tx, name)?.is_some() {
            return Ok(Applied::Rejected(Rejection::RepositoryExists));
        }
        if let Some(rejection) = namespace_rejection(tx, name)? {
            return Ok(Applied::Rejected(rejection));
        }
        let record = Repository {
            created_at: self.at,
            public: self.public,
            immutable_tags: self.immutable_tags,
            short_description: self.short_description,
            long_description: self.long_description,
            signed_pulls_only: self.signed_pulls_only,
            signature_keys: Vec::new(),
            tag_limit: 0,
        };
        tx.open_table(REPOSITORIES)?.insert(name, records::encode(&record).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Changes a repository's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateRepository {
    /// Its name.
    pub name: RepositoryName,
    /// Public or private.
    pub public: Option<bool>,
    /// Immutable tags.
    pub immutable_tags: Option<bool>,
    /// One-line description.
    pub short_description: Option<String>,
    /// Long description.
    pub long_description: Option<String>,
    /// Pulls by tag must be signed.
    pub signed_pulls_only: Option<bool>,
    /// Public keys (PEM) of accepted cosign and notation signatures.
    pub signature_keys: Option<Vec<String>>,
    /// The most tags kept, 0 for no limit (added after the first release: absent from the
    /// wire form when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_limit: Option<u64>,
}

impl UpdateRepository {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let Some(mut record) = repository(tx, self.name.as_str())? else {
            return Ok(Applied::Rejected(Rejection::RepositoryUnknown));
        };
        record.public = self.public.unwrap_or(record.public);
        record.immutable_tags = self.immutable_tags.unwrap_or(record.immutable_tags);
        record.short_description = self.short_description.unwrap_or(record.short_description);
        record.long_description = self.long_description.unwrap_or(record.long_description);
        record.signed_pulls_only = self.signed_pulls_only.unwrap_or(record.signed_pulls_only);
        record.signature_keys = self.signature_keys.unwrap_or(record.signature_keys);
        record.tag_limit = self.tag_limit.unwrap_or(record.tag_limit);
        tx.open_table(REPOSITORIES)?.insert(self.name.as_str(), records::encode(&record).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Deletes a repository with its tags, manifests, blob links, referrers, grants and
/// trust data. Manifest bytes go with their last holder; blob bytes stay until garbage
/// collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteRepository {
    /// Its name.
    pub name: RepositoryName,
}

/// Removes every `(repo, …)` key of a two-part-key table; returns the second parts.
fn drain2<V: redb::Value + 'static>(
    tx: &WriteTransaction,
    table: redb::TableDefinition<(&str, &str), V>,
    repo: &str,
) -> Result<Vec<String>, Error> {
    let mut table = tx.open_table(table)?;
    let keys = keys_under(&table, repo)?;
    for key in &keys {
        table.remove((repo, key.as_str()))?;
    }
    Ok(keys)
}

/// Removes the repository's manifests and their blob references; returns their digests.
fn drain_manifests(tx: &WriteTransaction, repo: &str) -> Result<Vec<String>, Error> {
    let mut manifests = tx.open_table(MANIFESTS)?;
    let digests = keys_under(&manifests, repo)?;
    for digest in &digests {
        if let Some(removed) = manifests.remove((repo, digest.as_str()))?.map(|v| v.value().to_vec()) {
            let record: crate::records::Manifest = crate::records::decode("manifests", &removed)?;
            super::blob_gc::unreference(tx, repo, digest, &record.blobs)?;
        }
    }
    Ok(digests)
}

/// Removes every `(repo, …, …)` key of a three-part-key table.
fn drain3<V: redb::Value + 'static>(
    tx: &WriteTransaction,
    table: redb::TableDefinition<(&str, &str, &str), V>,
    repo: &str,
) -> Result<(), Error> {
    let mut table = tx.open_table(table)?;
    for (b, c) in pairs_under(&table, repo)? {
        table.remove((repo, b.as_str(), c.as_str()))?;
    }
    Ok(())
}

impl DeleteRepository {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let repo = self.name.as_str();
        if tx.open_table(REPOSITORIES)?.remove(repo)?.is_none() {
            return Ok(Applied::Rejected(Rejection::RepositoryUnknown));
        }
        drain2(tx, TAGS, repo)?;
        for digest in drain2(tx, BLOB_LINKS, repo)? {
            super::blob_gc::unindex_link(tx, repo, &digest)?;
        }
        let manifests = drain_manifests(tx, repo)?;
        drain3(tx, REFERRERS, repo)?;
        drain3(tx, REPOSITORY_GRANTS, repo)?;
        drain2(tx, SIGNED_TAGS, repo)?;
        drain2(tx, PRUNING_POLICIES, repo)?;
        drain2(tx, PROMOTION_POLICIES, repo)?;
        drain2(tx, MIRROR_POLICIES, repo)?;
        super::history::forget(tx, repo)?;
        super::trust::delete_repository_trust(tx, repo)?;
        let mut holders = tx.open_table(MANIFEST_REPOSITORIES)?;
        let mut content = tx.open_table(MANIFEST_CONTENT)?;
        for digest in &manifests {
            holders.remove((digest.as_str(), repo))?;
            if keys_under(&holders, digest)?.is_empty() {
                content.remove(digest.as_str())?;
            }
        }
        Ok(Applied::Done)
    }
}
