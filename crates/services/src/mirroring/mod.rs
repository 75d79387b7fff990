//! Push and poll mirroring with remote registries: the policies' credentials, sealed with
//! the master key as webhook secrets are, and the two workers, which run on the leader.
//!
//! - Push: each step takes from the registry the pushes matching a push policy since the
//!   worker's place in the audit log, and the failed ones due again; pushes them to their
//!   remotes; and records every outcome with the worker's new place in one command. A
//!   failure is tried again after 1, 2, 4, … times the base delay (at most
//!   [`MAX_DELAY`]) for a bounded time, then given up, each attempt in the policy's log.
//! - Poll: each due policy lists the remote repository's tags, and pulls those meeting
//!   its rules whose digest differs from the local tag's, through the registry's push
//!   path. A failed poll is tried again sooner than the schedule, backing off.
//!
//! A policy acts for its maker, only while they administer the local repository.

pub(crate) mod remote;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_auth::Auth;
use berth_core::{Action, Digest, RepositoryName};
use berth_meta::command::{MirrorOutcome, PollEnded, RecordMirroring};
use berth_meta::seal::MasterKey;
use berth_meta::{MirrorLogEntry, now_millis};
use berth_registry::{Error, MirrorPolicy, MirrorPolicySpec, PushJob, Registry};

use crate::outbound::{CheckedResolver, literal_blocked};
use remote::Remote;

pub use crate::outbound::MAX_DELAY;
/// Pushes made at once.
const PARALLEL: usize = 4;
/// Batches of events a push step handles at most.
const CATCH_UP: usize = 20;

/// How the workers reach remotes.
#[derive(Debug, Clone)]
pub struct MirroringOptions {
    /// Remotes may be loopback or link-local addresses (tests, a registry on the same host).
    pub allow_local: bool,
    /// How long connecting, and each read, may take.
    pub timeout: Duration,
    /// The delay before the first retry; each next one doubles, up to [`MAX_DELAY`].
    pub retry_base: Duration,
    /// How long after its first attempt a push is still tried.
    pub retry_for: Duration,
}

impl Default for MirroringOptions {
    fn default() -> Self {
        MirroringOptions {
            allow_local: false,
            timeout: Duration::from_secs(30),
            retry_base: Duration::from_secs(2),
            retry_for: Duration::from_secs(24 * 3600),
        }
    }
}

/// A mirroring policy as its owner gives it: the registry's spec (its `sealed_password`
/// is set here) and the password in clear, if one is given.
#[derive(Debug, Clone)]
pub struct NewMirror {
    /// The policy.
    pub spec: MirrorPolicySpec,
    /// The remote user's password or token (on a change, `None` keeps the stored one).
    pub password: Option<String>,
}

/// The mirroring service.
pub struct Mirroring {
    master: Arc<MasterKey>,
    options: MirroringOptions,
    /// One client per policy (its CA, connection pool and token), rebuilt when it changes.
    remotes: Mutex<HashMap<String, (String, Arc<Remote>)>>,
}

fn purpose(repository: &RepositoryName, id: &str) -> String {
    format!("mirror-password/{repository}/{id}")
}

/// Follows at most 5 redirects (registries send blob reads to their storage), none to a
/// blocked literal address: names are checked by the resolver, but an address in a
/// `Location` is connected to without resolving.
fn redirects(allow_local: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if let Some(ip) = literal_blocked(attempt.url().as_str(), allow_local) {
            let error = format!("a redirect to {ip}, a local address, was refused");
            attempt.error(error)
        } else if attempt.previous().len() >= 5 {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// A client for remote registries: connect and read timeouts, at most 5 redirects, the
/// addresses `options` allow, and `ca` (PEM) instead of the system's roots when given.
pub(crate) fn remote_client(options: &MirroringOptions, ca: Option<&str>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(options.timeout)
        .read_timeout(options.timeout)
        .redirect(redirects(options.allow_local))
        .no_proxy()
        .dns_resolver(Arc::new(CheckedResolver { allow_local: options.allow_local }));
    if let Some(pem) = ca {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| format!("the remote CA: {e}"))?;
        builder = builder.tls_certs_only(certs);
    }
    builder.build().map_err(|e| format!("building the HTTP client: {e}"))
}

/// When to try a push again after `attempts` failed ones, if it is still worth it.
fn retry_at(options: &MirroringOptions, first_at: u64, attempts: u32, now: u64) -> Option<u64> {
    crate::outbound::retry_at(options.retry_base, options.retry_for, first_at, attempts, now)
}

impl Mirroring {
    /// The service; passwords are sealed with `master`.
    pub fn new(master: Arc<MasterKey>, options: MirroringOptions) -> Mirroring {
        Mirroring { master, options, remotes: Mutex::new(HashMap::new()) }
    }

    fn spec(&self, repository: &RepositoryName, id: &str, new: NewMirror) -> Result<MirrorPolicySpec, Error> {
        let NewMirror { spec, password } = new;
        if let Some(pem) = &spec.remote_ca {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| Error::Invalid(format!("remoteCA: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Invalid("remoteCA holds no PEM certificate".into()));
            }
        }
        if let Some(ip) = literal_blocked(&spec.remote_host, self.options.allow_local) {
            return Err(Error::Invalid(format!("remoteHost: {ip} is a local address; mirroring may not reach it")));
        }
        let sealed_password = match &password {
            Some(password) => Some(
                self.master
                    .seal(&purpose(repository, id), password.as_bytes())
                    .map_err(|e| Error::Unavailable(format!("sealing the password: {e}")))?,
            ),
            None => None,
        };
        Ok(MirrorPolicySpec {
            username: spec.username.filter(|u| !u.is_empty()),
            remote_ca: spec.remote_ca.filter(|c| !c.trim().is_empty()),
            sealed_password,
            ..spec
        })
    }

    /// Makes a mirroring policy of `repository` for `by`; its id and the stored policy.
    pub async fn create(
        &self,
        registry: &Registry,
        repository: &RepositoryName,
        new: NewMirror,
        by: &str,
    ) -> Result<(String, MirrorPolicy), Error> {
        let id = uuid_like();
        let spec = self.spec(repository, &id, new)?;
        let policy = registry.create_mirror_policy(repository, &id, spec, by).await?;
        Ok((id, policy))
    }

    /// Replaces a mirroring policy's settings; the stored policy.
    pub async fn update(&self, registry: &Registry, repository: &RepositoryName, id: &str, new: NewMirror) -> Result<MirrorPolicy, Error> {
        // Only an existing policy's id seals a password.
        registry.mirror_policy(repository, id, new.spec.direction).await?;
        let spec = self.spec(repository, id, new)?;
        registry.update_mirror_policy(repository, id, spec).await
    }

    /// The client for one policy.
    fn remote(&self, repository: &RepositoryName, id: &str, policy: &MirrorPolicy) -> Result<Arc<Remote>, String> {
        let key = format!("{repository}/{id}");
        let fingerprint = format!(
            "{}|{}|{:?}|{:?}|{:?}",
            policy.remote_host, policy.remote_repository, policy.username, policy.sealed_password, policy.remote_ca
        );
        let mut remotes = self.remotes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((f, remote)) = remotes.get(&key)
            && *f == fingerprint
        {
            return Ok(remote.clone());
        }
        if let Some(ip) = literal_blocked(&policy.remote_host, self.options.allow_local) {
            return Err(format!("{ip} is a local address; mirroring may not reach it"));
        }
        let http = remote_client(&self.options, policy.remote_ca.as_deref())?;
        let credentials = match (&policy.username, &policy.sealed_password) {
            (Some(user), Some(sealed)) => {
                let password =
                    self.master.open(&purpose(repository, id), sealed).map_err(|e| format!("opening the stored password: {e}"))?;
                Some((user.clone(), String::from_utf8_lossy(&password).into_owned()))
            }
            (Some(user), None) => Some((user.clone(), String::new())),
            _ => None,
        };
        let remote = Arc::new(Remote::new(http, &policy.remote_host, &policy.remote_repository, credentials));
        remotes.insert(key, (fingerprint, remote.clone()));
        Ok(remote)
    }

    /// One step of the push worker: the pushes owed now, made and recorded; how many were
    /// attempted.
    pub async fn push_step(&self, registry: &Registry, auth: &Auth) -> Result<u64, Error> {
        let mut attempted = 0;
        for _ in 0..CATCH_UP {
            let work = registry.push_mirror_work(now_millis()).await?;
            if work.jobs.is_empty() && work.cursor.is_none() {
                break;
            }
            attempted += work.jobs.len() as u64;
            let mut outcomes: Vec<MirrorOutcome> = Vec::with_capacity(work.jobs.len());
            for jobs in work.jobs.chunks(PARALLEL) {
                outcomes.extend(futures_util::future::join_all(jobs.iter().map(|job| self.push_job(registry, auth, job))).await);
            }
            registry.record_mirroring(RecordMirroring { outcomes, polls: Vec::new(), cursor: work.cursor }).await?;
            if !work.more {
                break;
            }
        }
        Ok(attempted)
    }

    async fn push_job(&self, registry: &Registry, auth: &Auth, job: &PushJob) -> MirrorOutcome {
        let policy = &job.policy;
        let result = match auth.user_may(&policy.created_by, job.repository.as_str(), Action::Admin).await {
            Ok(true) => self.push(registry, job).await.map_err(|e| (e, true)),
            Ok(false) => Err((format!("{} may no longer administer {}", policy.created_by, job.repository), false)),
            Err(e) => Err((format!("checking {}'s access: {e}", policy.created_by), true)),
        };
        let at = now_millis();
        let (error, retry_at) = match result {
            Ok(()) => (None, None),
            Err((error, retry)) => {
                let attempts = job.attempts.saturating_add(1);
                let retry_at = if retry { retry_at(&self.options, job.first_at.unwrap_or(at), attempts, at) } else { None };
                let error = if retry && retry_at.is_none() { format!("given up after {attempts} attempts: {error}") } else { error };
                tracing::warn!(repository = %job.repository, tag = %job.tag, policy = %job.policy_id, error = %error, "push mirroring");
                (Some(error), retry_at)
            }
        };
        MirrorOutcome {
            repository: job.repository.to_string(),
            policy: job.policy_id.clone(),
            entry: MirrorLogEntry {
                at,
                tag: job.tag.clone(),
                digest: job.digest.clone(),
                remote_tag: job.remote_tag.clone(),
                error,
                will_retry: false,
            },
            retry_at,
        }
    }

    async fn push(&self, registry: &Registry, job: &PushJob) -> Result<(), String> {
        let remote = self.remote(&job.repository, &job.policy_id, &job.policy)?;
        let digest: Digest = job.digest.parse().map_err(|e| format!("stored digest {:?}: {e}", job.digest))?;
        remote.push_image(registry, &job.repository, &digest, &job.remote_tag).await
    }

    /// One step of the poll worker: every due poll policy polled, and recorded.
    pub async fn poll_step(&self, registry: &Registry, auth: &Auth) -> Result<u64, Error> {
        let due = registry.due_polls(now_millis()).await?;
        let mut pulled = 0;
        for (repository, id, policy) in due {
            let (entries, failed) = match auth.user_may(&policy.created_by, repository.as_str(), Action::Admin).await {
                Ok(true) => self.poll(registry, &repository, &id, &policy).await,
                Ok(false) => (vec![whole_poll_failure(format!("{} may no longer administer {repository}", policy.created_by))], true),
                Err(e) => (vec![whole_poll_failure(format!("checking {}'s access: {e}", policy.created_by))], true),
            };
            pulled += entries.iter().filter(|e| e.error.is_none()).count() as u64;
            let every = Duration::from_secs(policy.poll_every_secs);
            let wait = if failed {
                let factor = 1u32.checked_shl(policy.failures).unwrap_or(u32::MAX);
                self.options.retry_base.saturating_mul(factor).min(MAX_DELAY).min(every)
            } else {
                every
            };
            let outcomes = entries
                .into_iter()
                .map(|entry| MirrorOutcome { repository: repository.to_string(), policy: id.clone(), entry, retry_at: None })
                .collect();
            let next_at = now_millis() + wait.as_millis() as u64;
            let ended = PollEnded { repository: repository.to_string(), policy: id.clone(), failed, next_at };
            registry.record_mirroring(RecordMirroring { outcomes, polls: vec![ended], cursor: None }).await?;
        }
        Ok(pulled)
    }

    /// Polls one policy: the log entries of the tags it pulled or failed to, and whether
    /// anything failed.
    async fn poll(&self, registry: &Registry, repository: &RepositoryName, id: &str, policy: &MirrorPolicy) -> (Vec<MirrorLogEntry>, bool) {
        let remote = match self.remote(repository, id, policy) {
            Ok(remote) => remote,
            Err(e) => return (vec![whole_poll_failure(e)], true),
        };
        let tags = match remote.tags().await {
            Ok(tags) => tags,
            Err(e) => return (vec![whole_poll_failure(format!("{}: {e}", remote.describe()))], true),
        };
        let mut entries = Vec::new();
        let mut failed = false;
        let matches = Registry::poll_rules(policy);
        for tag in tags.iter().filter(|t| matches(t)) {
            let result = async {
                let Some(digest) = remote.tag_digest(tag).await? else { return Ok(None) };
                let local = registry.tag_digest(repository, tag).await.map_err(|e| e.to_string())?;
                if local.is_some_and(|d| d.as_str() == digest) {
                    return Ok(None);
                }
                remote.pull_image(registry, repository, &digest, tag, &policy.created_by).await?;
                Ok::<_, String>(Some(digest))
            }
            .await;
            let (digest, error) = match result {
                Ok(None) => continue,
                Ok(Some(digest)) => (digest, None),
                Err(e) => {
                    failed = true;
                    tracing::warn!(repository = %repository, tag = %tag, policy = %id, error = %e, "poll mirroring");
                    (String::new(), Some(e))
                }
            };
            entries.push(MirrorLogEntry { at: now_millis(), tag: tag.clone(), digest, remote_tag: tag.clone(), error, will_retry: false });
        }
        (entries, failed)
    }
}

/// A log entry for a poll that failed before any tag.
fn whole_poll_failure(error: String) -> MirrorLogEntry {
    MirrorLogEntry {
        at: now_millis(),
        tag: String::new(),
        digest: String::new(),
        remote_tag: String::new(),
        error: Some(error),
        will_retry: true,
    }
}

/// A fresh policy id (32 hex digits).
fn uuid_like() -> String {
    let mut buf = [0u8; 16];
    // The system's random source failing leaves no safe way on; it never does in practice.
    let _ = aws_lc_rs::rand::fill(&mut buf);
    hex::encode(buf)
}
