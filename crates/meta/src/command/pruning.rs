//! Pruning: repositories' pruning policies, and the removal of the tags a policy (or the
//! repository's tag limit) chose. Which tags match is the registry's business; this
//! checks again, inside the transaction, that each tag still points where it did when
//! chosen and that it may go.

use berth_core::{Digest, RepositoryName, Tag};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, PruningPolicy, PruningRun};
use crate::tables::{PRUNING_POLICIES, SIGNED_TAGS, TAGS};

/// Stores a new pruning policy of an existing repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatePruningPolicy {
    /// The repository.
    pub repository: RepositoryName,
    /// The policy's id (made by the proposer).
    pub id: String,
    /// The policy.
    pub policy: PruningPolicy,
}

impl CreatePruningPolicy {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let repo = self.repository.as_str();
        if super::repository::repository(tx, repo)?.is_none() {
            return Ok(Applied::Rejected(Rejection::RepositoryUnknown));
        }
        tx.open_table(PRUNING_POLICIES)?.insert((repo, self.id.as_str()), records::encode(&self.policy).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Replaces a pruning policy's rules and switches; who made it, when, and its last run stay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdatePruningPolicy {
    /// The repository.
    pub repository: RepositoryName,
    /// The policy.
    pub id: String,
    /// Its new rules and switches.
    pub policy: PruningPolicy,
}

impl UpdatePruningPolicy {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let key = (self.repository.as_str(), self.id.as_str());
        let mut policies = tx.open_table(PRUNING_POLICIES)?;
        let Some(old) = policies.get(key)?.map(|v| records::decode::<PruningPolicy>("pruning_policies", v.value())).transpose()? else {
            return Ok(Applied::Rejected(Rejection::PolicyUnknown));
        };
        let policy = PruningPolicy { created_by: old.created_by, created_at: old.created_at, last_run: old.last_run, ..self.policy };
        policies.insert(key, records::encode(&policy).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Deletes a pruning policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletePruningPolicy {
    /// The repository.
    pub repository: RepositoryName,
    /// The policy.
    pub id: String,
}

impl DeletePruningPolicy {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        if tx.open_table(PRUNING_POLICIES)?.remove((self.repository.as_str(), self.id.as_str()))?.is_none() {
            return Ok(Applied::Rejected(Rejection::PolicyUnknown));
        }
        Ok(Applied::Done)
    }
}

/// Removes tags a policy or the tag limit chose. A tag goes only if it still points at
/// the digest it was chosen with, and, unless allowed, is neither signed in the trust data
/// nor in a repository whose tags are immutable; others stay, silently (a re-push or a
/// signature since the choice wins). A policy's run is recorded on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneTags {
    /// The repository.
    pub repository: RepositoryName,
    /// The tags, with the digest each pointed at when chosen.
    pub tags: Vec<(Tag, Digest)>,
    /// Signed tags may go.
    pub prune_signed: bool,
    /// Immutable tags may go.
    pub prune_immutable: bool,
    /// The policy that chose them (`None`: the tag limit).
    pub policy: Option<String>,
    /// When (seconds since the epoch).
    pub at: u64,
    /// Why the run may not remove anything, when the registry's policy refused it (the
    /// policy's maker no longer administers the repository): recorded, nothing removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl PruneTags {
    /// The tags that will go: those still pointing where they were chosen, and allowed to.
    pub(crate) fn doomed(&self, tx: &WriteTransaction) -> Result<Vec<(String, String)>, Error> {
        let repo = self.repository.as_str();
        if self.refused.is_some() || (!self.prune_immutable && super::repository::repository(tx, repo)?.is_some_and(|r| r.immutable_tags)) {
            return Ok(Vec::new());
        }
        let (tags, signed) = (tx.open_table(TAGS)?, tx.open_table(SIGNED_TAGS)?);
        let mut doomed = Vec::new();
        for (tag, digest) in &self.tags {
            if tags.get((repo, tag.as_str()))?.is_none_or(|d| d.value() != digest.as_str()) {
                continue;
            }
            if !self.prune_signed && signed.get((repo, tag.as_str()))?.is_some() {
                continue;
            }
            if !doomed.iter().any(|(t, _)| t == tag.as_str()) {
                doomed.push((tag.to_string(), digest.to_string()));
            }
        }
        Ok(doomed)
    }

    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let repo = self.repository.as_str();
        if let Some(id) = &self.policy
            && tx.open_table(PRUNING_POLICIES)?.get((repo, id.as_str()))?.is_none()
        {
            return Ok(Applied::Rejected(Rejection::PolicyUnknown));
        }
        let doomed = self.doomed(tx)?;
        {
            let mut tags = tx.open_table(TAGS)?;
            for (tag, _) in &doomed {
                tags.remove((repo, tag.as_str()))?;
            }
        }
        let by = match &self.policy {
            Some(id) => format!("pruning policy {id}"),
            None => "tag limit".to_owned(),
        };
        for (tag, _) in &doomed {
            super::history::record(tx, repo, tag, None, self.at, Some(&by))?;
        }
        if let Some(id) = &self.policy {
            let mut policies = tx.open_table(PRUNING_POLICIES)?;
            let key = (repo, id.as_str());
            let stored = policies.get(key)?.map(|v| records::decode::<PruningPolicy>("pruning_policies", v.value())).transpose()?;
            if let Some(mut policy) = stored {
                policy.last_run = Some(PruningRun { at: self.at, pruned: doomed.len() as u64, error: self.refused.clone() });
                policies.insert(key, records::encode(&policy).as_slice())?;
            }
        }
        Ok(Applied::Done)
    }
}
