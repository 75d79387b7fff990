//! Promotion policies: a tag pushed, or signed, in a repository that matches every rule of
//! one of its policies is copied to the policy's target repository under its tag
//! template, by one `PromoteManifest` command (metadata only: blobs are shared).
//!
//! The worker follows the audit log, on the leader: each `TAG_PUSH` (promotions too, so
//! policies chain) and each `TRUST_UPDATE` that signs tags is a candidate; a policy
//! looks only at events after its creation; the worker's place is kept in the metadata
//! (`AdvanceCursor`), so a restart or a new leader goes on where it stopped and a push
//! is promoted once.

use std::collections::HashMap;

use berth_core::{Digest, RepositoryName, Tag};
use berth_meta::command::{AdvanceCursor, CreatePromotionPolicy, DeletePromotionPolicy, PromoteManifest, UpdatePromotionPolicy};
use berth_meta::{Applied, Command, Event, PromotionPolicy, Rejection, TagRule, now};
use berth_storage::BlobStore;
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::rules::{Facts, Purpose, Rule, compile};
use crate::{Error, Registry, unexpected};

/// The worker's name in the metadata (its cursor).
const WORKER: &str = "promotion";
/// Events read per batch, and batches per step at most.
const BATCH: usize = 256;
const CATCH_UP_BATCHES: usize = 20;
/// The largest image config read for its labels.
const MAX_CONFIG: usize = 1 << 20;

/// A promotion policy as its owner states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionPolicySpec {
    /// Whether it acts.
    pub enabled: bool,
    /// The rules; all must hold.
    pub rules: Vec<TagRule>,
    /// The repository promoted to.
    pub target: RepositoryName,
    /// The tag made there (`{tag}`, `{digest}`, `{date}`, `{time}`).
    pub tag_template: String,
}

/// The tag `template` makes for `tag` at `digest`, promoted at `at` (seconds since the epoch).
pub(crate) fn render(template: &str, tag: &str, digest: &str, at: u64) -> Result<Tag, String> {
    let when = time::OffsetDateTime::from_unix_timestamp(i64::try_from(at).unwrap_or(0)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else { return Err("an unclosed {".into()) };
        match &rest[open + 1..open + close] {
            "tag" => out.push_str(tag),
            "digest" => out.push_str(hex.get(..12).unwrap_or(hex)),
            "date" => out.push_str(&format!("{:04}{:02}{:02}", when.year(), u8::from(when.month()), when.day())),
            "time" => out.push_str(&format!("{:02}{:02}{:02}", when.hour(), when.minute(), when.second())),
            other => return Err(format!("{{{other}}} is not {{tag}}, {{digest}}, {{date}} or {{time}}")),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out.parse::<Tag>().map_err(|e| format!("makes {out:?}, not a tag: {e}"))
}

impl PromotionPolicySpec {
    /// The policy to store for `source`, once its rules and template are checked (its
    /// starting event is set by the command).
    fn into_policy(self, source: &RepositoryName, created_by: String, created_at: u64) -> Result<PromotionPolicy, Error> {
        compile(&self.rules, Purpose::Promotion)?;
        if self.target == *source {
            return Err(Error::Invalid("a repository is not promoted to itself".into()));
        }
        render(&self.tag_template, "1.0", "sha256:0123456789ab", 1_767_225_600)
            .map_err(|e| Error::Invalid(format!("tag template {:?}: {e}", self.tag_template)))?;
        Ok(PromotionPolicy {
            enabled: self.enabled,
            rules: self.rules,
            target: self.target.to_string(),
            tag_template: self.tag_template,
            created_by,
            created_at,
            since_event: 0,
            last: None,
        })
    }
}

/// A tag to consider: (repository, tag, digest), from event `id`.
pub(crate) struct Candidate {
    pub(crate) id: u64,
    pub(crate) repository: String,
    pub(crate) tag: String,
    pub(crate) digest: String,
}

/// The tags an event brings to promotion.
pub(crate) fn candidates(id: u64, event: &Event, current: impl Fn(&str, &str) -> Option<String>) -> Vec<Candidate> {
    let Some(repository) = event.repository.clone() else { return Vec::new() };
    if event.refused.is_some() {
        return Vec::new();
    }
    match event.kind.as_str() {
        "TAG_PUSH" => match (&event.object, &event.digest) {
            (Some(tag), Some(digest)) => vec![Candidate { id, repository, tag: tag.clone(), digest: digest.clone() }],
            _ => Vec::new(),
        },
        // Newly signed tags, at the digest the registry's tag points at now.
        "TRUST_UPDATE" => event
            .details
            .get("signed")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|tag| current(&repository, tag).map(|digest| (tag.to_owned(), digest)))
            .map(|(tag, digest)| Candidate { id, repository: repository.clone(), tag, digest })
            .collect(),
        _ => Vec::new(),
    }
}

impl Registry {
    /// The repository's promotion policies, by id; `NameUnknown` when it does not exist.
    pub async fn promotion_policies(&self, repository: &RepositoryName) -> Result<Vec<(String, PromotionPolicy)>, Error> {
        let repo = repository.to_string();
        let found = self
            .meta
            .read_latest(move |r| if r.repository_exists(&repo)? { r.promotion_policies(&repo).map(Some) } else { Ok(None) })
            .await?;
        found.ok_or(Error::NameUnknown)
    }

    /// One promotion policy; `PolicyUnknown` when the repository has none by that id.
    pub async fn promotion_policy(&self, repository: &RepositoryName, id: &str) -> Result<PromotionPolicy, Error> {
        let (repo, id) = (repository.to_string(), id.to_owned());
        self.meta.read_latest(move |r| r.promotion_policy(&repo, &id)).await?.ok_or(Error::PolicyUnknown)
    }

    /// Stores a new promotion policy of `repository`, made by `by`; its id and the stored policy.
    pub async fn create_promotion_policy(
        &self,
        repository: &RepositoryName,
        spec: PromotionPolicySpec,
        by: &str,
    ) -> Result<(String, PromotionPolicy), Error> {
        let id = crate::new_id();
        let policy = spec.into_policy(repository, by.to_owned(), now())?;
        let command = CreatePromotionPolicy { repository: repository.clone(), id: id.clone(), policy };
        match self.meta.apply(Command::CreatePromotionPolicy(command)).await? {
            Applied::Done => Ok((id.clone(), self.promotion_policy(repository, &id).await?)),
            Applied::Rejected(Rejection::RepositoryUnknown) => Err(Error::NameUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Replaces a promotion policy's rules, target and template; the stored policy.
    pub async fn update_promotion_policy(
        &self,
        repository: &RepositoryName,
        id: &str,
        spec: PromotionPolicySpec,
    ) -> Result<PromotionPolicy, Error> {
        // Who made it, when, and where it starts stay as stored (the command keeps them).
        let policy = spec.into_policy(repository, String::new(), 0)?;
        let command = UpdatePromotionPolicy { repository: repository.clone(), id: id.to_owned(), policy };
        match self.meta.apply(Command::UpdatePromotionPolicy(command)).await? {
            Applied::Done => self.promotion_policy(repository, id).await,
            Applied::Rejected(Rejection::PolicyUnknown) => Err(Error::PolicyUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Deletes a promotion policy.
    pub async fn delete_promotion_policy(&self, repository: &RepositoryName, id: &str) -> Result<(), Error> {
        let command = DeletePromotionPolicy { repository: repository.clone(), id: id.to_owned() };
        match self.meta.apply(Command::DeletePromotionPolicy(command)).await? {
            Applied::Done => Ok(()),
            Applied::Rejected(Rejection::PolicyUnknown) => Err(Error::PolicyUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// One step of the promotion worker: the events since its place, each matching
    /// policy's promotion made while `may_push(maker, target)` says the policy's maker may
    /// still push to its target (else refused, and recorded so); how many promotions were
    /// proposed. Nothing is read or written while no repository has a policy.
    pub async fn run_promotions<F, Fut>(&self, may_push: F) -> Result<u64, Error>
    where
        F: Fn(String, String) -> Fut,
        Fut: std::future::Future<Output = Result<bool, String>>,
    {
        // Behind by more than a batch (a burst of pushes and pulls): catch up now, a
        // bounded number of batches per step.
        let mut proposed = 0;
        for _ in 0..CATCH_UP_BATCHES {
            let (made, full) = self.promotion_batch(&may_push).await?;
            proposed += made;
            if !full {
                break;
            }
        }
        Ok(proposed)
    }

    /// One batch of events: how many promotions were proposed, and whether the batch was full.
    async fn promotion_batch<F, Fut>(&self, may_push: &F) -> Result<(u64, bool), Error>
    where
        F: Fn(String, String) -> Fut,
        Fut: std::future::Future<Output = Result<bool, String>>,
    {
        let step = self
            .meta
            .read_latest(|r| {
                let policies = r.all_promotion_policies()?;
                let Some(floor) = policies.iter().map(|(_, _, p)| p.since_event).min() else { return Ok(None) };
                // A cursor behind every policy's start skips ahead: those events concern none.
                let from = r.cursor(WORKER)?.unwrap_or(0).max(floor);
                let (events, _) = r.events_after(from, BATCH)?;
                let mut found = Vec::new();
                for (id, event) in &events {
                    found.extend(candidates(*id, event, |repo, tag| r.tag(repo, tag).ok().flatten().map(|d| d.to_string())));
                }
                let last = events.last().map(|(id, _)| *id);
                Ok(Some((policies, found, last, events.len() == BATCH)))
            })
            .await?;
        let Some((policies, found, last, full)) = step else { return Ok((0, false)) };
        let mut by_repository: HashMap<&str, Vec<Compiled>> = HashMap::new();
        for (repo, id, policy) in policies.iter().filter(|(_, _, p)| p.enabled) {
            match compile(&policy.rules, Purpose::Promotion) {
                Ok(rules) => by_repository.entry(repo.as_str()).or_default().push((id.as_str(), policy, rules)),
                Err(e) => tracing::warn!(repository = %repo, policy = %id, error = %e, "promotion policy"),
            }
        }
        let mut proposed = 0;
        for candidate in &found {
            if let Err(e) = self.promote_candidate(candidate, &by_repository, may_push, &mut proposed).await {
                // Keep what is done: every event before this one's is handled, and is not
                // handled twice by the next step (the cursor never moves back).
                let done = AdvanceCursor { worker: WORKER.into(), event: candidate.id.saturating_sub(1) };
                self.meta.apply(Command::AdvanceCursor(done)).await?;
                return Err(e);
            }
        }
        if let Some(event) = last {
            self.meta.apply(Command::AdvanceCursor(AdvanceCursor { worker: WORKER.into(), event })).await?;
        }
        Ok((proposed, full))
    }

    /// Matches one candidate against its repository's policies, proposing each promotion.
    async fn promote_candidate<F, Fut>(
        &self,
        candidate: &Candidate,
        by_repository: &HashMap<&str, Vec<Compiled<'_>>>,
        may_push: &F,
        proposed: &mut u64,
    ) -> Result<(), Error>
    where
        F: Fn(String, String) -> Fut,
        Fut: std::future::Future<Output = Result<bool, String>>,
    {
        let Some(policies) = by_repository.get(candidate.repository.as_str()) else { return Ok(()) };
        let mut facts_cache = None;
        for (id, policy, rules) in policies.iter().filter(|(_, p, _)| p.since_event < candidate.id) {
            if facts_cache.is_none() {
                let needs_labels = policies.iter().any(|(_, _, rules)| rules.iter().any(Rule::needs_labels));
                facts_cache = Some(self.promotion_facts(candidate, needs_labels).await?);
            }
            let Some(Some(known)) = &facts_cache else { break };
            if !known.meets(&candidate.tag, rules) {
                continue;
            }
            // A standing policy acts for its maker: only while they may push there.
            let allowed = may_push(policy.created_by.clone(), policy.target.clone()).await.map_err(Error::Unavailable)?;
            let refused = (!allowed).then(|| format!("{} may no longer push to {}", policy.created_by, policy.target));
            self.promote(candidate, id, policy, refused).await?;
            *proposed += 1;
        }
        Ok(())
    }

    /// Proposes the promotion of `candidate` by `policy`.
    async fn promote(&self, candidate: &Candidate, id: &str, policy: &PromotionPolicy, refused: Option<String>) -> Result<(), Error> {
        let at = now();
        let parsed = (
            candidate.repository.parse::<RepositoryName>(),
            candidate.tag.parse::<Tag>(),
            candidate.digest.parse::<Digest>(),
            policy.target.parse::<RepositoryName>(),
            render(&policy.tag_template, &candidate.tag, &candidate.digest, at),
        );
        let (Ok(source), Ok(source_tag), Ok(digest), Ok(target), Ok(tag)) = parsed else {
            tracing::warn!(repository = %candidate.repository, tag = %candidate.tag, policy = %id, "promotion: a stored name does not parse");
            return Ok(());
        };
        let command = PromoteManifest { source, source_tag, digest, target, tag, policy: id.to_owned(), at, refused };
        match self.meta.apply(Command::PromoteManifest(command)).await? {
            // Deleted meanwhile: nothing to promote for it.
            Applied::Done | Applied::Rejected(Rejection::PolicyUnknown) => Ok(()),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Whether the candidate is signed (at its digest), its manifest's annotations and,
    /// when asked, its image's labels; `None` when its tag has moved on or gone (a later
    /// event brings the new one).
    pub(crate) async fn promotion_facts(&self, candidate: &Candidate, labels: bool) -> Result<Option<Known>, Error> {
        let (repo, tag, digest) = (candidate.repository.clone(), candidate.tag.clone(), candidate.digest.clone());
        let read = self
            .meta
            .read_latest(move |r| {
                if r.tag(&repo, &tag)?.is_none_or(|d| d.as_str() != digest) {
                    return Ok(None);
                }
                let signed = r.signed_tags(&repo)?.into_iter().any(|(t, s)| t == tag && s.digest == digest);
                Ok(Some((signed, r.manifest_content(&digest)?)))
            })
            .await?;
        let Some((signed, content)) = read else { return Ok(None) };
        let manifest: Value = content.and_then(|c| serde_json::from_slice(&c).ok()).unwrap_or(Value::Null);
        let annotations = manifest.get("annotations").and_then(Value::as_object).cloned();
        let labels = match (labels, manifest.pointer("/config/digest").and_then(Value::as_str)) {
            (true, Some(config)) => self.image_labels(config).await?,
            _ => None,
        };
        Ok(Some(Known { signed, labels, annotations }))
    }

    /// The labels of an image config blob (`config.Labels`), if it reads as one.
    async fn image_labels(&self, config: &str) -> Result<Option<Map<String, Value>>, Error> {
        let Ok(digest) = config.parse::<Digest>() else { return Ok(None) };
        let Some(mut reader) = self.storage.open(&digest, None).await? else { return Ok(None) };
        if reader.size > MAX_CONFIG as u64 {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(reader.size as usize);
        while let Some(chunk) = reader.stream.next().await {
            let chunk = chunk.map_err(|e| Error::Storage(berth_storage::Error::Io(e)))?;
            bytes.extend_from_slice(&chunk);
        }
        let config: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(config.pointer("/config/Labels").and_then(Value::as_object).cloned())
    }
}

/// A policy with its rules compiled: (id, policy, rules).
type Compiled<'a> = (&'a str, &'a PromotionPolicy, Vec<Rule>);

/// What promotion rules look at, read once per candidate.
pub(crate) struct Known {
    pub(crate) signed: bool,
    pub(crate) labels: Option<Map<String, Value>>,
    pub(crate) annotations: Option<Map<String, Value>>,
}

impl Known {
    /// Whether `tag`, known so, meets every rule.
    pub(crate) fn meets(&self, tag: &str, rules: &[Rule]) -> bool {
        let facts = Facts {
            tag,
            moved_at: 0,
            pulled_at: 0,
            signed: self.signed,
            labels: self.labels.as_ref(),
            annotations: self.annotations.as_ref(),
        };
        rules.iter().all(|r| r.holds(&facts, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_name_the_tag_digest_date_and_time() {
        let at = 1_796_280_570; // 2026-12-03 06:49:30 UTC
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(render("{tag}", "1.0", digest, at).unwrap().as_str(), "1.0");
        assert_eq!(render("prod-{tag}-{date}", "1.0", digest, at).unwrap().as_str(), "prod-1.0-20261203");
        assert_eq!(render("{digest}.{time}", "x", digest, at).unwrap().as_str(), "0123456789ab.064930");
        assert!(render("{tag}-{nope}", "1.0", digest, at).unwrap_err().contains("{nope}"));
        assert!(render("{tag", "1.0", digest, at).unwrap_err().contains("unclosed"));
        assert!(render("a/b", "1.0", digest, at).unwrap_err().contains("not a tag"));
    }
}
