//! Mirroring: repositories' push and poll mirroring policies, and what their workers
//! report. The copying itself happens outside the metadata (over the network, through
//! the registry's ordinary push path when polling); this keeps each policy's state — the
//! tags to try again, the next poll, the log — so that another leader goes on from it.

use berth_core::RepositoryName;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, MIRROR_LOG_KEPT, MIRROR_PENDING_KEPT, MirrorDirection, MirrorLogEntry, MirrorPolicy, PendingMirror};
use crate::tables::{COUNTERS, MIRROR_POLICIES};

/// Stores a new mirroring policy of an existing repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateMirrorPolicy {
    /// The local repository.
    pub repository: RepositoryName,
    /// The policy's id (made by the proposer).
    pub id: String,
    /// The policy.
    pub policy: MirrorPolicy,
}

impl CreateMirrorPolicy {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let repo = self.repository.as_str();
        if super::repository::repository(tx, repo)?.is_none() {
            return Ok(Applied::Rejected(Rejection::RepositoryUnknown));
        }
        // Pushes before it are not its business: it starts after the log's last event.
        let since_event = tx.open_table(COUNTERS)?.get("event")?.map_or(0, |v| v.value());
        let policy = MirrorPolicy { since_event, pending: Vec::new(), log: Vec::new(), next_poll_at: 0, failures: 0, ..self.policy };
        tx.open_table(MIRROR_POLICIES)?.insert((repo, self.id.as_str()), records::encode(&policy).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Replaces a mirroring policy's settings. Who made it, when, where it starts, its state
/// and its log stay; so does its password when none is given and the user is the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateMirrorPolicy {
    /// The local repository.
    pub repository: RepositoryName,
    /// The policy.
    pub id: String,
    /// Its new settings.
    pub policy: MirrorPolicy,
}

impl UpdateMirrorPolicy {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let key = (self.repository.as_str(), self.id.as_str());
        let mut policies = tx.open_table(MIRROR_POLICIES)?;
        let old = policies.get(key)?.map(|v| records::decode::<MirrorPolicy>("mirror_policies", v.value())).transpose()?;
        let Some(old) = old else { return Ok(Applied::Rejected(Rejection::PolicyUnknown)) };
        if old.direction != self.policy.direction {
            return Ok(Applied::Rejected(Rejection::PolicyUnknown));
        }
        let sealed_password = match self.policy.sealed_password {
            None if self.policy.username == old.username => old.sealed_password,
            given => given,
        };
        let policy = MirrorPolicy {
            created_by: old.created_by,
            created_at: old.created_at,
            since_event: old.since_event,
            pending: old.pending,
            log: old.log,
            // A changed poll is due at once.
            next_poll_at: 0,
            failures: 0,
            sealed_password,
            ..self.policy
        };
        policies.insert(key, records::encode(&policy).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Deletes a mirroring policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteMirrorPolicy {
    /// The local repository.
    pub repository: RepositoryName,
    /// The policy.
    pub id: String,
}

impl DeleteMirrorPolicy {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        if tx.open_table(MIRROR_POLICIES)?.remove((self.repository.as_str(), self.id.as_str()))?.is_none() {
            return Ok(Applied::Rejected(Rejection::PolicyUnknown));
        }
        Ok(Applied::Done)
    }
}

/// What one mirroring attempt gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorOutcome {
    /// The local repository.
    pub repository: String,
    /// The policy.
    pub policy: String,
    /// The local tag, digest and remote tag, when and how it ended (its `will_retry` is
    /// set by the command).
    pub entry: MirrorLogEntry,
    /// Push: when to try again (milliseconds since the epoch); `None` when it succeeded or
    /// was given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<u64>,
}

/// A poll that ended: when the next is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollEnded {
    /// The local repository.
    pub repository: String,
    /// The policy.
    pub policy: String,
    /// Whether the poll failed (as a whole, or for any tag).
    pub failed: bool,
    /// When the next poll is due (milliseconds since the epoch).
    pub next_at: u64,
}

/// Records what the mirroring workers did: each attempt in its policy's log, failed
/// pushes among the tags to try again (succeeded or given-up ones out of them), polls'
/// next times, and the push worker's place in the audit log. Policies deleted meanwhile
/// are skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordMirroring {
    /// The attempts.
    pub outcomes: Vec<MirrorOutcome>,
    /// The polls that ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub polls: Vec<PollEnded>,
    /// The last event the push worker has handled, when it moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u64>,
}

/// The push worker's name in the metadata (its cursor).
pub const PUSH_MIRRORING: &str = "push-mirroring";

impl RecordMirroring {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut policies = tx.open_table(MIRROR_POLICIES)?;
        for outcome in self.outcomes {
            let key = (outcome.repository.as_str(), outcome.policy.as_str());
            let old = policies.get(key)?.map(|v| records::decode::<MirrorPolicy>("mirror_policies", v.value())).transpose()?;
            let Some(mut policy) = old else { continue };
            record(&mut policy, outcome.entry, outcome.retry_at);
            policies.insert(key, records::encode(&policy).as_slice())?;
        }
        for poll in self.polls {
            let key = (poll.repository.as_str(), poll.policy.as_str());
            let old = policies.get(key)?.map(|v| records::decode::<MirrorPolicy>("mirror_policies", v.value())).transpose()?;
            let Some(mut policy) = old else { continue };
            if policy.direction != MirrorDirection::Poll {
                continue;
            }
            policy.failures = if poll.failed { policy.failures.saturating_add(1) } else { 0 };
            policy.next_poll_at = poll.next_at;
            policies.insert(key, records::encode(&policy).as_slice())?;
        }
        if let Some(event) = self.cursor {
            super::promotion::advance_cursor(tx, PUSH_MIRRORING, event)?;
        }
        Ok(Applied::Done)
    }
}

/// One attempt into `policy`: its log, and (push) its tags to try again.
fn record(policy: &mut MirrorPolicy, mut entry: MirrorLogEntry, retry_at: Option<u64>) {
    if policy.direction == MirrorDirection::Push {
        let earlier = policy.pending.iter().position(|p| p.remote_tag == entry.remote_tag).map(|i| policy.pending.remove(i));
        if let (Some(next_at), Some(_)) = (retry_at, &entry.error) {
            let (attempts, first_at) = earlier.map_or((0, entry.at), |p| (p.attempts, p.first_at));
            policy.pending.push(PendingMirror {
                tag: entry.tag.clone(),
                digest: entry.digest.clone(),
                remote_tag: entry.remote_tag.clone(),
                attempts: attempts.saturating_add(1),
                first_at,
                next_at,
            });
            entry.will_retry = true;
            if policy.pending.len() > MIRROR_PENDING_KEPT {
                let dropped = policy.pending.remove(0);
                push_log(
                    policy,
                    MirrorLogEntry {
                        at: entry.at,
                        tag: dropped.tag,
                        digest: dropped.digest,
                        remote_tag: dropped.remote_tag,
                        error: Some(format!("given up: more than {MIRROR_PENDING_KEPT} tags were waiting to be tried again")),
                        will_retry: false,
                    },
                );
            }
        }
    }
    push_log(policy, entry);
}

fn push_log(policy: &mut MirrorPolicy, entry: MirrorLogEntry) {
    policy.log.push(entry);
    if policy.log.len() > MIRROR_LOG_KEPT {
        let extra = policy.log.len() - MIRROR_LOG_KEPT;
        policy.log.drain(..extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> MirrorPolicy {
        MirrorPolicy {
            direction: MirrorDirection::Push,
            enabled: true,
            rules: Vec::new(),
            remote_host: "https://r".into(),
            remote_repository: "a/b".into(),
            tag_template: "{tag}".into(),
            username: None,
            sealed_password: None,
            remote_ca: None,
            poll_every_secs: 0,
            created_by: "admin".into(),
            created_at: 0,
            since_event: 0,
            pending: Vec::new(),
            next_poll_at: 0,
            failures: 0,
            log: Vec::new(),
        }
    }

    fn entry(at: u64, tag: &str, error: Option<&str>) -> MirrorLogEntry {
        MirrorLogEntry {
            at,
            tag: tag.into(),
            digest: format!("d-{at}"),
            remote_tag: tag.into(),
            error: error.map(str::to_owned),
            will_retry: false,
        }
    }

    #[test]
    fn failures_wait_for_retry_once_per_tag_and_leave_on_success_or_giving_up() {
        let mut p = policy();
        record(&mut p, entry(1, "v1", Some("down")), Some(10));
        record(&mut p, entry(2, "v1", Some("down")), Some(20));
        assert_eq!(p.pending.len(), 1, "one entry per remote tag");
        assert_eq!((p.pending[0].attempts, p.pending[0].first_at, p.pending[0].next_at), (2, 1, 20));
        assert!(p.log[1].will_retry);
        record(&mut p, entry(3, "v2", Some("down")), None);
        assert_eq!(p.pending.len(), 1, "given up: not kept");
        assert!(!p.log[2].will_retry);
        record(&mut p, entry(4, "v1", None), None);
        assert!(p.pending.is_empty(), "done: no longer pending");
        assert_eq!(p.log.len(), 4);
    }

    #[test]
    fn the_log_and_the_pending_tags_are_bounded() {
        let mut p = policy();
        for i in 0..(MIRROR_PENDING_KEPT as u64 + 5) {
            record(&mut p, entry(i, &format!("t{i}"), Some("down")), Some(1000));
        }
        assert_eq!(p.pending.len(), MIRROR_PENDING_KEPT);
        assert_eq!(p.pending[0].tag, "t5", "the oldest went first");
        assert_eq!(p.log.len(), MIRROR_LOG_KEPT);
        assert!(p.log.iter().any(|l| l.error.as_deref().is_some_and(|e| e.starts_with("given up"))));
    }
}
