//! Mirroring policies, the registry's half: the policies themselves, which pushes (and
//! retries) the push worker owes a remote, which polls are due, and the record of what
//! the workers did. The network half — the remote registry's client, the credentials —
//! is berth-services'.
//!
//! The push worker follows the audit log as promotion's does (`TAG_PUSH`, and
//! `TRUST_UPDATE` for `signed` rules), from its own cursor, which moves in the same
//! command that records the batch's outcomes: a new leader neither skips a push nor
//! makes a second attempt of one already recorded.

use std::collections::HashMap;

use berth_core::RepositoryName;
use berth_meta::command::{CreateMirrorPolicy, DeleteMirrorPolicy, PUSH_MIRRORING, RecordMirroring, UpdateMirrorPolicy};
use berth_meta::{Applied, Command, MirrorDirection, MirrorPolicy, Rejection, TagRule, now};

use crate::promotion::{Candidate, candidates, render};
use crate::rules::{Facts, Purpose, Rule, compile};
use crate::{Error, Registry, unexpected};

/// Events read per step.
const BATCH: usize = 256;
/// The longest remote repository name.
const MAX_REMOTE_NAME: usize = 255;

/// A mirroring policy as its owner states it (the password already sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorPolicySpec {
    /// Push or poll.
    pub direction: MirrorDirection,
    /// Whether it acts.
    pub enabled: bool,
    /// The rules; all must hold (poll: on the tag's name only).
    pub rules: Vec<TagRule>,
    /// `https://host[:port]` or `http://host[:port]`.
    pub remote_host: String,
    /// The repository at the remote.
    pub remote_repository: String,
    /// Push: the tag made at the remote (`{tag}`, `{digest}`, `{date}`, `{time}`).
    pub tag_template: String,
    /// The remote user.
    pub username: Option<String>,
    /// Their password, sealed (`None` on a change: keep the stored one).
    pub sealed_password: Option<String>,
    /// PEM certificates the remote's must chain to.
    pub remote_ca: Option<String>,
    /// Poll: seconds between polls.
    pub poll_every_secs: u64,
}

/// Whether `name` is a repository name as the distribution specification has them
/// (lowercase path components of letters and digits joined by `.`, `_`, `__` or `-`).
fn remote_name_fine(name: &str) -> bool {
    let component = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || matches!(x, b'.' | b'_' | b'-'))
            && !c.contains("..")
    };
    name.len() <= MAX_REMOTE_NAME && name.split('/').all(component)
}

/// Checks a remote registry's address: `http(s)://host[:port]`, nothing after.
pub fn check_remote_host(host: &str) -> Result<(), Error> {
    let invalid = |why: &str| Error::Invalid(format!("remoteHost {host:?}: {why}"));
    let rest = host.strip_prefix("https://").or_else(|| host.strip_prefix("http://")).ok_or_else(|| invalid("use https://host[:port]"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(invalid("give the registry's address only: https://host[:port]"));
    }
    Ok(())
}

impl MirrorPolicySpec {
    /// The policy to store, once its rules, remote and template are checked.
    fn into_policy(self, created_by: String, created_at: u64) -> Result<MirrorPolicy, Error> {
        let purpose = match self.direction {
            MirrorDirection::Push => Purpose::Promotion,
            MirrorDirection::Poll => Purpose::Polling,
        };
        compile(&self.rules, purpose)?;
        check_remote_host(&self.remote_host)?;
        if !remote_name_fine(&self.remote_repository) {
            return Err(Error::Invalid(format!("remoteRepository {:?} is not a repository name", self.remote_repository)));
        }
        render(&self.tag_template, "1.0", "sha256:0123456789ab", 1_767_225_600)
            .map_err(|e| Error::Invalid(format!("tag template {:?}: {e}", self.tag_template)))?;
        if self.direction == MirrorDirection::Poll && self.poll_every_secs == 0 {
            return Err(Error::Invalid("a poll mirroring policy polls every 1 second or more".into()));
        }
        if self.sealed_password.is_some() && self.username.is_none() {
            return Err(Error::Invalid("a password goes with a username".into()));
        }
        Ok(MirrorPolicy {
            direction: self.direction,
            enabled: self.enabled,
            rules: self.rules,
            remote_host: self.remote_host.trim_end_matches('/').to_owned(),
            remote_repository: self.remote_repository,
            tag_template: self.tag_template,
            username: self.username,
            sealed_password: self.sealed_password,
            remote_ca: self.remote_ca,
            poll_every_secs: self.poll_every_secs,
            created_by,
            created_at,
            since_event: 0,
            pending: Vec::new(),
            next_poll_at: 0,
            failures: 0,
            log: Vec::new(),
        })
    }
}

/// Enabled push policies with their rules compiled, by repository: (id, policy, rules).
type ByRepository<'a> = HashMap<&'a str, Vec<(&'a str, &'a MirrorPolicy, Vec<Rule>)>>;

/// One push the push worker owes a remote.
#[derive(Debug, Clone)]
pub struct PushJob {
    /// The local repository.
    pub repository: RepositoryName,
    /// The policy's id.
    pub policy_id: String,
    /// The policy.
    pub policy: MirrorPolicy,
    /// The local tag.
    pub tag: String,
    /// The manifest it pointed at.
    pub digest: String,
    /// The tag to make at the remote.
    pub remote_tag: String,
    /// When the first attempt was made (milliseconds), for a retry.
    pub first_at: Option<u64>,
    /// Attempts so far (0 for a new push).
    pub attempts: u32,
}

/// What the push worker has to do now.
#[derive(Debug, Default)]
pub struct PushWork {
    /// The pushes, new and retried.
    pub jobs: Vec<PushJob>,
    /// The last event read, to record with the outcomes.
    pub cursor: Option<u64>,
    /// More events wait beyond this batch.
    pub more: bool,
}

impl Registry {
    /// The repository's mirroring policies of one direction, by id; `NameUnknown` when it
    /// does not exist.
    pub async fn mirror_policies(
        &self,
        repository: &RepositoryName,
        direction: MirrorDirection,
    ) -> Result<Vec<(String, MirrorPolicy)>, Error> {
        let repo = repository.to_string();
        let found =
            self.meta.read_latest(move |r| if r.repository_exists(&repo)? { r.mirror_policies(&repo).map(Some) } else { Ok(None) }).await?;
        let all = found.ok_or(Error::NameUnknown)?;
        Ok(all.into_iter().filter(|(_, p)| p.direction == direction).collect())
    }

    /// One mirroring policy of that direction; `PolicyUnknown` when there is none.
    pub async fn mirror_policy(&self, repository: &RepositoryName, id: &str, direction: MirrorDirection) -> Result<MirrorPolicy, Error> {
        let (repo, id) = (repository.to_string(), id.to_owned());
        let found = self.meta.read_latest(move |r| r.mirror_policy(&repo, &id)).await?;
        found.filter(|p| p.direction == direction).ok_or(Error::PolicyUnknown)
    }

    /// Stores a new mirroring policy of `repository` under `id` (the caller's, as the
    /// password was sealed for it), made by `by`; the stored policy.
    pub async fn create_mirror_policy(
        &self,
        repository: &RepositoryName,
        id: &str,
        spec: MirrorPolicySpec,
        by: &str,
    ) -> Result<MirrorPolicy, Error> {
        let direction = spec.direction;
        let policy = spec.into_policy(by.to_owned(), now())?;
        let command = CreateMirrorPolicy { repository: repository.clone(), id: id.to_owned(), policy };
        match self.meta.apply(Command::CreateMirrorPolicy(command)).await? {
            Applied::Done => self.mirror_policy(repository, id, direction).await,
            Applied::Rejected(Rejection::RepositoryUnknown) => Err(Error::NameUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Replaces a mirroring policy's settings (its password too when one is given); the
    /// stored policy.
    pub async fn update_mirror_policy(&self, repository: &RepositoryName, id: &str, spec: MirrorPolicySpec) -> Result<MirrorPolicy, Error> {
        let direction = spec.direction;
        let policy = spec.into_policy(String::new(), 0)?;
        let command = UpdateMirrorPolicy { repository: repository.clone(), id: id.to_owned(), policy };
        match self.meta.apply(Command::UpdateMirrorPolicy(command)).await? {
            Applied::Done => self.mirror_policy(repository, id, direction).await,
            Applied::Rejected(Rejection::PolicyUnknown) => Err(Error::PolicyUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Deletes a mirroring policy of that direction.
    pub async fn delete_mirror_policy(&self, repository: &RepositoryName, id: &str, direction: MirrorDirection) -> Result<(), Error> {
        self.mirror_policy(repository, id, direction).await?;
        let command = DeleteMirrorPolicy { repository: repository.clone(), id: id.to_owned() };
        match self.meta.apply(Command::DeleteMirrorPolicy(command)).await? {
            Applied::Done => Ok(()),
            Applied::Rejected(Rejection::PolicyUnknown) => Err(Error::PolicyUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Records what the mirroring workers did (see [`RecordMirroring`]).
    pub async fn record_mirroring(&self, record: RecordMirroring) -> Result<(), Error> {
        match self.meta.apply(Command::RecordMirroring(record)).await? {
            Applied::Done => Ok(()),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// The poll mirroring policies due at `now_ms`: (repository, id, policy).
    pub async fn due_polls(&self, now_ms: u64) -> Result<Vec<(RepositoryName, String, MirrorPolicy)>, Error> {
        let all = self.meta.read_latest(|r| r.all_mirror_policies()).await?;
        Ok(all
            .into_iter()
            .filter(|(_, _, p)| p.direction == MirrorDirection::Poll && p.enabled && p.next_poll_at <= now_ms)
            .filter_map(|(repo, id, p)| repo.parse().ok().map(|repo| (repo, id, p)))
            .collect())
    }

    /// A poll policy's rules, compiled once: whether a tag's name meets them (none does
    /// when a stored rule no longer compiles).
    pub fn poll_rules(policy: &MirrorPolicy) -> impl Fn(&str) -> bool + Send + Sync + use<> {
        let rules = compile(&policy.rules, Purpose::Polling).ok();
        move |tag: &str| {
            let facts = Facts { tag, moved_at: 0, pulled_at: 0, signed: false, labels: None, annotations: None };
            rules.as_ref().is_some_and(|rules| rules.iter().all(|r| r.holds(&facts, 0)))
        }
    }

    /// What the push worker owes now: the pushes matching a policy in the next batch of
    /// events, and the failed ones due again at `now_ms`. Nothing is read beyond the
    /// policies while no push policy is enabled.
    pub async fn push_mirror_work(&self, now_ms: u64) -> Result<PushWork, Error> {
        let read = self
            .meta
            .read_latest(|r| {
                let policies: Vec<_> =
                    r.all_mirror_policies()?.into_iter().filter(|(_, _, p)| p.direction == MirrorDirection::Push && p.enabled).collect();
                let Some(floor) = policies.iter().map(|(_, _, p)| p.since_event).min() else { return Ok(None) };
                let from = r.cursor(PUSH_MIRRORING)?.unwrap_or(0).max(floor);
                let (events, _) = r.events_after(from, BATCH)?;
                let mut found = Vec::new();
                for (id, event) in &events {
                    found.extend(candidates(*id, event, |repo, tag| r.tag(repo, tag).ok().flatten().map(|d| d.to_string())));
                }
                Ok(Some((policies, found, events.last().map(|(id, _)| *id), events.len() == BATCH)))
            })
            .await?;
        let Some((policies, found, cursor, more)) = read else { return Ok(PushWork::default()) };
        let mut work = PushWork { jobs: Vec::new(), cursor, more };
        let mut by_repository: ByRepository = HashMap::new();
        for (repo, id, policy) in &policies {
            match compile(&policy.rules, Purpose::Promotion) {
                Ok(rules) => by_repository.entry(repo.as_str()).or_default().push((id.as_str(), policy, rules)),
                Err(e) => tracing::warn!(repository = %repo, policy = %id, error = %e, "mirroring policy"),
            }
        }
        for candidate in &found {
            self.match_candidate(candidate, &by_repository, &mut work.jobs).await?;
        }
        // Retries due, unless a newer push of the same remote tag is in this batch.
        for (repo, id, policy) in &policies {
            for pending in policy.pending.iter().filter(|p| p.next_at <= now_ms) {
                let newer = work.jobs.iter().any(|j| j.policy_id == *id && j.remote_tag == pending.remote_tag);
                let Ok(repository) = repo.parse::<RepositoryName>() else { continue };
                if !newer {
                    work.jobs.push(PushJob {
                        repository,
                        policy_id: id.clone(),
                        policy: policy.clone(),
                        tag: pending.tag.clone(),
                        digest: pending.digest.clone(),
                        remote_tag: pending.remote_tag.clone(),
                        first_at: Some(pending.first_at),
                        attempts: pending.attempts,
                    });
                }
            }
        }
        Ok(work)
    }

    /// The jobs one candidate makes: one per policy of its repository whose rules hold.
    async fn match_candidate(&self, candidate: &Candidate, by_repository: &ByRepository<'_>, jobs: &mut Vec<PushJob>) -> Result<(), Error> {
        let Some(policies) = by_repository.get(candidate.repository.as_str()) else { return Ok(()) };
        let policies: Vec<_> = policies.iter().filter(|(_, p, _)| p.since_event < candidate.id).collect();
        if policies.is_empty() {
            return Ok(());
        }
        let needs_labels = policies.iter().any(|(_, _, rules)| rules.iter().any(Rule::needs_labels));
        let Some(known) = self.promotion_facts(candidate, needs_labels).await? else { return Ok(()) };
        let Ok(repository) = candidate.repository.parse::<RepositoryName>() else { return Ok(()) };
        for (id, policy, rules) in policies {
            if !known.meets(&candidate.tag, rules) {
                continue;
            }
            let Ok(remote_tag) = render(&policy.tag_template, &candidate.tag, &candidate.digest, now()) else { continue };
            // A later push of the same remote tag in this batch replaces an earlier one.
            jobs.retain(|j| !(j.policy_id == *id && j.remote_tag == remote_tag.as_str()));
            jobs.push(PushJob {
                repository: repository.clone(),
                policy_id: (*id).to_owned(),
                policy: (*policy).clone(),
                tag: candidate.tag.clone(),
                digest: candidate.digest.clone(),
                remote_tag: remote_tag.to_string(),
                first_at: None,
                attempts: 0,
            });
        }
        Ok(())
    }

    /// The manifest `digest` of `repository` as stored, without counting a pull (for
    /// the mirroring workers, which are not users pulling).
    pub async fn manifest_for_mirroring(
        &self,
        repository: &RepositoryName,
        digest: &berth_core::Digest,
    ) -> Result<crate::StoredManifest, Error> {
        self.stored_manifest(repository, &berth_core::Reference::Digest(digest.clone())).await
    }

    /// The digest `tag` of `repository` points at, if any.
    pub async fn tag_digest(&self, repository: &RepositoryName, tag: &str) -> Result<Option<berth_core::Digest>, Error> {
        let (repo, tag) = (repository.to_string(), tag.to_owned());
        Ok(self.meta.read_latest(move |r| r.tag(&repo, &tag)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_names_and_hosts_are_checked() {
        for fine in ["library/alpine", "a", "team-1/app.web/x_y"] {
            assert!(remote_name_fine(fine), "{fine}");
        }
        for bad in ["", "Upper/x", "a//b", "-a/b", "a/b-", "a/../b", "a b"] {
            assert!(!remote_name_fine(bad), "{bad}");
        }
        assert!(check_remote_host("https://registry.example.com:5000").is_ok());
        assert!(check_remote_host("http://127.0.0.1:5000/").is_ok());
        for bad in ["registry.example.com", "ftp://x", "https://", "https://x/v2/", "https://user@x"] {
            assert!(check_remote_host(bad).is_err(), "{bad}");
        }
    }
}
