//! Pruning policies and tag limits: which tags of a repository go, chosen from one
//! snapshot, then removed by one `PruneTags` command that checks each again (a tag
//! re-pushed or signed since stays). A dry run answers the same choice without the
//! command, so what it lists is what a run removes while nothing changes in between.
//!
//! A policy's rules all hold for a tag to match; of the matching tags that may go (not
//! signed in the trust data, not immutable, unless the policy says so), the newest
//! `keep_newest` stay. A tag's age counts from when it last moved; its last pull is its
//! manifest's, or its push when never pulled.

use std::collections::{HashMap, HashSet};

use berth_core::{Digest, RepositoryName, Tag};
use berth_meta::command::{CreatePruningPolicy, DeletePruningPolicy, PruneTags, UpdatePruningPolicy};
use berth_meta::{Applied, Command, PruningPolicy, Rejection, TagRule, now};

use crate::rules::{Facts, Purpose, Rule, compile};
use crate::{Error, Registry, unexpected};

/// A pruning policy as its owner states it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PruningPolicySpec {
    /// Whether the schedule runs it.
    pub enabled: bool,
    /// The rules; all must hold.
    pub rules: Vec<TagRule>,
    /// Of the matching tags, the newest this many stay.
    pub keep_newest: u64,
    /// Tags signed in the trust data may go too.
    pub prune_signed: bool,
    /// Tags of a repository whose tags are immutable may go too.
    pub prune_immutable: bool,
}

impl PruningPolicySpec {
    /// The policy to store, once its rules are checked.
    fn into_policy(self, created_by: String, created_at: u64) -> Result<PruningPolicy, Error> {
        compile(&self.rules, Purpose::Pruning)?;
        Ok(PruningPolicy {
            enabled: self.enabled,
            rules: self.rules,
            keep_newest: self.keep_newest,
            prune_signed: self.prune_signed,
            prune_immutable: self.prune_immutable,
            created_by,
            created_at,
            last_run: None,
        })
    }
}

/// A tag a run removes (or, dry, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedTag {
    /// The tag.
    pub tag: String,
    /// The manifest it pointed at.
    pub digest: String,
}

/// A tag, with what pruning rules look at.
struct Candidate {
    tag: String,
    digest: String,
    /// When the tag last moved (seconds since the epoch).
    moved_at: u64,
    /// When its manifest was last pulled, or `moved_at` when never.
    pulled_at: u64,
    signed: bool,
}

impl Candidate {
    fn facts(&self) -> Facts<'_> {
        Facts { tag: &self.tag, moved_at: self.moved_at, pulled_at: self.pulled_at, signed: self.signed, labels: None, annotations: None }
    }
}

/// The tags `policy` removes from `candidates`: those matching every rule and allowed to
/// go, but for the newest `keep_newest`.
fn choose(candidates: &[Candidate], rules: &[Rule], keep_newest: u64, prune_signed: bool, now: u64) -> Vec<PrunedTag> {
    let mut matching: Vec<&Candidate> =
        candidates.iter().filter(|c| (prune_signed || !c.signed) && rules.iter().all(|r| r.holds(&c.facts(), now))).collect();
    // Newest first; equal times by name, so the choice is the same every time.
    matching.sort_by(|a, b| b.moved_at.cmp(&a.moved_at).then_with(|| a.tag.cmp(&b.tag)));
    matching.into_iter().skip(keep_newest as usize).map(|c| PrunedTag { tag: c.tag.clone(), digest: c.digest.clone() }).collect()
}

impl Registry {
    /// Every tag of `repository` with what rules look at, and whether its tags are
    /// immutable; `NameUnknown` when it does not exist.
    async fn pruning_candidates(&self, repository: &RepositoryName) -> Result<(Vec<Candidate>, bool), Error> {
        let repo = repository.to_string();
        let found = self
            .meta
            .read_latest(move |r| {
                let Some(record) = r.repository(&repo)? else { return Ok(None) };
                let moves = r.last_tag_moves(&repo)?;
                let signed: HashSet<String> = r.signed_tags(&repo)?.into_iter().map(|(t, _)| t).collect();
                let mut manifests: HashMap<String, (u64, Option<u64>)> = HashMap::new();
                let mut out = Vec::new();
                for (tag, digest) in r.tag_targets(&repo)? {
                    if !manifests.contains_key(&digest) {
                        let times = r.manifest(&repo, &digest)?.map_or((0, None), |m| (m.pushed_at, m.last_pulled));
                        manifests.insert(digest.clone(), times);
                    }
                    let (pushed_at, last_pulled) = manifests.get(&digest).copied().unwrap_or((0, None));
                    let moved_at = moves.get(&tag).copied().unwrap_or(pushed_at);
                    out.push(Candidate {
                        signed: signed.contains(&tag),
                        pulled_at: last_pulled.unwrap_or(moved_at).max(moved_at),
                        moved_at,
                        digest,
                        tag,
                    });
                }
                Ok(Some((out, record.immutable_tags)))
            })
            .await?;
        found.ok_or(Error::NameUnknown)
    }

    /// The repository's pruning policies, by id; `NameUnknown` when it does not exist.
    pub async fn pruning_policies(&self, repository: &RepositoryName) -> Result<Vec<(String, PruningPolicy)>, Error> {
        let repo = repository.to_string();
        let found = self
            .meta
            .read_latest(move |r| if r.repository_exists(&repo)? { r.pruning_policies(&repo).map(Some) } else { Ok(None) })
            .await?;
        found.ok_or(Error::NameUnknown)
    }

    /// One pruning policy; `PolicyUnknown` when the repository has none by that id.
    pub async fn pruning_policy(&self, repository: &RepositoryName, id: &str) -> Result<PruningPolicy, Error> {
        let (repo, id) = (repository.to_string(), id.to_owned());
        self.meta.read_latest(move |r| r.pruning_policy(&repo, &id)).await?.ok_or(Error::PolicyUnknown)
    }

    /// Stores a new pruning policy, made by `by`; its id and the stored policy.
    pub async fn create_pruning_policy(
        &self,
        repository: &RepositoryName,
        spec: PruningPolicySpec,
        by: &str,
    ) -> Result<(String, PruningPolicy), Error> {
        let id = crate::new_id();
        let policy = spec.into_policy(by.to_owned(), now())?;
        let command = CreatePruningPolicy { repository: repository.clone(), id: id.clone(), policy: policy.clone() };
        match self.meta.apply(Command::CreatePruningPolicy(command)).await? {
            Applied::Done => Ok((id, policy)),
            Applied::Rejected(Rejection::RepositoryUnknown) => Err(Error::NameUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Replaces a pruning policy's rules and switches; the stored policy.
    pub async fn update_pruning_policy(
        &self,
        repository: &RepositoryName,
        id: &str,
        spec: PruningPolicySpec,
    ) -> Result<PruningPolicy, Error> {
        // Who made it and when stay as stored (the command keeps them).
        let policy = spec.into_policy(String::new(), 0)?;
        let command = UpdatePruningPolicy { repository: repository.clone(), id: id.to_owned(), policy };
        match self.meta.apply(Command::UpdatePruningPolicy(command)).await? {
            Applied::Done => self.pruning_policy(repository, id).await,
            Applied::Rejected(Rejection::PolicyUnknown) => Err(Error::PolicyUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Deletes a pruning policy.
    pub async fn delete_pruning_policy(&self, repository: &RepositoryName, id: &str) -> Result<(), Error> {
        let command = DeletePruningPolicy { repository: repository.clone(), id: id.to_owned() };
        match self.meta.apply(Command::DeletePruningPolicy(command)).await? {
            Applied::Done => Ok(()),
            Applied::Rejected(Rejection::PolicyUnknown) => Err(Error::PolicyUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Runs one policy now (enabled or not): the tags removed, or with `dry_run` the tags
    /// it would remove, removing nothing.
    pub async fn run_pruning_policy(&self, repository: &RepositoryName, id: &str, dry_run: bool) -> Result<Vec<PrunedTag>, Error> {
        let policy = self.pruning_policy(repository, id).await?;
        let rules = compile(&policy.rules, Purpose::Pruning)?;
        let (candidates, immutable) = self.pruning_candidates(repository).await?;
        let now = now();
        let chosen = if immutable && !policy.prune_immutable {
            Vec::new()
        } else {
            choose(&candidates, &rules, policy.keep_newest, policy.prune_signed, now)
        };
        if dry_run {
            return Ok(chosen);
        }
        let command = PruneTags {
            repository: repository.clone(),
            tags: typed(&chosen)?,
            prune_signed: policy.prune_signed,
            prune_immutable: policy.prune_immutable,
            policy: Some(id.to_owned()),
            at: now,
            refused: None,
        };
        match self.meta.apply(Command::PruneTags(command)).await? {
            Applied::Done => Ok(chosen),
            Applied::Rejected(Rejection::PolicyUnknown) => Err(Error::PolicyUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Runs every enabled pruning policy of every repository (the schedule) while
    /// `may_administer(maker, repository)` says its maker still administers the repository
    /// (else the run is refused, and recorded so); how many tags went. A policy that fails
    /// is logged and the others run.
    pub async fn run_pruning_policies<F, Fut>(&self, may_administer: F) -> Result<u64, Error>
    where
        F: Fn(String, String) -> Fut,
        Fut: std::future::Future<Output = Result<bool, String>>,
    {
        let repositories = self.meta.read_latest(|r| r.repositories_with_pruning_policies()).await?;
        let mut pruned = 0;
        for repo in repositories {
            let Ok(repository) = repo.parse::<RepositoryName>() else { continue };
            let policies = match self.pruning_policies(&repository).await {
                Ok(policies) => policies,
                Err(Error::NameUnknown) => continue,
                Err(e) => return Err(e),
            };
            for (id, policy) in policies.into_iter().filter(|(_, p)| p.enabled) {
                // A standing policy acts for its maker: only while they administer the repository.
                if !may_administer(policy.created_by.clone(), repo.clone()).await.map_err(Error::Unavailable)? {
                    let why = format!("{} no longer administers {repo}", policy.created_by);
                    self.refuse_pruning(&repository, &id, why).await?;
                    continue;
                }
                match self.run_pruning_policy(&repository, &id, false).await {
                    Ok(tags) => pruned += tags.len() as u64,
                    Err(e @ (Error::Meta(_) | Error::Unavailable(_))) => return Err(e),
                    Err(e) => tracing::warn!(repository = %repository, policy = %id, error = %e, "pruning policy"),
                }
            }
        }
        Ok(pruned)
    }

    /// Records a scheduled run of a policy that was refused, removing nothing.
    async fn refuse_pruning(&self, repository: &RepositoryName, id: &str, why: String) -> Result<(), Error> {
        let command = PruneTags {
            repository: repository.clone(),
            tags: Vec::new(),
            prune_signed: false,
            prune_immutable: false,
            policy: Some(id.to_owned()),
            at: now(),
            refused: Some(why),
        };
        match self.meta.apply(Command::PruneTags(command)).await? {
            Applied::Done | Applied::Rejected(Rejection::PolicyUnknown) => Ok(()),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Holds `repository` to its tag limit after `pushed` was tagged: the oldest tags
    /// beyond the limit go (never `pushed`, a signed tag, or an immutable one).
    pub(crate) async fn enforce_tag_limit(&self, repository: &RepositoryName, pushed: &str) -> Result<(), Error> {
        let repo = repository.to_string();
        let limit = self.meta.read_latest(move |r| Ok(r.repository(&repo)?.map_or(0, |r| r.tag_limit))).await?;
        if limit == 0 {
            return Ok(());
        }
        let (candidates, immutable) = self.pruning_candidates(repository).await?;
        let excess = (candidates.len() as u64).saturating_sub(limit);
        if excess == 0 {
            return Ok(());
        }
        if immutable {
            tracing::warn!(repository = %repository, limit, tags = candidates.len(), "over its tag limit, but its tags are immutable");
            return Ok(());
        }
        let mut removable: Vec<&Candidate> = candidates.iter().filter(|c| !c.signed && c.tag != pushed).collect();
        // Oldest first; equal times by name.
        removable.sort_by(|a, b| a.moved_at.cmp(&b.moved_at).then_with(|| a.tag.cmp(&b.tag)));
        let chosen: Vec<PrunedTag> =
            removable.into_iter().take(excess as usize).map(|c| PrunedTag { tag: c.tag.clone(), digest: c.digest.clone() }).collect();
        if (chosen.len() as u64) < excess {
            tracing::warn!(repository = %repository, limit, tags = candidates.len(), "over its tag limit, but the rest are signed");
        }
        if chosen.is_empty() {
            return Ok(());
        }
        let command = PruneTags {
            repository: repository.clone(),
            tags: typed(&chosen)?,
            prune_signed: false,
            prune_immutable: false,
            policy: None,
            at: now(),
            refused: None,
        };
        match self.meta.apply(Command::PruneTags(command)).await? {
            Applied::Done => Ok(()),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }
}

/// The chosen tags as the command carries them (stored names and digests parse).
fn typed(chosen: &[PrunedTag]) -> Result<Vec<(Tag, Digest)>, Error> {
    chosen
        .iter()
        .map(|p| {
            let tag = p.tag.parse::<Tag>().map_err(|e| Error::Invalid(format!("stored tag {:?}: {e}", p.tag)))?;
            let digest = p.digest.parse::<Digest>().map_err(|e| Error::Invalid(format!("stored digest {:?}: {e}", p.digest)))?;
            Ok((tag, digest))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(field: &str, operator: &str, values: &[&str]) -> TagRule {
        TagRule { field: field.into(), operator: operator.into(), values: values.iter().map(|v| (*v).to_owned()).collect() }
    }

    fn rule_of(rule: &TagRule) -> Rule {
        compile(std::slice::from_ref(rule), Purpose::Pruning).unwrap().remove(0)
    }

    fn candidate(tag: &str, moved_at: u64, pulled_at: u64, signed: bool) -> Candidate {
        Candidate { tag: tag.into(), digest: format!("sha256:{tag}"), moved_at, pulled_at, signed }
    }

    fn names(chosen: Vec<PrunedTag>) -> Vec<String> {
        chosen.into_iter().map(|p| p.tag).collect()
    }

    #[test]
    fn a_policy_keeps_the_newest_and_the_signed() {
        let now = 1_000_000;
        let tags = [
            candidate("dev-1", now - 500, now - 500, false),
            candidate("dev-2", now - 400, now - 10, false),
            candidate("dev-3", now - 300, now - 300, true),
            candidate("dev-4", now - 200, now - 200, false),
            candidate("v1.0", now - 900, now - 900, false),
        ];
        let dev = [rule_of(&rule("tag", "sw", &["dev-"]))];
        assert_eq!(names(choose(&tags, &dev, 0, false, now)), ["dev-4", "dev-2", "dev-1"]);
        assert_eq!(names(choose(&tags, &dev, 1, false, now)), ["dev-2", "dev-1"]);
        assert_eq!(names(choose(&tags, &dev, 1, true, now)), ["dev-3", "dev-2", "dev-1"]);
        let old_and_unpulled = [rule_of(&rule("pushed", "olderThan", &["250s"])), rule_of(&rule("pulled", "olderThan", &["60s"]))];
        assert_eq!(names(choose(&tags, &old_and_unpulled, 0, false, now)), ["dev-1", "v1.0"]);
        let regex = [rule_of(&rule("tag", "matches", &["v[0-9]+\\.[0-9]+"]))];
        assert_eq!(names(choose(&tags, &regex, 0, false, now)), ["v1.0"]);
        // Anchored: a pattern matching part of a name does not match the name.
        let part = [rule_of(&rule("tag", "matches", &["dev"]))];
        assert!(choose(&tags, &part, 0, false, now).is_empty());
        let not = [rule_of(&rule("tag", "neq", &["v1.0", "dev-1"]))];
        assert_eq!(names(choose(&tags, &not, 0, false, now)), ["dev-4", "dev-2"]);
    }
}
