//! The audit log and webhook queue, derived from the applied commands: every replica
//! applies the same commands with the same origins, so every replica holds the same
//! events, in the same order, with the same ids.
//!
//! Applying a command with an origin ([`apply_audited`]) describes it first (a few
//! commands need the state before they change it: which tags a trust update signs or
//! unsigns), applies it, and appends its events, refused ones included, in the same
//! transaction. An event that was done and that a webhook subscribes to queues a
//! delivery in that transaction too: a push is acknowledged with its deliveries durable,
//! and the worker that posts them never holds the push up.
//!
//! Commands that only serve others (blob links of an upload, recorded token uses, the
//! garbage collector's lock and bookkeeping) leave no event: a push is its manifest.

use std::collections::BTreeMap;

use redb::{ReadableTable, WriteTransaction};
use serde_json::{Value, json};

use crate::Error;
use crate::command::{Applied, Command, GrantTarget, Rejection};
use crate::origin::Origin;
use crate::records::{self, Delivery, DeliveryState, Event, Webhook};
use crate::settings::Setting;
use crate::tables::*;

/// Event kinds a webhook may subscribe to, and the event kinds each receives.
pub const HOOK_TYPES: &[(&str, &[&str])] = &[
    ("TAG_PUSH", &["TAG_PUSH"]),
    ("TAG_PULL", &["TAG_PULL"]),
    ("TAG_DELETE", &["TAG_DELETE"]),
    ("MANIFEST_PUSH", &["MANIFEST_PUSH", "TAG_PUSH"]),
    ("MANIFEST_PULL", &["MANIFEST_PULL", "TAG_PULL"]),
    ("MANIFEST_DELETE", &["MANIFEST_DELETE"]),
    ("REPO_EVENT", &["REPO_CREATED", "REPO_UPDATED", "REPO_DELETED"]),
    ("SECURITY_EVENT", &["TRUST_UPDATE", "TRUST_DELETE"]),
];

/// Whether a webhook of type `hook_type` receives events of kind `kind`.
pub fn subscribes(hook_type: &str, kind: &str) -> bool {
    HOOK_TYPES.iter().any(|(t, kinds)| *t == hook_type && kinds.contains(&kind))
}

/// Whether a webhook keyed `key` (a repository or a namespace) covers `repository`.
pub fn covers(key: &str, repository: &str) -> bool {
    key == repository || repository.split_once('/').is_some_and(|(ns, _)| ns == key)
}

/// An event before it has an id, a time and an origin.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub kind: &'static str,
    pub repository: Option<String>,
    pub object: Option<String>,
    pub digest: Option<String>,
    pub details: BTreeMap<String, Value>,
    /// Pulls are recorded by a job on behalf of their callers: these replace the origin's.
    pub on_behalf: Option<Origin>,
    pub count: u64,
}

impl Draft {
    fn new(kind: &'static str) -> Draft {
        Draft { kind, count: 1, ..Draft::default() }
    }
    fn repository(mut self, repository: impl ToString) -> Draft {
        self.repository = Some(repository.to_string());
        self
    }
    fn object(mut self, object: impl ToString) -> Draft {
        self.object = Some(object.to_string());
        self
    }
    fn digest(mut self, digest: impl ToString) -> Draft {
        self.digest = Some(digest.to_string());
        self
    }
    fn detail(mut self, name: &str, value: Value) -> Draft {
        self.details.insert(name.to_owned(), value);
        self
    }
}

/// Applies `command` and records its events (none without an origin: entries written
/// before origins existed, and stores changed outside the log by tests and tools).
pub(crate) fn apply_audited(tx: &WriteTransaction, command: Command, origin: Option<&Origin>) -> Result<Applied, Error> {
    let Some(origin) = origin else { return command.apply(tx) };
    let drafts = describe(tx, &command)?;
    let applied = command.apply(tx)?;
    let refused = match &applied {
        Applied::Done => None,
        Applied::Rejected(rejection) => Some(rejection.code()),
    };
    for draft in drafts {
        append(tx, origin, draft, refused)?;
    }
    Ok(applied)
}

/// The events `command` makes, described from the state before it applies.
fn describe(tx: &WriteTransaction, command: &Command) -> Result<Vec<Draft>, Error> {
    let one = |draft: Draft| Ok(vec![draft]);
    match command {
        Command::PutManifest(c) => {
            let draft = match &c.tag {
                Some(tag) => Draft::new("TAG_PUSH").object(tag),
                None => Draft::new("MANIFEST_PUSH"),
            };
            one(draft.repository(&c.repository).digest(&c.digest).detail("mediaType", json!(c.media_type)))
        }
        Command::DeleteManifest(c) => one(Draft::new("MANIFEST_DELETE").repository(&c.repository).digest(&c.digest)),
        Command::PruneManifest(c) => {
            one(Draft::new("MANIFEST_DELETE").repository(&c.repository).digest(&c.digest).detail("untagged", json!(true)))
        }
        Command::DeleteTag(c) => {
            let digest = tx.open_table(TAGS)?.get((c.repository.as_str(), c.tag.as_str()))?.map(|d| d.value().to_owned());
            let draft = Draft::new("TAG_DELETE").repository(&c.repository).object(&c.tag);
            one(match digest {
                Some(d) => draft.digest(d),
                None => draft,
            })
        }
        Command::UnlinkBlob(c) => one(Draft::new("BLOB_DELETE").repository(&c.repository).digest(&c.digest)),
        Command::CreateRepository(c) => one(Draft::new("REPO_CREATED")
            .repository(&c.name)
            .detail("public", json!(c.public))
            .detail("immutableTags", json!(c.immutable_tags))
            .detail("signedPullsOnly", json!(c.signed_pulls_only))),
        Command::UpdateRepository(c) => {
            let mut draft = Draft::new("REPO_UPDATED").repository(&c.name);
            for (name, value) in [("public", c.public), ("immutableTags", c.immutable_tags), ("signedPullsOnly", c.signed_pulls_only)] {
                if let Some(value) = value {
                    draft = draft.detail(name, json!(value));
                }
            }
            if c.short_description.is_some() || c.long_description.is_some() {
                draft = draft.detail("description", json!(true));
            }
            if let Some(keys) = &c.signature_keys {
                draft = draft.detail("signatureKeys", json!(keys.len()));
            }
            if let Some(limit) = c.tag_limit {
                draft = draft.detail("tagLimit", json!(limit));
            }
            one(draft)
        }
        Command::DeleteRepository(c) => one(Draft::new("REPO_DELETED").repository(&c.name)),
        Command::CreateAccount(c) => one(Draft::new("ACCOUNT_CREATE")
            .object(&c.name)
            .detail("kind", json!(c.kind))
            .detail("admin", json!(c.admin))
            .detail("active", json!(c.active))),
        Command::UpdateAccount(c) => {
            let mut draft = Draft::new("ACCOUNT_UPDATE").object(&c.name);
            for (name, value) in [("active", c.active), ("admin", c.admin)] {
                if let Some(value) = value {
                    draft = draft.detail(name, json!(value));
                }
            }
            if c.password_hash.is_some() {
                draft = draft.detail("password", json!("changed"));
            }
            if c.full_name.is_some() || c.email.is_some() {
                draft = draft.detail("profile", json!("changed"));
            }
            one(draft)
        }
        Command::DeleteAccount(c) => one(Draft::new("ACCOUNT_DELETE").object(&c.name)),
        Command::CreateTeam(c) => one(Draft::new("TEAM_CREATE").object(format!("{}/{}", c.org, c.team))),
        Command::DeleteTeam(c) => one(Draft::new("TEAM_DELETE").object(format!("{}/{}", c.org, c.team))),
        Command::SetTeamMember(c) => {
            let kind = if c.member { "TEAM_MEMBER_ADD" } else { "TEAM_MEMBER_REMOVE" };
            one(Draft::new(kind).object(format!("{}/{}", c.org, c.team)).detail("member", json!(c.user)))
        }
        Command::SetTeamSync(c) => {
            one(Draft::new("TEAM_SYNC_UPDATE").object(format!("{}/{}", c.org, c.team)).detail("linked", json!(c.link.is_some())))
        }
        Command::SetGrant(c) => {
            let draft =
                Draft::new("GRANT_UPDATE").object(format!("{}/{}", c.org, c.team)).detail("level", json!(c.level.map(|l| l.as_str())));
            one(match &c.target {
                GrantTarget::Repository(r) => draft.repository(r),
                GrantTarget::Namespace(ns) => draft.detail("namespace", json!(ns)),
            })
        }
        Command::CreateAccessToken(c) => one(Draft::new("TOKEN_CREATE")
            .object(&c.user)
            .detail("token", json!(c.id))
            .detail("name", json!(c.name))
            .detail("restricted", json!(!c.repositories.is_empty() || !c.actions.is_empty()))),
        Command::RevokeAccessToken(c) => {
            let user = match tx.open_table(ACCESS_TOKENS)?.get(c.id.as_str())? {
                Some(v) => Some(records::decode::<records::AccessToken>("access_tokens", v.value())?.user),
                None => None,
            };
            let draft = Draft::new("TOKEN_REVOKE").detail("token", json!(c.id));
            one(match user {
                Some(user) => draft.object(user),
                None => draft,
            })
        }
        Command::PutSetting(c) => {
            let draft = Draft::new("SETTING_UPDATE");
            one(match &c.setting {
                // A directory sync ends by storing its report: the run, with what it changed.
                Setting::LdapLastSync(report) => Draft::new("LDAP_SYNC")
                    .detail("directoryUsers", json!(report.directory_users))
                    .detail("usersCreated", json!(report.users_created))
                    .detail("usersUpdated", json!(report.users_updated))
                    .detail("usersDeactivated", json!(report.users_deactivated))
                    .detail("teamsSynced", json!(report.teams_synced))
                    .detail("membersAdded", json!(report.members_added))
                    .detail("membersRemoved", json!(report.members_removed))
                    .detail("problems", json!(report.problems.len())),
                // Written by every start of a new store: not changes anyone made.
                Setting::TokenSigningKey(_) | Setting::ClusterCa { .. } if c.only_if_absent => return Ok(Vec::new()),
                Setting::TokenSigningKey(_) => draft.object("token_signing_key"),
                Setting::ClusterCa { .. } => draft.object("cluster_ca"),
                Setting::AnonymousPulls(allowed) => draft.object("anonymous_pulls").detail("value", json!(allowed)),
                Setting::NamespacePolicy { namespace, policy } => {
                    draft.object(format!("{namespace}/signing_policy")).detail("value", json!(policy))
                }
                Setting::NamespaceQuota { namespace, bytes } => draft.object(format!("{namespace}/quota")).detail("value", json!(bytes)),
            })
        }
        Command::PutTrustMetadata(c) => {
            let mut before = Vec::new();
            let signed = tx.open_table(SIGNED_TAGS)?;
            for entry in signed.range((c.repository.as_str(), "")..)? {
                let (key, _) = entry?;
                let (repository, tag) = key.value();
                if repository != c.repository.as_str() {
                    break;
                }
                before.push(tag.to_owned());
            }
            let after: Vec<String> = c.signed.iter().map(|s| s.tag.clone()).collect();
            let newly: Vec<&String> = after.iter().filter(|t| !before.contains(t)).collect();
            let removed: Vec<&String> = before.iter().filter(|t| !after.contains(t)).collect();
            let roles: Vec<&str> = c.files.iter().map(|f| f.role.as_str()).collect();
            one(Draft::new("TRUST_UPDATE")
                .repository(&c.repository)
                .object(&c.gun)
                .detail("roles", json!(roles))
                .detail("signed", json!(newly))
                .detail("unsigned", json!(removed)))
        }
        Command::DeleteTrust(c) => {
            let draft = Draft::new("TRUST_DELETE").object(&c.gun);
            // A GUN is `host[:port]/namespace/repository`.
            one(match c.gun.split_once('/') {
                Some((_, repository)) => draft.repository(repository),
                None => draft,
            })
        }
        Command::PutTrustKey(c) if !c.only_if_none => {
            one(Draft::new("TRUST_KEY_ROTATE").repository(&c.repository).object(&c.gun).detail("role", json!(c.role)))
        }
        Command::CreateSession(c) => {
            let on_behalf = Origin { at: 0, user: Some(c.user.clone()), token: None, source: None, job: None };
            Ok(vec![Draft { on_behalf: Some(on_behalf), ..Draft::new("LOGIN") }])
        }
        Command::DeleteSession(_) => one(Draft::new("LOGOUT")),
        Command::CreateJoinToken(c) => one(Draft::new("REPLICA_JOIN_TOKEN_CREATE").detail("token", json!(c.id))),
        Command::RedeemJoinToken(c) => one(Draft::new("REPLICA_JOIN").object(&c.replica)),
        Command::RecordPullEvents(c) => Ok(c.drafts()),
        Command::CreateWebhook(c) => {
            one(Draft::new("WEBHOOK_CREATE").object(&c.id).detail("key", json!(c.hook.key)).detail("type", json!(c.hook.kind)))
        }
        Command::UpdateWebhook(c) => one(Draft::new("WEBHOOK_UPDATE").object(&c.id).detail("paused", json!(c.paused))),
        Command::DeleteWebhook(c) => one(Draft::new("WEBHOOK_DELETE").object(&c.id)),
        Command::Redeliver(c) => one(Draft::new("WEBHOOK_REDELIVER").object(c.delivery)),
        Command::CreatePruningPolicy(c) => one(pruning_policy_draft("PRUNING_POLICY_CREATE", &c.repository, &c.id, &c.policy)),
        Command::UpdatePruningPolicy(c) => one(pruning_policy_draft("PRUNING_POLICY_UPDATE", &c.repository, &c.id, &c.policy)),
        Command::DeletePruningPolicy(c) => one(Draft::new("PRUNING_POLICY_DELETE").repository(&c.repository).object(&c.id)),
        // Each removed tag is a tag deletion (webhooks on TAG_DELETE hear of it), saying why.
        Command::PruneTags(c) => {
            let why = match &c.policy {
                Some(id) => json!({"policy": id}),
                None => json!({"tagLimit": true}),
            };
            Ok(c.doomed(tx)?
                .into_iter()
                .map(|(tag, digest)| {
                    Draft::new("TAG_DELETE").repository(&c.repository).object(tag).digest(digest).detail("pruned", why.clone())
                })
                .collect())
        }
        Command::CreatePromotionPolicy(c) => one(promotion_policy_draft("PROMOTION_POLICY_CREATE", &c.repository, &c.id, &c.policy)),
        Command::UpdatePromotionPolicy(c) => one(promotion_policy_draft("PROMOTION_POLICY_UPDATE", &c.repository, &c.id, &c.policy)),
        Command::DeletePromotionPolicy(c) => one(Draft::new("PROMOTION_POLICY_DELETE").repository(&c.repository).object(&c.id)),
        Command::CreateMirrorPolicy(c) => one(mirror_policy_draft("MIRROR_POLICY_CREATE", &c.repository, &c.id, &c.policy)),
        Command::UpdateMirrorPolicy(c) => one(mirror_policy_draft("MIRROR_POLICY_UPDATE", &c.repository, &c.id, &c.policy)),
        Command::DeleteMirrorPolicy(c) => one(Draft::new("MIRROR_POLICY_DELETE").repository(&c.repository).object(&c.id)),
        Command::SetCacheNamespace(c) => one(match &c.cache {
            Some(cache) => Draft::new("CACHE_NAMESPACE_SET")
                .object(&c.namespace)
                .detail("upstream", json!(cache.upstream))
                .detail("username", json!(cache.username))
                .detail("ttlSecs", json!(cache.ttl_secs))
                .detail("public", json!(cache.public))
                .detail("mirrorsUnqualified", json!(cache.mirrors_unqualified)),
            None => Draft::new("CACHE_NAMESPACE_REMOVE").object(&c.namespace),
        }),
        // A promotion is a push to its target (webhooks, mirroring and the target's own
        // policies hear of it); one that cannot be made is recorded against its source.
        Command::PromoteManifest(c) => match c.plan(tx)? {
            Ok(copy) if copy.unchanged => Ok(Vec::new()),
            Ok(copy) => one(Draft::new("TAG_PUSH")
                .repository(&c.target)
                .object(&c.tag)
                .digest(&c.digest)
                .detail("mediaType", json!(copy.media_type))
                .detail("promotedFrom", json!({"repository": c.source, "tag": c.source_tag, "policy": c.policy}))),
            Err(why) => one(Draft::new("PROMOTION_FAIL")
                .repository(&c.source)
                .object(&c.source_tag)
                .digest(&c.digest)
                .detail("target", json!(format!("{}:{}", c.target, c.tag)))
                .detail("policy", json!(c.policy))
                .detail("reason", json!(why))),
        },
        Command::FinishGc(c) => one(Draft::new("GC_RUN")
            .object(&c.run.holder)
            .detail("dryRun", json!(c.run.dry_run))
            .detail("deleted", json!(c.run.deleted))
            .detail("bytesFreed", json!(c.run.bytes_freed))),
        Command::PutTrustKey(_)
        | Command::LinkBlob(_)
        | Command::LinkUploadedBlob(_)
        | Command::MountBlob(_)
        | Command::TouchAccessTokens(_)
        | Command::RecordPulls(_)
        | Command::PurgeSessions(_)
        | Command::RetireBlobs(_)
        | Command::ForgetRetiredBlobs(_)
        | Command::AcquireGcLock(_)
        | Command::PruneEvents(_)
        | Command::RecordDeliveries(_)
        | Command::PruneDeliveries(_)
        | Command::AdvanceCursor(_)
        | Command::RecordMirroring(_) => Ok(Vec::new()),
    }
}

/// A pruning policy's creation or change, with what it says.
fn pruning_policy_draft(kind: &'static str, repository: &berth_core::RepositoryName, id: &str, policy: &records::PruningPolicy) -> Draft {
    Draft::new(kind)
        .repository(repository)
        .object(id)
        .detail("enabled", json!(policy.enabled))
        .detail("rules", json!(policy.rules))
        .detail("keepNewest", json!(policy.keep_newest))
        .detail("pruneSigned", json!(policy.prune_signed))
        .detail("pruneImmutable", json!(policy.prune_immutable))
}

/// A promotion policy's creation or change, with what it says.
fn promotion_policy_draft(
    kind: &'static str,
    repository: &berth_core::RepositoryName,
    id: &str,
    policy: &records::PromotionPolicy,
) -> Draft {
    Draft::new(kind)
        .repository(repository)
        .object(id)
        .detail("enabled", json!(policy.enabled))
        .detail("rules", json!(policy.rules))
        .detail("target", json!(policy.target))
        .detail("tagTemplate", json!(policy.tag_template))
}

/// A mirroring policy's creation or change, with what it says (never its password).
fn mirror_policy_draft(kind: &'static str, repository: &berth_core::RepositoryName, id: &str, policy: &records::MirrorPolicy) -> Draft {
    Draft::new(kind)
        .repository(repository)
        .object(id)
        .detail("direction", json!(policy.direction))
        .detail("enabled", json!(policy.enabled))
        .detail("rules", json!(policy.rules))
        .detail("remote", json!(format!("{}/{}", policy.remote_host, policy.remote_repository)))
        .detail("username", json!(policy.username))
}

/// Reads and advances a sequence.
pub(crate) fn next(tx: &WriteTransaction, name: &str) -> Result<u64, Error> {
    let mut counters = tx.open_table(COUNTERS)?;
    let id = counters.get(name)?.map_or(0, |v| v.value()) + 1;
    counters.insert(name, id)?;
    Ok(id)
}

/// Appends one event, and queues it for the webhooks subscribed to it.
fn append(tx: &WriteTransaction, origin: &Origin, draft: Draft, refused: Option<&'static str>) -> Result<u64, Error> {
    let by = draft.on_behalf.as_ref().map_or(origin, |o| o);
    // Never earlier than the event before: time filters then bound a range of ids.
    let at = {
        let mut counters = tx.open_table(COUNTERS)?;
        let last = counters.get("event_at")?.map_or(0, |v| v.value());
        let at = (if by.at == 0 { origin.at } else { by.at }).max(last);
        counters.insert("event_at", at)?;
        at
    };
    let id = next(tx, "event")?;
    let event = Event {
        at,
        kind: draft.kind.to_owned(),
        user: by.user.clone(),
        token: by.token.clone(),
        source: by.source.clone().or_else(|| origin.source.clone()),
        job: if draft.on_behalf.is_some() { None } else { origin.job.clone() },
        repository: draft.repository,
        object: draft.object,
        digest: draft.digest,
        details: draft.details,
        refused: refused.map(str::to_owned),
        count: draft.count.max(1),
    };
    tx.open_table(EVENTS)?.insert(id, records::encode(&event).as_slice())?;
    if let Some(repository) = &event.repository {
        tx.open_table(EVENTS_BY_REPOSITORY)?.insert((repository.as_str(), id), ())?;
    }
    if let Some(user) = &event.user {
        tx.open_table(EVENTS_BY_USER)?.insert((user.as_str(), id), ())?;
    }
    tx.open_table(EVENTS_BY_KIND)?.insert((event.kind.as_str(), id), ())?;
    if event.refused.is_none() {
        queue_deliveries(tx, id, &event)?;
    }
    Ok(id)
}

/// Queues a delivery of `event` to every webhook subscribed to it (paused ones excepted).
fn queue_deliveries(tx: &WriteTransaction, id: u64, event: &Event) -> Result<(), Error> {
    let Some(repository) = &event.repository else { return Ok(()) };
    let mut subscribed = Vec::new();
    for entry in tx.open_table(WEBHOOKS)?.iter()? {
        let (key, value) = entry?;
        let hook: Webhook = records::decode("webhooks", value.value())?;
        if hook.paused.is_none() && subscribes(&hook.kind, &event.kind) && covers(&hook.key, repository) {
            subscribed.push((key.value().to_owned(), hook));
        }
    }
    for (hook_id, hook) in subscribed {
        queue(tx, &hook_id, id, payload(&hook.kind, event), event.at)?;
    }
    Ok(())
}

/// Queues one delivery, due now, dropping the hook's oldest finished one past the log's size.
pub(crate) fn queue(tx: &WriteTransaction, hook: &str, event: u64, payload: String, at: u64) -> Result<u64, Error> {
    let id = next(tx, "delivery")?;
    let delivery = Delivery {
        hook: hook.to_owned(),
        event,
        payload,
        state: DeliveryState::Pending,
        attempts: 0,
        created_at: at,
        due_at: at,
        status: None,
        error: None,
        duration_ms: 0,
        attempted_at: 0,
    };
    tx.open_table(DELIVERIES)?.insert(id, records::encode(&delivery).as_slice())?;
    tx.open_table(DUE_DELIVERIES)?.insert((at, id), ())?;
    let mut by_hook = tx.open_table(HOOK_DELIVERIES)?;
    by_hook.insert((hook, id), ())?;
    // The oldest entry goes once the log is full (ids grow, so the first is the oldest);
    // one per new entry keeps the log at its size.
    if id > DELIVERIES_KEPT {
        let oldest = by_hook.range((hook, 0)..(hook, id.saturating_sub(DELIVERIES_KEPT)))?.next().transpose()?.map(|(k, _)| k.value().1);
        if let Some(oldest) = oldest {
            let mut deliveries = tx.open_table(DELIVERIES)?;
            let finished = match deliveries.get(oldest)? {
                Some(v) => records::decode::<Delivery>("deliveries", v.value())?.state != DeliveryState::Pending,
                None => true,
            };
            if finished {
                deliveries.remove(oldest)?;
                by_hook.remove((hook, oldest))?;
            }
        }
    }
    Ok(id)
}

/// The RFC 3339 form of a time in milliseconds.
pub fn rfc3339(millis: u64) -> String {
    let nanos = i128::from(millis) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// The body posted to a webhook of type `hook_type` for `event`: `{type, createdAt,
/// contents}` as DTR sent it. `imageName` lacks the registry's host, which the worker
/// that knows it puts in front.
pub fn payload(hook_type: &str, event: &Event) -> String {
    let repository = event.repository.clone().unwrap_or_default();
    let (namespace, name) = repository.split_once('/').unwrap_or(("", repository.as_str()));
    let author = event.user.clone().or_else(|| event.job.clone()).unwrap_or_default();
    let at = rfc3339(event.at);
    let mut contents = serde_json::Map::new();
    contents.insert("namespace".into(), json!(namespace));
    contents.insert("repository".into(), json!(name));
    let image = |suffix: &str| json!(format!("{repository}{suffix}"));
    match event.kind.as_str() {
        "TAG_PUSH" | "MANIFEST_PUSH" | "TAG_PULL" | "MANIFEST_PULL" | "TAG_DELETE" | "MANIFEST_DELETE" => {
            let tag = event.object.clone();
            let digest = event.digest.clone().unwrap_or_default();
            if let Some(tag) = &tag {
                contents.insert("tag".into(), json!(tag));
                contents.insert("imageName".into(), image(&format!(":{tag}")));
            } else {
                contents.insert("imageName".into(), image(&format!("@{digest}")));
            }
            contents.insert("digest".into(), json!(digest));
            if let Some(media_type) = event.details.get("mediaType") {
                contents.insert("mediaType".into(), media_type.clone());
            }
            let verb = match event.kind.as_str() {
                "TAG_PUSH" | "MANIFEST_PUSH" => "pushedAt",
                "TAG_PULL" | "MANIFEST_PULL" => "pulledAt",
                _ => "deletedAt",
            };
            contents.insert(verb.into(), json!(at));
            contents.insert("author".into(), json!(author));
            if event.kind.ends_with("_PULL") {
                contents.insert("count".into(), json!(event.count));
            }
        }
        kind => {
            contents.insert("type".into(), json!(kind));
            contents.insert("author".into(), json!(author));
            for (name, value) in &event.details {
                contents.insert(name.clone(), value.clone());
            }
            if let Some(object) = &event.object {
                contents.insert("object".into(), json!(object));
            }
        }
    }
    json!({"type": hook_type, "createdAt": at, "contents": contents}).to_string()
}

impl Rejection {
    /// A short name of the refusal, for the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::MissingReferences(_) => "MISSING_REFERENCES",
            Rejection::BlobUnknown => "BLOB_UNKNOWN",
            Rejection::ManifestUnknown => "MANIFEST_UNKNOWN",
            Rejection::TagUnknown => "TAG_UNKNOWN",
            Rejection::TagImmutable | Rejection::TagImmutableDeletion(_) => "TAG_IMMUTABLE",
            Rejection::AccountExists => "ACCOUNT_EXISTS",
            Rejection::AccountUnknown => "ACCOUNT_UNKNOWN",
            Rejection::NotAnOrganization => "NOT_AN_ORGANIZATION",
            Rejection::TeamExists => "TEAM_EXISTS",
            Rejection::TeamUnknown => "TEAM_UNKNOWN",
            Rejection::OwnersTeamKept => "OWNERS_TEAM",
            Rejection::RepositoryExists => "REPOSITORY_EXISTS",
            Rejection::RepositoryUnknown => "REPOSITORY_UNKNOWN",
            Rejection::TokenUnknown => "TOKEN_UNKNOWN",
            Rejection::TrustVersionStale(_) => "TRUST_VERSION_STALE",
            Rejection::NamespaceUnknown => "NAMESPACE_UNKNOWN",
            Rejection::NamespaceInUse => "NAMESPACE_IN_USE",
            Rejection::LastAdministrator => "LAST_ADMINISTRATOR",
            Rejection::TagSigned(_) => "TAG_SIGNED",
            Rejection::TrustCollectionExists(_) => "TRUST_COLLECTION_EXISTS",
            Rejection::ExpiryInThePast => "EXPIRY_IN_THE_PAST",
            Rejection::BlobRetired => "BLOB_RETIRED",
            Rejection::GcRunning(_) => "GC_RUNNING",
            Rejection::ManifestInUse => "MANIFEST_IN_USE",
            Rejection::QuotaExceeded { .. } => "QUOTA_EXCEEDED",
            Rejection::WebhookUnknown => "WEBHOOK_UNKNOWN",
            Rejection::DeliveryUnknown => "DELIVERY_UNKNOWN",
            Rejection::PolicyUnknown => "POLICY_UNKNOWN",
            Rejection::NamespaceIsCache => "NAMESPACE_IS_CACHE",
            Rejection::MirrorTaken(_) => "MIRROR_TAKEN",
        }
    }
}
