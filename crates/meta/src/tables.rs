//! Every redb table, in one place. Keys are tuples compared element by element, so a
//! range over `(repository, "")..` walks one repository's entries in byte order (which is
//! the lexical order the tags and catalog APIs require).
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `"schema"` | `u64` |
//! | `raft_log` | log index | a replication log entry (JSON) |
//! | `raft_state` | `"vote"`, `"committed"`, `"purged"`, `"applied"`, `"membership"`, `"snapshot"`, `"replica"`, `"cluster"` | JSON |
//! | `repositories` | repository name | [`records::Repository`](crate::records::Repository) |
//! | `blob_links` | (repository, digest) | [`records::BlobLink`](crate::records::BlobLink) |
//! | `manifests` | (repository, digest) | [`records::Manifest`](crate::records::Manifest) |
//! | `manifest_repositories` | (digest, repository) | `()`: which repositories hold a manifest |
//! | `manifest_content` | digest | the manifest's bytes, exactly as pushed |
//! | `tags` | (repository, tag) | digest |
//! | `referrers` | (repository, subject digest, referrer digest) | [`records::Referrer`](crate::records::Referrer) |
//! | `accounts` | user or org name (one namespace for both) | [`records::Account`](crate::records::Account) |
//! | `teams` | (org, team) | [`records::Team`](crate::records::Team) |
//! | `team_members` | (org, team, user) | `()` |
//! | `memberships` | (user, org, team) | `()`: the reverse of `team_members` |
//! | `repository_grants` | (repository, org, team) | access level (`u8`) |
//! | `namespace_grants` | (namespace, org, team) | access level (`u8`) |
//! | `access_tokens` | token id | [`records::AccessToken`](crate::records::AccessToken) |
//! | `settings` | name | JSON value |
//! | `trust_files` | (GUN, role, version) | a TUF metadata file's bytes, exactly as received or signed |
//! | `trust_checksums` | (GUN, role, sha256 hex of the bytes) | version |
//! | `trust_current` | (GUN, role) | the current version |
//! | `trust_keys` | (GUN, role, key id) | [`records::TrustKey`](crate::records::TrustKey): a server-held key |
//! | `trust_guns` | (repository, GUN) | `()`: the one GUN (trust collection) of a repository |
//! | `signed_tags` | (repository, tag) | [`records::SignedTarget`](crate::records::SignedTarget): derived from the current trust data |
//! | `join_tokens` | token id | [`records::JoinToken`](crate::records::JoinToken) |
//! | `tag_history` | (repository, tag, sequence) | [`records::TagEvent`](crate::records::TagEvent): where the tag pointed, when, by whom |
//! | `sessions` | session id | [`records::Session`](crate::records::Session): a web UI sign-in |
//! | `blob_references` | (blob digest, repository, manifest digest) | the blob's size: which manifests use a blob |
//! | `namespace_usage` | namespace | bytes of distinct blobs its manifests use (what quotas limit) |
//! | `blob_repositories` | (blob digest, repository) | `()`: the reverse of `blob_links` |
//! | `retired_blobs` | blob digest | when: blobs garbage collection is deleting (no link may be made to them) |
//! | `events` | event id | [`records::Event`](crate::records::Event): the audit log, in the order applied |
//! | `events_by_repository` | (repository, event id) | `()` |
//! | `events_by_user` | (user, event id) | `()` |
//! | `events_by_kind` | (kind, event id) | `()` |
//! | `webhooks` | webhook id | [`records::Webhook`](crate::records::Webhook) |
//! | `deliveries` | delivery id | [`records::Delivery`](crate::records::Delivery) |
//! | `hook_deliveries` | (webhook id, delivery id) | `()` |
//! | `due_deliveries` | (due time ms, delivery id) | `()`: pending deliveries, soonest first |
//! | `counters` | `"event"`, `"event_at"`, `"delivery"` | `u64`: the last id (or time) handed out; `"cursor:<worker>"`: the last event a worker handled |
//! | `pruning_policies` | (repository, policy id) | [`records::PruningPolicy`](crate::records::PruningPolicy) |
//! | `promotion_policies` | (repository, policy id) | [`records::PromotionPolicy`](crate::records::PromotionPolicy) |
//! | `mirror_policies` | (repository, policy id) | [`records::MirrorPolicy`](crate::records::MirrorPolicy) |
//! | `cache_namespaces` | namespace | [`records::CacheNamespace`](crate::records::CacheNamespace) |
//! | `gc` | `"lock"`, `"last"` | [`records::GcLock`](crate::records::GcLock), [`records::GcRun`](crate::records::GcRun) |

use redb::{ReadableTable, TableDefinition};

use crate::Error;

/// The schema version.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The replication log: entries by index (see [`crate::raft`]).
pub const RAFT_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
/// This replica's replication state: its vote, the committed, purged and applied log
/// ids, the membership, the current snapshot, its own id and its cluster's.
pub const RAFT_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_state");
/// Repositories by name.
pub const REPOSITORIES: TableDefinition<&str, &[u8]> = TableDefinition::new("repositories");
/// Which repository may see which blob.
pub const BLOB_LINKS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("blob_links");
/// Manifests present in a repository.
pub const MANIFESTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("manifests");
/// Reverse index: the repositories holding a manifest, so content is dropped with its last holder.
pub const MANIFEST_REPOSITORIES: TableDefinition<(&str, &str), ()> = TableDefinition::new("manifest_repositories");
/// Manifest bytes by digest, stored once.
pub const MANIFEST_CONTENT: TableDefinition<&str, &[u8]> = TableDefinition::new("manifest_content");
/// Tags of a repository, pointing at manifest digests.
pub const TAGS: TableDefinition<(&str, &str), &str> = TableDefinition::new("tags");
/// Manifests whose `subject` is another manifest, per repository.
pub const REFERRERS: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("referrers");

/// Users and organizations.
pub const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");
/// Teams of organizations.
pub const TEAMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("teams");
/// Team members, by team.
pub const TEAM_MEMBERS: TableDefinition<(&str, &str, &str), ()> = TableDefinition::new("team_members");
/// Team members, by user.
pub const MEMBERSHIPS: TableDefinition<(&str, &str, &str), ()> = TableDefinition::new("memberships");
/// A team's access level on one repository.
pub const REPOSITORY_GRANTS: TableDefinition<(&str, &str, &str), u8> = TableDefinition::new("repository_grants");
/// A team's access level on every repository of a namespace.
pub const NAMESPACE_GRANTS: TableDefinition<(&str, &str, &str), u8> = TableDefinition::new("namespace_grants");
/// Access tokens by id.
pub const ACCESS_TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("access_tokens");
/// Registry-wide settings (JSON values).
pub const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

/// Every version of every TUF metadata file.
pub const TRUST_FILES: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("trust_files");
/// TUF metadata versions by the sha256 of their bytes.
pub const TRUST_CHECKSUMS: TableDefinition<(&str, &str, &str), u64> = TableDefinition::new("trust_checksums");
/// The current version of each role of a GUN.
pub const TRUST_CURRENT: TableDefinition<(&str, &str), u64> = TableDefinition::new("trust_current");
/// Server-held timestamp and snapshot keys.
pub const TRUST_KEYS: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("trust_keys");
/// The GUN holding a repository's trust data: one per repository, bound by its first
/// server key or update.
pub const TRUST_GUNS: TableDefinition<(&str, &str), ()> = TableDefinition::new("trust_guns");
/// The tags signed in a repository's current trust data, replaced with every update:
/// what deletes check (inside their transaction) and what the tags API reports.
pub const SIGNED_TAGS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("signed_tags");

/// What each tag pointed to, and when: (repository, tag, sequence number) → event. The
/// last [`TAG_HISTORY_KEPT`] events of a tag are kept.
pub const TAG_HISTORY: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("tag_history");
/// How many events of one tag's history are kept.
pub const TAG_HISTORY_KEPT: u64 = 100;
/// Web UI sessions, by id.
pub const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");

/// Which manifests use a blob: (blob, repository, manifest) → the blob's size. Garbage
/// collection keeps every blob with an entry here; quotas count them per namespace.
pub const BLOB_REFERENCES: TableDefinition<(&str, &str, &str), u64> = TableDefinition::new("blob_references");
/// Bytes of distinct blobs the manifests of a namespace use: namespace → bytes.
pub const NAMESPACE_USAGE: TableDefinition<&str, u64> = TableDefinition::new("namespace_usage");
/// The repositories linking a blob: (blob, repository), the reverse of [`BLOB_LINKS`].
pub const BLOB_REPOSITORIES: TableDefinition<(&str, &str), ()> = TableDefinition::new("blob_repositories");
/// Blobs garbage collection has retired and is deleting: digest → when. No repository
/// may link one until its bytes are gone and the entry forgotten.
pub const RETIRED_BLOBS: TableDefinition<&str, u64> = TableDefinition::new("retired_blobs");
/// Garbage collection's lock (one run per cluster), its last run, and the sequence of
/// forgets (see [`FORGOTTEN_BLOBS`]).
pub const GC: TableDefinition<&str, &[u8]> = TableDefinition::new("gc");
/// Blobs whose bytes garbage collection deleted: digest → the number of the forget that
/// let them be pushed again. An upload that found the bytes present before that forget
/// found the bytes that were then deleted, and may not link them.
pub const FORGOTTEN_BLOBS: TableDefinition<&str, u64> = TableDefinition::new("forgotten_blobs");
/// The same by forget: (number, digest), so the oldest forgets can be dropped.
pub const FORGOTTEN_BY_NUMBER: TableDefinition<(u64, &str), ()> = TableDefinition::new("forgotten_by_number");
/// How many of the latest forgets are remembered (each forgets up to one batch of blobs).
pub const FORGETS_KEPT: u64 = 1000;

/// The audit log: event id (in the order applied, from 1) → event.
pub const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Events by repository.
pub const EVENTS_BY_REPOSITORY: TableDefinition<(&str, u64), ()> = TableDefinition::new("events_by_repository");
/// Events by user.
pub const EVENTS_BY_USER: TableDefinition<(&str, u64), ()> = TableDefinition::new("events_by_user");
/// Events by kind.
pub const EVENTS_BY_KIND: TableDefinition<(&str, u64), ()> = TableDefinition::new("events_by_kind");
/// Webhooks by id.
pub const WEBHOOKS: TableDefinition<&str, &[u8]> = TableDefinition::new("webhooks");
/// Webhook deliveries by id (in the order queued).
pub const DELIVERIES: TableDefinition<u64, &[u8]> = TableDefinition::new("deliveries");
/// A webhook's deliveries.
pub const HOOK_DELIVERIES: TableDefinition<(&str, u64), ()> = TableDefinition::new("hook_deliveries");
/// Pending deliveries by when they are due.
pub const DUE_DELIVERIES: TableDefinition<(u64, u64), ()> = TableDefinition::new("due_deliveries");
/// Sequences: the last event and delivery ids handed out, the last event's time.
pub const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
/// How many of a webhook's finished deliveries its log keeps.
pub const DELIVERIES_KEPT: u64 = 1000;

/// Repositories' pruning policies, by (repository, policy id).
pub const PRUNING_POLICIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("pruning_policies");

/// Repositories' promotion policies, by (source repository, policy id).
pub const PROMOTION_POLICIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("promotion_policies");

/// Repositories' push and poll mirroring policies, by (repository, policy id).
pub const MIRROR_POLICIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("mirror_policies");

/// Namespaces that are pull-through caches, by namespace.
pub const CACHE_NAMESPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("cache_namespaces");

/// One-time tokens a new replica joins the cluster with, by id.
pub const JOIN_TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("join_tokens");

/// Key in [`META`] of the schema version.
pub const SCHEMA: &str = "schema";
/// The schema version this binary writes. Version 2 added the blob indexes
/// (`blob_references`, `blob_repositories`), built from the existing tables on open.
pub const SCHEMA_VERSION: u64 = 2;

/// Something done to every data table (every table but `meta` and the replication
/// state): dumping, snapshotting, restoring.
pub(crate) trait TableVisitor {
    /// Called once per data table, always in the same order.
    fn visit<K: redb::Key + 'static, V: redb::Value + 'static>(&mut self, table: TableDefinition<'static, K, V>) -> Result<(), Error>;
}

/// Calls `visitor` on every data table, in a fixed order. A table added to the store is
/// added here, and so to dumps, snapshots and backups.
pub(crate) fn visit_data_tables(visitor: &mut impl TableVisitor) -> Result<(), Error> {
    visitor.visit(REPOSITORIES)?;
    visitor.visit(BLOB_LINKS)?;
    visitor.visit(MANIFESTS)?;
    visitor.visit(MANIFEST_REPOSITORIES)?;
    visitor.visit(MANIFEST_CONTENT)?;
    visitor.visit(TAGS)?;
    visitor.visit(REFERRERS)?;
    visitor.visit(ACCOUNTS)?;
    visitor.visit(TEAMS)?;
    visitor.visit(TEAM_MEMBERS)?;
    visitor.visit(MEMBERSHIPS)?;
    visitor.visit(REPOSITORY_GRANTS)?;
    visitor.visit(NAMESPACE_GRANTS)?;
    visitor.visit(ACCESS_TOKENS)?;
    visitor.visit(SETTINGS)?;
    visitor.visit(TRUST_FILES)?;
    visitor.visit(TRUST_CHECKSUMS)?;
    visitor.visit(TRUST_CURRENT)?;
    visitor.visit(TRUST_KEYS)?;
    visitor.visit(TRUST_GUNS)?;
    visitor.visit(SIGNED_TAGS)?;
    visitor.visit(JOIN_TOKENS)?;
    visitor.visit(TAG_HISTORY)?;
    visitor.visit(SESSIONS)?;
    visitor.visit(BLOB_REFERENCES)?;
    visitor.visit(BLOB_REPOSITORIES)?;
    visitor.visit(RETIRED_BLOBS)?;
    visitor.visit(GC)?;
    visitor.visit(FORGOTTEN_BLOBS)?;
    visitor.visit(FORGOTTEN_BY_NUMBER)?;
    visitor.visit(NAMESPACE_USAGE)?;
    visitor.visit(EVENTS)?;
    visitor.visit(EVENTS_BY_REPOSITORY)?;
    visitor.visit(EVENTS_BY_USER)?;
    visitor.visit(EVENTS_BY_KIND)?;
    visitor.visit(WEBHOOKS)?;
    visitor.visit(DELIVERIES)?;
    visitor.visit(HOOK_DELIVERIES)?;
    visitor.visit(DUE_DELIVERIES)?;
    visitor.visit(COUNTERS)?;
    visitor.visit(PRUNING_POLICIES)?;
    visitor.visit(PROMOTION_POLICIES)?;
    visitor.visit(MIRROR_POLICIES)?;
    visitor.visit(CACHE_NAMESPACES)?;
    Ok(())
}

/// The second parts of every `(first, _)` key of a table, in key order.
pub(crate) fn keys_under<V: redb::Value + 'static>(
    table: &impl ReadableTable<(&'static str, &'static str), V>,
    first: &str,
) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for entry in table.range((first, "")..)? {
        let (key, _) = entry?;
        let (a, b) = key.value();
        if a != first {
            break;
        }
        out.push(b.to_owned());
    }
    Ok(out)
}

/// The (second, third) parts of every `(first, _, _)` key of a table, in key order.
pub(crate) fn pairs_under<V: redb::Value + 'static>(
    table: &impl ReadableTable<(&'static str, &'static str, &'static str), V>,
    first: &str,
) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for entry in table.range((first, "", "")..)? {
        let (key, _) = entry?;
        let (a, b, c) = key.value();
        if a != first {
            break;
        }
        out.push((b.to_owned(), c.to_owned()));
    }
    Ok(out)
}
