//! The bodies `/api/v0` answers with, in DTR's shapes: the handlers build them, the
//! OpenAPI document describes them, and the `berth` command line reads them, so the
//! three cannot drift apart. (Request bodies live with their handlers.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The error envelope every failure answers with.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// One entry (Berth never answers more).
    pub errors: Vec<ErrorEntry>,
}

/// One error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorEntry {
    /// A stable code, e.g. `NO_SUCH_ACCOUNT`, `NOT_AUTHORIZED`, `INVALID_INPUT`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// More, when there is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

/// A user or an organization.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Its name, which is also its namespace.
    pub name: String,
    /// Display name.
    pub full_name: String,
    /// E-mail address.
    pub email: String,
    /// An organization (else a user).
    pub is_org: bool,
    /// A system administrator.
    pub is_admin: bool,
    /// May sign in (users).
    pub is_active: bool,
}

/// A page of accounts, by name (`Link` and `X-Total-Count` headers say what remains).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountPage {
    /// The accounts.
    pub accounts: Vec<Account>,
}

/// A team of an organization.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Its organization.
    pub org_name: String,
    /// When it was made (seconds since the epoch).
    pub created_at: u64,
}

/// Something named.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Named {
    /// The name.
    pub name: String,
}

/// An organization's teams.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TeamList {
    /// The teams, by name.
    pub teams: Vec<Named>,
}

/// A member of a team.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// The user.
    pub member: Named,
}

/// A team's members.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    /// The members, by name.
    pub members: Vec<Member>,
}

/// An empty object: the change was made.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Done {}

/// A repository and its settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    /// Its namespace (a user or organization).
    pub namespace: String,
    /// Its name within the namespace.
    pub name: String,
    /// `public` or `private`.
    pub visibility: String,
    /// One line.
    pub short_description: String,
    /// Markdown.
    pub long_description: String,
    /// Tags never move once pushed.
    pub immutable_tags: bool,
    /// Pulls by tag must be signed.
    pub signed_pulls_only: bool,
    /// Public keys whose cosign or notation signatures count.
    pub signature_keys: Vec<String>,
    /// The most tags kept (0: no limit); a push past it prunes the oldest tags that may go.
    pub tag_limit: u64,
}

/// A page of repositories, by full name (`Link` and `X-Total-Count` headers say what
/// remains).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RepositoryPage {
    /// The repositories.
    pub repositories: Vec<Repository>,
}

/// A team, named with its organization.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamRef {
    /// The team.
    pub name: String,
    /// Its organization.
    pub org_name: String,
}

/// A team's access level to a repository or namespace.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamAccess {
    /// The team.
    pub team: TeamRef,
    /// `read-only`, `read-write` or `admin`; `null` once withdrawn.
    pub access_level: Option<String>,
}

/// A repository, named by namespace and name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RepositoryRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name within the namespace.
    pub name: String,
}

/// The teams with access to a repository.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryTeamAccess {
    /// The repository.
    pub repository: RepositoryRef,
    /// Each team and its level.
    pub team_access_list: Vec<TeamAccess>,
}

/// The teams with access to every repository of a namespace.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceTeamAccess {
    /// The namespace.
    pub namespace: String,
    /// Each team and its level.
    pub team_access_list: Vec<TeamAccess>,
}

/// A user's effective access to a repository.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAccess {
    /// The user.
    pub user: Named,
    /// The repository.
    pub repository: RepositoryRef,
    /// `read-only`, `read-write`, `admin`, or `null` for none.
    pub access_level: Option<String>,
}

/// A tag with its content-trust state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    /// The tag.
    pub name: String,
    /// The manifest it points at.
    pub digest: Option<String>,
    /// Signed in the repository's trust data.
    pub in_notary: bool,
    /// Signed, but for another manifest than the one it points at.
    pub hash_mismatch: bool,
}

/// Who signed a tag.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Signer {
    /// The TUF role (`targets`, or a delegation such as `targets/releases`).
    pub role: String,
    /// `Repo Admin` for `targets`, else the delegation's name.
    pub name: String,
}

/// One tag's trust data.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagTrust {
    /// The tag.
    pub name: String,
    /// The manifest the registry's tag points at.
    pub digest: Option<String>,
    /// Signed in the repository's trust data.
    pub in_notary: bool,
    /// Signed, but for another manifest.
    #[serde(default)]
    pub hash_mismatch: bool,
    /// The digest the signature is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_digest: Option<String>,
    /// Who signed it.
    pub signers: Vec<Signer>,
}

/// An access token (its secret only in the answer that created it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// Its id.
    pub id: String,
    /// Its owner's name for it.
    pub name: String,
    /// When it was made (seconds since the epoch).
    pub created_at: u64,
    /// When it stops working, if it does.
    pub expires_at: Option<u64>,
    /// When it was last used, if it was.
    pub last_used: Option<u64>,
    /// The repositories it is limited to (none: every one its user may reach).
    pub repositories: Vec<String>,
    /// The actions it is limited to (none: every one).
    pub actions: Vec<String>,
    /// The secret, shown once, when created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A user's tokens.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    /// The tokens, without secrets.
    pub tokens: Vec<Token>,
}

/// A namespace's storage quota and use.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// The namespace.
    pub namespace: String,
    /// The most bytes its images may use; `null` for no limit.
    pub limit_bytes: Option<u64>,
    /// Bytes of the distinct blobs its images use.
    pub used_bytes: u64,
}

/// A garbage collection started.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GcStarted {
    /// The run's id: the replica and run.
    pub holder: String,
}

/// A garbage collection run, running or finished. A run going on on another replica
/// shows only its `holder` (its figures are that replica's).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcRun {
    /// The run's id: the replica and run.
    pub holder: String,
    /// Only counted, nothing deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// When it started (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    /// When it ended.
    #[serde(default)]
    pub finished_at: Option<u64>,
    /// Blobs in storage looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobs_examined: Option<u64>,
    /// Blobs deleted (a dry run: that would be).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobs_deleted: Option<u64>,
    /// Their bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_freed: Option<u64>,
    /// Untagged manifests deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests_deleted: Option<u64>,
    /// How long it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
    /// Why it stopped early.
    #[serde(default)]
    pub error: Option<String>,
    /// Storage shards done (a run on this replica).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards_done: Option<u64>,
    /// Storage shards in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards_total: Option<u64>,
    /// The time left, estimated (`null` while unknown).
    #[serde(default)]
    pub eta_seconds: Option<u64>,
}

/// The running garbage collection and the last finished one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GcStatus {
    /// The run going on, if any (from another replica: only its `holder`).
    pub running: Option<GcRun>,
    /// The last run that ended.
    pub last: Option<GcRun>,
}

/// One replica as it sees itself.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClusterMember {
    /// Its id (12 hex characters).
    pub id: String,
    /// Its address.
    pub address: String,
    /// It votes (else a learner, catching up).
    pub voter: bool,
    /// It leads.
    pub leader: bool,
    /// It answered.
    pub reachable: bool,
    /// `leader`, `follower`, `candidate`, `learner` or `unreachable`.
    pub state: String,
    /// Its current term.
    pub term: u64,
    /// The index of the last entry in its log.
    pub last_log_index: Option<u64>,
    /// The index of the last entry it applied.
    pub applied_index: Option<u64>,
    /// Entries behind the leader's log.
    pub lag: Option<u64>,
    /// It believes a quorum is with it.
    pub quorum: bool,
    /// Why it could not be reached.
    pub error: Option<String>,
}

/// The cluster's health, in DTR's shape, with every member's replication state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClusterStatus {
    /// Each replica: `OK`, `unhealthy: …` or `unreachable`.
    pub replica_health: BTreeMap<String, String>,
    /// When each reachable replica answered (RFC 3339).
    pub replica_timestamp: BTreeMap<String, String>,
    /// Each replica: refusing writes (no quorum).
    pub replica_readonly: BTreeMap<String, bool>,
    /// Kept for DTR clients (always empty; see `GET /api/v0/gc`).
    pub gc_lock_holder: String,
    /// The replica answering.
    pub replica: String,
    /// The cluster's id.
    pub cluster: String,
    /// The leader's id, if known.
    pub leader: Option<String>,
    /// The answering replica is with a quorum.
    pub quorum: bool,
    /// Every member.
    pub members: Vec<ClusterMember>,
}

/// A token for `berth join`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinToken {
    /// The token, shown once.
    pub token: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
}

/// What a directory sync did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LdapSyncReport {
    /// When it started (seconds since the epoch).
    pub started_at: u64,
    /// When it ended.
    pub finished_at: u64,
    /// User entries the directory listed.
    pub directory_users: u64,
    /// Accounts created.
    pub users_created: u64,
    /// Accounts updated or reactivated.
    pub users_updated: u64,
    /// Accounts deactivated (their entry is gone).
    pub users_deactivated: u64,
    /// Teams whose members were set.
    pub teams_synced: u64,
    /// Members added to teams.
    pub members_added: u64,
    /// Members removed from teams.
    pub members_removed: u64,
    /// What could not be done, one line each.
    pub problems: Vec<String>,
}

/// A webhook.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// Its id.
    pub id: String,
    /// The event type: `TAG_PUSH`, `TAG_PULL`, `TAG_DELETE`, `MANIFEST_PUSH`, `MANIFEST_PULL`,
    /// `MANIFEST_DELETE`, `REPO_EVENT` or `SECURITY_EVENT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `namespace/repository` or `namespace`.
    pub key: String,
    /// Where events are posted.
    pub endpoint: String,
    /// PEM certificates the endpoint's certificate must chain to, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    /// Who made it.
    pub created_by: String,
    /// When (seconds since the epoch).
    pub created_at: u64,
    /// Whether deliveries are paused.
    pub paused: bool,
    /// Why, while they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// Deliveries that failed in a row.
    pub failures: u32,
    /// The signing secret: shown once, when the webhook is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Webhooks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    /// The webhooks the caller manages.
    pub webhooks: Vec<Webhook>,
}

/// One delivery of an event to a webhook.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Its id (the `X-Berth-Delivery` header).
    pub id: u64,
    /// The event delivered.
    pub event_id: u64,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last answer's HTTP status, if the endpoint answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the last attempt took, milliseconds.
    pub duration_ms: u64,
    /// When it was queued (RFC 3339).
    pub created_at: String,
    /// When the last attempt ended, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempted_at: Option<String>,
    /// When the next attempt is due (pending deliveries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// The body posted.
    pub payload: String,
}

/// A webhook's deliveries, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    /// The deliveries.
    pub deliveries: Vec<Delivery>,
}

/// What a test delivery got.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTest {
    /// Whether the endpoint answered 2xx.
    pub delivered: bool,
    /// Its HTTP status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, milliseconds.
    pub duration_ms: u64,
}

/// One entry of the audit log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Its id (ids grow with time).
    pub id: u64,
    /// What: `TAG_PUSH`, `TAG_PULL`, `REPO_CREATED`, `ACCOUNT_UPDATE`, `GRANT_UPDATE`, ….
    #[serde(rename = "type")]
    pub kind: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// The user; absent for anonymous callers and jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The access token the user presented (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The caller's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    /// The background job that acted (`ldap-sync`, `gc`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The repository concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// What else it concerns: a tag, an account, `org/team`, a setting, a GUN, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The manifest concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Further facts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub details: BTreeMap<String, serde_json::Value>,
    /// `ok`, or the code of the refusal (`TAG_IMMUTABLE`, `QUOTA_EXCEEDED`, …).
    pub result: String,
    /// How many times it happened (pulls are counted together over a few seconds).
    pub count: u64,
}

/// A page of the audit log, newest first; `Link` names the next.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventList {
    /// The events.
    pub events: Vec<Event>,
}

/// A condition on a tag: `field` `operator` any of `values`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRule {
    /// `tag`, `pushed` (when the tag last moved) or `pulled` (its manifest's last pull, or
    /// its push when never pulled).
    pub field: String,
    /// For `tag`: `eq`, `neq`, `sw` (starts with), `ew` (ends with), `contains`, `matches`
    /// (a regular expression over the whole name); for `pushed` and `pulled`: `olderThan`.
    pub operator: String,
    /// The rule holds when any value does (`neq`: when none is equal); a duration is a
    /// number and a unit: `45s`, `15m`, `12h`, `30d`, `2w`.
    pub values: Vec<String>,
}

impl From<TagRule> for berth_registry::TagRule {
    fn from(r: TagRule) -> Self {
        berth_registry::TagRule { field: r.field, operator: r.operator, values: r.values }
    }
}

impl From<&berth_registry::TagRule> for TagRule {
    fn from(r: &berth_registry::TagRule) -> Self {
        TagRule { field: r.field.clone(), operator: r.operator.clone(), values: r.values.clone() }
    }
}

/// A pruning policy: tags matching every rule go, but for the newest `keepNewest`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PruningPolicy {
    /// Its id.
    pub id: String,
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
    /// Who made it.
    pub created_by: String,
    /// When (seconds since the epoch).
    pub created_at: u64,
    /// Its last run, if any.
    pub last_run: Option<PruningRun>,
}

/// One run of a pruning policy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PruningRun {
    /// When (seconds since the epoch).
    pub at: u64,
    /// Tags removed.
    pub pruned: u64,
    /// Why a scheduled run removed nothing, when it was refused.
    pub error: Option<String>,
}

/// What a run removed, or a dry run would.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PruningResult {
    /// Whether nothing was removed.
    pub dry_run: bool,
    /// The tags.
    pub tags: Vec<PrunedTag>,
}

/// A pruned tag.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PrunedTag {
    /// The tag.
    pub name: String,
    /// The manifest it pointed at.
    pub digest: String,
}

/// A promotion policy: later pushes (or signatures) of tags matching every rule are
/// copied to `targetRepository` under `tagTemplate`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionPolicy {
    /// Its id.
    pub id: String,
    /// Whether it acts.
    pub enabled: bool,
    /// The rules; all must hold: `tag` (as in pruning), `signed eq true|false`,
    /// `label eq key=value` or `label exists key`, `annotation eq|exists` likewise.
    pub rules: Vec<TagRule>,
    /// `namespace/repository` promoted to.
    pub target_repository: String,
    /// The tag made there.
    pub tag_template: String,
    /// Who made it.
    pub created_by: String,
    /// When (seconds since the epoch).
    pub created_at: u64,
    /// Its last promotion, or attempt.
    pub last_promotion: Option<Promotion>,
}

/// One promotion, done or not.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    /// When (seconds since the epoch).
    pub at: u64,
    /// The tag promoted.
    pub tag: String,
    /// The manifest.
    pub digest: String,
    /// The tag made in the target.
    pub target_tag: String,
    /// Why it was not made, when it was not.
    pub error: Option<String>,
}

/// A push or poll mirroring policy (its password is never shown).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MirrorPolicy {
    /// Its id.
    pub id: String,
    /// Whether it acts.
    pub enabled: bool,
    /// The rules a tag meets to be mirrored; all must hold. Push: as promotion's (`tag`,
    /// `signed`, `label`, `annotation`); poll: `tag` only.
    pub rules: Vec<TagRule>,
    /// The remote registry, `https://host[:port]`.
    pub remote_host: String,
    /// The repository there.
    pub remote_repository: String,
    /// Push: the tag made at the remote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_template: Option<String>,
    /// Poll: seconds between two polls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_every_secs: Option<u64>,
    /// The user Berth logs in to the remote as.
    pub username: Option<String>,
    /// Whether a password is stored for them (it is never shown).
    pub has_password: bool,
    /// PEM certificates the remote's must chain to.
    #[serde(rename = "remoteCA")]
    pub remote_ca: Option<String>,
    /// Who made it.
    pub created_by: String,
    /// When (seconds since the epoch).
    pub created_at: u64,
    /// `waiting` (nothing done yet), `ok`, `retrying` (push: failures to be tried again;
    /// poll: the last poll failed, and is tried again) or `failed` (push: the last
    /// attempt failed and was given up).
    pub status: String,
    /// Push: the tags to be tried again.
    pub pending: Vec<PendingMirror>,
    /// The latest mirrorings and failures, newest first.
    pub log: Vec<MirrorLogEntry>,
}

/// A tag a push mirroring policy will try again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingMirror {
    /// The local tag.
    pub tag: String,
    /// Its manifest.
    pub digest: String,
    /// The tag at the remote.
    pub remote_tag: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When the next is due (RFC 3339).
    pub next_at: String,
}

/// One mirroring, or a failed attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MirrorLogEntry {
    /// When it ended (RFC 3339).
    pub at: String,
    /// The local tag (empty for a poll that failed as a whole).
    pub tag: String,
    /// The manifest.
    pub digest: String,
    /// The tag at the remote.
    pub remote_tag: String,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Whether it will be tried again.
    pub will_retry: bool,
}

/// A namespace's pull-through cache settings (its password is never shown).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullThroughCache {
    /// The organization.
    pub namespace: String,
    /// The upstream registry, `https://host[:port]`.
    pub upstream: String,
    /// The user Berth logs in to the upstream as.
    pub username: Option<String>,
    /// Whether a password is stored for them (it is never shown).
    pub has_password: bool,
    /// PEM certificates the upstream's must chain to.
    #[serde(rename = "remoteCA")]
    pub remote_ca: Option<String>,
    /// Seconds a pulled tag is served before the upstream is asked again.
    pub ttl_secs: u64,
    /// Every user (and anonymous callers, when allowed) may pull.
    pub public: bool,
    /// Names whose namespace is no account (`library/alpine`) are served from this cache.
    pub mirrors_unqualified: bool,
    /// Who set it.
    pub created_by: String,
    /// When (seconds since the epoch).
    pub created_at: u64,
}
