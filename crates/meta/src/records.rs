//! Stored values. Each is serialized with a `version` tag: a new shape is a new variant,
//! decoded into the current type; old variants are never changed.

use berth_core::{Action, Descriptor, Digest};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::Error;

/// A repository. Fields added after version 1 are optional with defaults, so every
/// stored version-1 record still decodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct Repository {
    /// When it was created (seconds since the epoch).
    pub created_at: u64,
    /// Whether anyone (and anonymous callers, when allowed) may pull.
    #[serde(default)]
    pub public: bool,
    /// Whether a pushed tag may never be moved.
    #[serde(default)]
    pub immutable_tags: bool,
    /// One-line description.
    #[serde(default)]
    pub short_description: String,
    /// Long description (Markdown).
    #[serde(default)]
    pub long_description: String,
    /// Pulls by tag answer only for tags signed in the repository's trust data.
    #[serde(default)]
    pub signed_pulls_only: bool,
    /// PEM public keys whose cosign signatures (OCI referrers) also count as signed.
    #[serde(default)]
    pub signature_keys: Vec<String>,
    /// The most tags the repository keeps (0: no limit): a push past it prunes the
    /// oldest tags that may go.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tag_limit: u64,
}

/// Whether an account is a person or an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// A user, who can log in.
    User,
    /// An organization, which holds teams and repositories.
    Org,
}

/// A user or an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct Account {
    /// User or org.
    pub kind: AccountKind,
    /// Display name.
    pub full_name: String,
    /// E-mail address.
    pub email: String,
    /// argon2id PHC string (users with a local password).
    pub password_hash: Option<String>,
    /// Inactive users cannot log in.
    pub active: bool,
    /// System administrators may do everything.
    pub admin: bool,
    /// The LDAP entry the account comes from, if synced.
    pub ldap_dn: Option<String>,
    /// When it was created.
    pub created_at: u64,
    /// Advanced by every password change and every (de)activation: credentials derived
    /// from the account (cached logins, bearer and refresh tokens) record the epoch they
    /// were made in and stop working when it moves.
    #[serde(default)]
    pub credential_epoch: u64,
}

/// A team of an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct Team {
    /// Description.
    pub description: String,
    /// When it was created.
    pub created_at: u64,
    /// Where the directory sync takes the members from; `None` for a team managed by hand.
    #[serde(default)]
    pub ldap_sync: Option<TeamSync>,
}

/// How a team's members are taken from the LDAP directory: either the members of a group
/// entry, or the entries a search finds. Members are matched to accounts by their DN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamSync {
    /// Whether the sync job sets this team's members.
    pub enabled: bool,
    /// `true`: the values of `group_member_attribute` of the entry `group_dn`;
    /// `false`: the entries under `search_base_dn` matching `search_filter`.
    pub select_group_members: bool,
    /// The group entry.
    pub group_dn: String,
    /// The group's attribute listing member DNs (`member`, `uniqueMember`).
    pub group_member_attribute: String,
    /// Where the search starts.
    pub search_base_dn: String,
    /// The search filter.
    pub search_filter: String,
    /// Whole subtree (`true`) or one level below the base.
    pub search_subtree: bool,
}

/// An access token: usable wherever the user's password is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct AccessToken {
    /// The user it acts for.
    pub user: String,
    /// The user's name for it.
    pub name: String,
    /// SHA-256 (hex) of the secret; the secret itself is shown once and never stored.
    pub secret_sha256: String,
    /// When it was created.
    pub created_at: u64,
    /// When it stops working, if ever.
    pub expires_at: Option<u64>,
    /// When it was last used (recorded at most once a minute).
    pub last_used: Option<u64>,
    /// Repositories it is limited to (empty: all the user may reach).
    pub repositories: Vec<String>,
    /// Actions it is limited to (`pull`, `push`, `delete`; empty: all three).
    pub actions: Vec<Action>,
}

/// A repository's link to a blob: the repository may serve it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct BlobLink {
    /// The blob's size.
    pub size: u64,
    /// When the link was made.
    pub linked_at: u64,
}

/// A manifest in a repository (its bytes are in `manifest_content`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct Manifest {
    /// Media type it was pushed with.
    pub media_type: String,
    /// Size of its bytes.
    pub size: u64,
    /// Artifact type reported by the referrers API.
    pub artifact_type: Option<String>,
    /// Blobs it references.
    pub blobs: Vec<Digest>,
    /// Manifests it references (index children).
    pub children: Vec<Digest>,
    /// The manifest it refers to, if any.
    pub subject: Option<Digest>,
    /// When it was pushed.
    pub pushed_at: u64,
    /// Who pushed it, when known.
    #[serde(default)]
    pub pushed_by: Option<String>,
    /// When it was last pulled (recorded at most once a minute).
    #[serde(default)]
    pub last_pulled: Option<u64>,
}

/// An entry of the referrers index: the descriptor the referrers API returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct Referrer {
    /// The referrer's descriptor.
    pub descriptor: Descriptor,
}

/// Encodes a record for storage.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Records are plain structs of strings and numbers: serialization cannot fail.
    serde_json::to_vec(record).unwrap_or_default()
}

/// Decodes a stored record, naming the table on failure.
pub fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt { table, detail: e.to_string() })
}

/// A private key the trust service holds for one role of a GUN (timestamp or snapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct TrustKey {
    /// The TUF key type (`ed25519`).
    pub keytype: String,
    /// The public key as TUF writes it (base64).
    pub public: String,
    /// The private key, PKCS#8 DER in base64.
    pub private_pkcs8: String,
    /// When it was created; the newest key of a role is the one handed out.
    pub created_at: u64,
}

/// A tag signed in a repository's trust data: the digest its signature names, and the
/// role that signed it (`targets` or a delegation such as `targets/releases`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct SignedTarget {
    /// The signed manifest digest, `sha256:<hex>`.
    pub digest: String,
    /// The role whose metadata lists it.
    pub role: String,
}

/// What a directory sync did (the last run's report is kept as a setting).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LdapSyncReport {
    /// When the run started (seconds since the epoch).
    pub started_at: u64,
    /// When it ended.
    pub finished_at: u64,
    /// User entries the directory listed.
    pub directory_users: usize,
    /// Accounts created.
    pub users_created: usize,
    /// Accounts whose details changed or that were reactivated.
    pub users_updated: usize,
    /// Accounts deactivated because their entry is gone.
    pub users_deactivated: usize,
    /// Teams whose members were set.
    pub teams_synced: usize,
    /// Members added to teams.
    pub members_added: usize,
    /// Members removed from teams.
    pub members_removed: usize,
    /// What could not be done, one line each (the run goes on past them).
    pub problems: Vec<String>,
}

/// A one-time token a new replica joins the cluster with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct JoinToken {
    /// SHA-256 (hex) of the secret; the secret is shown once and never stored.
    pub secret_sha256: String,
    /// When it was made.
    pub created_at: u64,
    /// When it stops working.
    pub expires_at: u64,
    /// The replica that used it, once used.
    pub used_by: Option<String>,
}

/// One move of a tag: where it pointed from then on (`None`: deleted), when, by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct TagEvent {
    /// The manifest it pointed to, or `None` when the tag was deleted.
    pub digest: Option<String>,
    /// When.
    pub at: u64,
    /// Who, when known.
    pub by: Option<String>,
}

/// A web UI sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct Session {
    /// The user.
    pub user: String,
    /// SHA-256 (hex) of the session's secret (the cookie holds the secret).
    pub secret_sha256: String,
    /// The user's credential epoch at sign-in: a password change or a deactivation ends it.
    pub epoch: u64,
    /// When it began.
    pub created_at: u64,
    /// When it ends.
    pub expires_at: u64,
}

/// Who runs garbage collection, until when (renewed as it goes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct GcLock {
    /// The replica and run holding it.
    pub holder: String,
    /// When it lapses unless renewed.
    pub until: u64,
}

/// A garbage collection run: its progress while it runs, its result after.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct GcRun {
    /// The replica and run.
    pub holder: String,
    /// Only counted, nothing deleted.
    pub dry_run: bool,
    /// When it started.
    pub started_at: u64,
    /// When it ended (0 while running).
    pub finished_at: u64,
    /// Blobs in storage looked at.
    pub examined: u64,
    /// Blobs deleted (or, in a dry run, that would be).
    pub deleted: u64,
    /// Their bytes.
    pub bytes_freed: u64,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
    /// Untagged manifests deleted (or, in a dry run, that would be), when asked to.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub manifests_deleted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One entry of the audit log: a change (or a refused one), or pulls of one manifest by
/// one caller from one address, counted over a few seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct Event {
    /// When (milliseconds since the epoch; never earlier than the event before it).
    pub at: u64,
    /// What: `TAG_PUSH`, `REPO_CREATED`, `ACCOUNT_UPDATE`, … (see [`crate::audit`]).
    pub kind: String,
    /// The user, `None` for an anonymous caller or a job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The access token the user presented (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The caller's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The background job that acted, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The repository concerned, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// What else it concerns: a tag, an account, `org/team`, a setting's name, a GUN, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The manifest concerned, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Further facts, by name (never a secret).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub details: std::collections::BTreeMap<String, serde_json::Value>,
    /// `None` when it was done; the refusal's code when it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// How many times it happened (pulls are counted together; 1 otherwise).
    pub count: u64,
}

/// A webhook: events of one kind in a repository or namespace, posted to an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct Webhook {
    /// The event type it subscribes to (`TAG_PUSH`, …, `REPO_EVENT`, `SECURITY_EVENT`).
    pub kind: String,
    /// `namespace/repository` or `namespace`.
    pub key: String,
    /// Where events are posted.
    pub endpoint: String,
    /// PEM certificates the endpoint's TLS certificate must chain to (instead of the
    /// system's), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    /// The signing secret, sealed with the master key.
    pub sealed_secret: String,
    /// Who made it.
    pub created_by: String,
    /// When (seconds since the epoch).
    pub created_at: u64,
    /// Deliveries that failed in a row (each after all its retries).
    #[serde(default)]
    pub failures: u32,
    /// Why deliveries are paused, while they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed.
    Failed,
}

/// One event posted (or to be posted) to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct Delivery {
    /// The webhook.
    pub hook: String,
    /// The event delivered (0 for a test delivery).
    pub event: u64,
    /// The payload, `{type, createdAt, contents}`.
    pub payload: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When it was queued (milliseconds since the epoch).
    pub created_at: u64,
    /// When the next attempt is due (pending deliveries).
    pub due_at: u64,
    /// The last attempt's HTTP status, if the endpoint answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The last attempt's failure, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the last attempt took (milliseconds).
    #[serde(default)]
    pub duration_ms: u64,
    /// When the last attempt ended (milliseconds since the epoch; 0 before any).
    #[serde(default)]
    pub attempted_at: u64,
}

/// A condition on a tag, as the pruning (and later promotion) policies state them:
/// `field` `operator` any of `values`. The registry checks rules before storing them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRule {
    /// What is compared: `tag`, `pushed`, `pulled`.
    pub field: String,
    /// How: `eq`, `neq`, `sw`, `ew`, `contains`, `matches` for names; `olderThan` for times.
    pub operator: String,
    /// What with: the rule holds when any value does (`neq`: when none is equal).
    pub values: Vec<String>,
}

/// A repository's pruning policy: tags matching every rule go, but for the newest
/// `keep_newest` of them; signed and immutable tags stay unless the policy says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct PruningPolicy {
    /// Whether the schedule runs it (an on-demand run does either way).
    pub enabled: bool,
    /// The rules; all must hold.
    pub rules: Vec<TagRule>,
    /// Of the matching tags, the newest this many stay.
    #[serde(default)]
    pub keep_newest: u64,
    /// Tags signed in the trust data may go too.
    #[serde(default)]
    pub prune_signed: bool,
    /// Tags of a repository whose tags are immutable may go too.
    #[serde(default)]
    pub prune_immutable: bool,
    /// Who made it.
    pub created_by: String,
    /// When (seconds since the epoch).
    pub created_at: u64,
    /// The last run that removed tags or found none to remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<PruningRun>,
}

/// One run of a pruning policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruningRun {
    /// When (seconds since the epoch).
    pub at: u64,
    /// Tags removed.
    pub pruned: u64,
    /// Why the run removed nothing, when it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A repository's promotion policy: a tag pushed (or signed) that matches every rule is
/// copied to `target` under `tag_template`, through the metadata alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct PromotionPolicy {
    /// Whether it acts.
    pub enabled: bool,
    /// The rules; all must hold.
    pub rules: Vec<TagRule>,
    /// The repository promoted to.
    pub target: String,
    /// The tag made there: `{tag}`, `{digest}` (12 hex digits), `{date}` (YYYYMMDD, UTC) and
    /// `{time}` (HHMMSS) are replaced.
    pub tag_template: String,
    /// Who made it.
    pub created_by: String,
    /// When (seconds since the epoch).
    pub created_at: u64,
    /// The last event in the audit log when it was made: it acts on later pushes only.
    #[serde(default)]
    pub since_event: u64,
    /// Its last promotion, or attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<PromotionOutcome>,
}

/// One promotion, done or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionOutcome {
    /// When (seconds since the epoch).
    pub at: u64,
    /// The tag promoted.
    pub source_tag: String,
    /// The manifest.
    pub digest: String,
    /// The tag made in the target.
    pub target_tag: String,
    /// Why it was not done, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Which way a mirroring policy copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MirrorDirection {
    /// Pushes of matching tags here are pushed to the remote registry.
    Push,
    /// The remote repository's matching tags are pulled here on a schedule.
    Poll,
}

/// A repository's mirroring policy: to a remote registry (push) or from one (poll). The
/// remote's password is sealed with the master key; the registry never shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct MirrorPolicy {
    /// Push or poll.
    pub direction: MirrorDirection,
    /// Whether it acts.
    pub enabled: bool,
    /// The rules a tag must meet; all must hold.
    pub rules: Vec<TagRule>,
    /// The remote registry: `https://host[:port]` (or `http://`).
    pub remote_host: String,
    /// The repository there.
    pub remote_repository: String,
    /// The tag made there (push): `{tag}`, `{digest}`, `{date}`, `{time}` are replaced.
    pub tag_template: String,
    /// The user to log in to the remote as, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// That user's password (or token), sealed with the master key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_password: Option<String>,
    /// PEM certificates the remote's must chain to, instead of the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ca: Option<String>,
    /// Poll: seconds between two polls.
    #[serde(default)]
    pub poll_every_secs: u64,
    /// Who made it.
    pub created_by: String,
    /// When (seconds since the epoch).
    pub created_at: u64,
    /// Push: the last event in the audit log when it was made (it acts on later pushes).
    #[serde(default)]
    pub since_event: u64,
    /// Push: the tags whose mirroring failed and is tried again, by remote tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingMirror>,
    /// Poll: when the next poll is due (milliseconds since the epoch; 0: at once).
    #[serde(default)]
    pub next_poll_at: u64,
    /// Poll: failed polls in a row (a failed poll is tried again sooner than the next
    /// scheduled one, backing off).
    #[serde(default)]
    pub failures: u32,
    /// The latest mirrorings and failures, oldest first (at most [`MIRROR_LOG_KEPT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<MirrorLogEntry>,
}

/// How many entries a mirroring policy's log keeps.
pub const MIRROR_LOG_KEPT: usize = 50;
/// How many failed tags a push mirroring policy keeps retrying at once.
pub const MIRROR_PENDING_KEPT: usize = 100;

/// A tag a push mirroring policy will try again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMirror {
    /// The local tag.
    pub tag: String,
    /// The manifest to mirror.
    pub digest: String,
    /// The tag to make in the remote repository.
    pub remote_tag: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When the first attempt was made (milliseconds since the epoch).
    pub first_at: u64,
    /// When the next is due (milliseconds since the epoch).
    pub next_at: u64,
}

/// One mirroring, or one failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorLogEntry {
    /// When it ended (milliseconds since the epoch).
    pub at: u64,
    /// The local tag (empty for a poll that failed before any tag).
    pub tag: String,
    /// The manifest (empty when not known).
    pub digest: String,
    /// The tag at the remote.
    pub remote_tag: String,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether it will be tried again (a failure that is not given up).
    #[serde(default)]
    pub will_retry: bool,
}

/// A namespace that is a pull-through cache of an upstream registry: its repositories are
/// the upstream's, fetched when first pulled and kept. The password is sealed with the
/// master key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename = "1")]
pub struct CacheNamespace {
    /// The upstream registry: `https://host[:port]`.
    pub upstream: String,
    /// The user to log in to the upstream as, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// That user's password (or token), sealed with the master key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_password: Option<String>,
    /// PEM certificates the upstream's must chain to, instead of the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ca: Option<String>,
    /// A pull by tag asks the upstream again once the tag was checked this long ago (seconds).
    pub ttl_secs: u64,
    /// Every user (and anonymous callers, when the registry allows anonymous pulls) may pull.
    pub public: bool,
    /// Names whose namespace is no account are served from this cache (`library/alpine` as
    /// `<namespace>/library/alpine`): the registry is a transparent mirror of the upstream,
    /// as Docker's `registry-mirrors` and containerd's `hosts.toml` use one.
    #[serde(default)]
    pub mirrors_unqualified: bool,
    /// Who made it.
    pub created_by: String,
    /// When (seconds since the epoch).
    pub created_at: u64,
}
