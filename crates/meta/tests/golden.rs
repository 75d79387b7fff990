//! The wire form of every command kind, kept stable: replicas and logs written by one
//! version are read by the next. `golden/commands.jsonl` holds one example of each kind
//! as encoded; a change to an old shape fails here (add a new variant instead). After
//! adding a variant, add its example below and regenerate the file with
//! `BERTH_UPDATE_GOLDEN=1 cargo test -p berth-meta --test golden`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use berth_core::{Action, Level};
use berth_meta::command::*;
use berth_meta::{
    AccountKind, CacheNamespace, Command, LdapSyncReport, MirrorDirection, MirrorLogEntry, MirrorPolicy, PromotionOutcome, PromotionPolicy,
    PruningPolicy, PruningRun, Setting, SigningPolicy, TagRule, Webhook,
};
use common::{d, repo};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/commands.jsonl");

/// Each command kind's name; exhaustive, so a new kind does not compile until named here.
fn kind(command: &Command) -> &'static str {
    match command {
        Command::LinkBlob(_) => "LinkBlob",
        Command::MountBlob(_) => "MountBlob",
        Command::UnlinkBlob(_) => "UnlinkBlob",
        Command::PutManifest(_) => "PutManifest",
        Command::DeleteManifest(_) => "DeleteManifest",
        Command::DeleteTag(_) => "DeleteTag",
        Command::CreateAccount(_) => "CreateAccount",
        Command::UpdateAccount(_) => "UpdateAccount",
        Command::DeleteAccount(_) => "DeleteAccount",
        Command::CreateTeam(_) => "CreateTeam",
        Command::SetTeamMember(_) => "SetTeamMember",
        Command::SetTeamSync(_) => "SetTeamSync",
        Command::SetGrant(_) => "SetGrant",
        Command::CreateRepository(_) => "CreateRepository",
        Command::UpdateRepository(_) => "UpdateRepository",
        Command::CreateAccessToken(_) => "CreateAccessToken",
        Command::RevokeAccessToken(_) => "RevokeAccessToken",
        Command::TouchAccessTokens(_) => "TouchAccessTokens",
        Command::PutSetting(_) => "PutSetting",
        Command::DeleteRepository(_) => "DeleteRepository",
        Command::PutTrustMetadata(_) => "PutTrustMetadata",
        Command::PutTrustKey(_) => "PutTrustKey",
        Command::DeleteTrust(_) => "DeleteTrust",
        Command::CreateJoinToken(_) => "CreateJoinToken",
        Command::RedeemJoinToken(_) => "RedeemJoinToken",
        Command::RecordPulls(_) => "RecordPulls",
        Command::CreateSession(_) => "CreateSession",
        Command::DeleteSession(_) => "DeleteSession",
        Command::PurgeSessions(_) => "PurgeSessions",
        Command::RetireBlobs(_) => "RetireBlobs",
        Command::ForgetRetiredBlobs(_) => "ForgetRetiredBlobs",
        Command::AcquireGcLock(_) => "AcquireGcLock",
        Command::FinishGc(_) => "FinishGc",
        Command::PruneManifest(_) => "PruneManifest",
        Command::LinkUploadedBlob(_) => "LinkUploadedBlob",
        Command::DeleteTeam(_) => "DeleteTeam",
        Command::RecordPullEvents(_) => "RecordPullEvents",
        Command::PruneEvents(_) => "PruneEvents",
        Command::CreateWebhook(_) => "CreateWebhook",
        Command::UpdateWebhook(_) => "UpdateWebhook",
        Command::DeleteWebhook(_) => "DeleteWebhook",
        Command::Redeliver(_) => "Redeliver",
        Command::RecordDeliveries(_) => "RecordDeliveries",
        Command::PruneDeliveries(_) => "PruneDeliveries",
        Command::CreatePruningPolicy(_) => "CreatePruningPolicy",
        Command::UpdatePruningPolicy(_) => "UpdatePruningPolicy",
        Command::DeletePruningPolicy(_) => "DeletePruningPolicy",
        Command::PruneTags(_) => "PruneTags",
        Command::CreatePromotionPolicy(_) => "CreatePromotionPolicy",
        Command::UpdatePromotionPolicy(_) => "UpdatePromotionPolicy",
        Command::DeletePromotionPolicy(_) => "DeletePromotionPolicy",
        Command::PromoteManifest(_) => "PromoteManifest",
        Command::AdvanceCursor(_) => "AdvanceCursor",
        Command::CreateMirrorPolicy(_) => "CreateMirrorPolicy",
        Command::UpdateMirrorPolicy(_) => "UpdateMirrorPolicy",
        Command::DeleteMirrorPolicy(_) => "DeleteMirrorPolicy",
        Command::RecordMirroring(_) => "RecordMirroring",
        Command::SetCacheNamespace(_) => "SetCacheNamespace",
    }
}

/// The number of command kinds (the length of `kind`'s match).
const KINDS: usize = 58;

fn examples() -> Vec<Command> {
    let report =
        LdapSyncReport { started_at: 1, finished_at: 2, directory_users: 3, problems: vec!["p".into()], ..LdapSyncReport::default() };
    vec![
        Command::LinkBlob(LinkBlob { repository: repo("a/x"), digest: d("l1"), size: 2, at: 1 }),
        Command::MountBlob(MountBlob { repository: repo("a/y"), from: repo("a/x"), digest: d("l1"), at: 1 }),
        Command::UnlinkBlob(UnlinkBlob { repository: repo("a/x"), digest: d("l1") }),
        Command::PutManifest(PutManifest {
            repository: repo("a/x"),
            digest: d("m"),
            content: b"m".to_vec(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            artifact_type: Some("application/vnd.example".into()),
            annotations: Some([("k".to_owned(), serde_json::json!("v"))].into_iter().collect()),
            blobs: vec![d("l1")],
            children: vec![d("c")],
            subject: Some(d("s")),
            tag: Some("v1".parse().unwrap()),
            at: 1,
            pushed_by: None,
            cached: false,
        }),
        Command::DeleteManifest(DeleteManifest { repository: repo("a/x"), digest: d("m"), at: 0, by: None }),
        Command::DeleteTag(DeleteTag { repository: repo("a/x"), tag: "v1".parse().unwrap(), at: 0, by: None }),
        common::account("u", AccountKind::User, true),
        Command::UpdateAccount(UpdateAccount {
            name: "u".into(),
            full_name: Some("U".into()),
            email: Some("u@example.org".into()),
            password_hash: Some("$argon2id$h".into()),
            active: Some(false),
            admin: Some(false),
            ldap_dn: Some("uid=u".into()),
        }),
        Command::DeleteAccount(DeleteAccount { name: "u".into() }),
        Command::CreateTeam(CreateTeam { org: "a".into(), team: "devs".into(), description: "d".into(), at: 1 }),
        Command::SetTeamMember(SetTeamMember { org: "a".into(), team: "devs".into(), user: "u".into(), member: true }),
        Command::DeleteTeam(DeleteTeam { org: "a".into(), team: "devs".into() }),
        Command::SetTeamSync(SetTeamSync {
            org: "a".into(),
            team: "devs".into(),
            link: Some(TeamLink {
                enabled: true,
                select_group_members: false,
                group_dn: String::new(),
                group_member_attribute: "member".into(),
                search_base_dn: "ou=p".into(),
                search_filter: "(x=y)".into(),
                search_subtree: true,
            }),
        }),
        Command::SetGrant(SetGrant {
            target: GrantTarget::Repository(repo("a/x")),
            org: "a".into(),
            team: "devs".into(),
            level: Some(Level::ReadWrite),
        }),
        common::create_repository("a/x"),
        Command::UpdateRepository(UpdateRepository {
            name: repo("a/x"),
            public: Some(true),
            immutable_tags: Some(true),
            short_description: Some("s".into()),
            long_description: None,
            signed_pulls_only: Some(true),
            signature_keys: Some(vec!["-----BEGIN PUBLIC KEY-----".into()]),
            tag_limit: None,
        }),
        Command::CreateAccessToken(CreateAccessToken {
            id: "k".into(),
            user: "u".into(),
            name: "ci".into(),
            secret_sha256: "00".into(),
            at: 1,
            expires_at: Some(2),
            repositories: vec![repo("a/x")],
            actions: vec![Action::Pull, Action::Push],
        }),
        Command::RevokeAccessToken(RevokeAccessToken { id: "k".into() }),
        Command::TouchAccessTokens(TouchAccessTokens { uses: vec![("k".into(), 3)] }),
        Command::PutSetting(PutSetting { setting: Setting::TokenSigningKey("sealed:v1:x".into()), only_if_absent: true }),
        Command::PutSetting(PutSetting { setting: Setting::AnonymousPulls(false), only_if_absent: false }),
        Command::PutSetting(PutSetting { setting: Setting::LdapLastSync(report), only_if_absent: false }),
        Command::PutSetting(PutSetting {
            setting: Setting::NamespacePolicy {
                namespace: "a".into(),
                policy: SigningPolicy { signed_pulls_only: true, signature_keys: vec!["k".into()] },
            },
            only_if_absent: false,
        }),
        Command::DeleteRepository(DeleteRepository { name: repo("a/x") }),
        Command::PutTrustMetadata(PutTrustMetadata {
            gun: "localhost:5443/a/x".into(),
            repository: repo("a/x"),
            files: vec![TrustFile { role: "targets".into(), version: 2, sha256: "ab".into(), bytes: b"{}".to_vec() }],
            expected: [("root".to_owned(), 1)].into_iter().collect(),
            signed: vec![SignedTag { tag: "v1".into(), digest: d("m").to_string(), role: "targets".into() }],
        }),
        Command::PutTrustKey(PutTrustKey {
            gun: "localhost:5443/a/x".into(),
            repository: repo("a/x"),
            role: "timestamp".into(),
            key_id: "id".into(),
            keytype: "ed25519".into(),
            public: "AAAA".into(),
            sealed_private: "sealed:v1:x".into(),
            at: 1,
            only_if_none: true,
        }),
        Command::DeleteTrust(DeleteTrust { gun: "localhost:5443/a/x".into() }),
        Command::CreateJoinToken(CreateJoinToken { id: "j1".into(), secret_sha256: "ab".into(), at: 1, expires_at: 2 }),
        Command::RedeemJoinToken(RedeemJoinToken { id: "j1".into(), secret_sha256: "ab".into(), replica: "0123456789ab".into(), at: 1 }),
        Command::PutSetting(PutSetting {
            setting: Setting::ClusterCa { certificate: "-----BEGIN CERTIFICATE-----".into(), sealed_key: "sealed:v1:x".into() },
            only_if_absent: true,
        }),
        // Fields added after a kind's first release, present.
        Command::PutManifest(PutManifest {
            repository: repo("a/x"),
            digest: d("m2"),
            content: b"m2".to_vec(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            artifact_type: None,
            annotations: None,
            blobs: vec![],
            children: vec![],
            subject: None,
            tag: Some("v2".parse().unwrap()),
            at: 2,
            pushed_by: Some("u".into()),
            cached: false,
        }),
        Command::DeleteManifest(DeleteManifest { repository: repo("a/x"), digest: d("m2"), at: 3, by: Some("u".into()) }),
        Command::DeleteTag(DeleteTag { repository: repo("a/x"), tag: "v2".parse().unwrap(), at: 3, by: Some("u".into()) }),
        Command::RecordPulls(RecordPulls { pulls: vec![(repo("a/x"), d("m"), 4)] }),
        Command::CreateSession(CreateSession {
            id: "s1".into(),
            user: "u".into(),
            secret_sha256: "ab".into(),
            epoch: 1,
            at: 5,
            expires_at: 6,
        }),
        Command::DeleteSession(DeleteSession { id: "s1".into() }),
        Command::PurgeSessions(PurgeSessions { at: 7 }),
        Command::RetireBlobs(RetireBlobs { digests: vec![d("b1")], linked_before: 8, at: 9 }),
        Command::ForgetRetiredBlobs(ForgetRetiredBlobs { digests: vec![d("b1")] }),
        Command::AcquireGcLock(AcquireGcLock { holder: "r1/run".into(), at: 10, until: 11 }),
        Command::FinishGc(FinishGc {
            run: berth_meta::GcRun {
                holder: "r1/run".into(),
                dry_run: false,
                started_at: 10,
                finished_at: 12,
                examined: 3,
                deleted: 1,
                bytes_freed: 100,
                error: None,
                manifests_deleted: 0,
            },
        }),
        Command::PruneManifest(PruneManifest { repository: repo("a/x"), digest: d("m1"), pushed_before: 13, at: 14 }),
        Command::LinkUploadedBlob(LinkUploadedBlob { repository: repo("a/x"), digest: d("l1"), size: 2, at: 1, checked_after: 3 }),
        Command::RecordPullEvents(RecordPullEvents {
            pulls: vec![PullRecord {
                repository: repo("a/x"),
                digest: d("m"),
                tag: Some("1".into()),
                user: Some("u".into()),
                token: Some("t".into()),
                source: Some("10.0.0.1".into()),
                count: 2,
                first: 1,
                last: 2,
            }],
        }),
        Command::PruneEvents(PruneEvents { before: 5, at_most: 2 }),
        Command::CreateWebhook(CreateWebhook {
            id: "h".into(),
            hook: Webhook {
                kind: "TAG_PUSH".into(),
                key: "a/x".into(),
                endpoint: "https://hooks.example/x".into(),
                tls_cert: Some("pem".into()),
                sealed_secret: "s".into(),
                created_by: "u".into(),
                created_at: 1,
                failures: 0,
                paused: None,
            },
        }),
        Command::UpdateWebhook(UpdateWebhook { id: "h".into(), paused: Some("why".into()) }),
        Command::DeleteWebhook(DeleteWebhook { id: "h".into() }),
        Command::Redeliver(Redeliver { hook: "h".into(), delivery: 3, at: 4 }),
        Command::RecordDeliveries(RecordDeliveries {
            attempts: vec![Attempt { delivery: 3, at: 4, status: Some(500), error: Some("e".into()), duration_ms: 5, retry_at: Some(6) }],
            pause_after: 5,
        }),
        Command::PruneDeliveries(PruneDeliveries { keep: 1000, at_most: 10 }),
        Command::CreatePruningPolicy(CreatePruningPolicy { repository: repo("a/x"), id: "p".into(), policy: pruning_policy() }),
        Command::UpdatePruningPolicy(UpdatePruningPolicy { repository: repo("a/x"), id: "p".into(), policy: pruning_policy() }),
        Command::DeletePruningPolicy(DeletePruningPolicy { repository: repo("a/x"), id: "p".into() }),
        Command::PruneTags(PruneTags {
            repository: repo("a/x"),
            tags: vec![("dev-1".parse().unwrap(), d("m"))],
            prune_signed: false,
            prune_immutable: true,
            policy: Some("p".into()),
            at: 7,
            refused: None,
        }),
        Command::CreatePromotionPolicy(CreatePromotionPolicy { repository: repo("a/x"), id: "q".into(), policy: promotion_policy() }),
        Command::UpdatePromotionPolicy(UpdatePromotionPolicy { repository: repo("a/x"), id: "q".into(), policy: promotion_policy() }),
        Command::DeletePromotionPolicy(DeletePromotionPolicy { repository: repo("a/x"), id: "q".into() }),
        Command::PromoteManifest(PromoteManifest {
            source: repo("a/x"),
            source_tag: "1.0".parse().unwrap(),
            digest: d("m"),
            target: repo("a/prod"),
            tag: "1.0-prod".parse().unwrap(),
            policy: "q".into(),
            at: 8,
            refused: None,
        }),
        Command::AdvanceCursor(AdvanceCursor { worker: "promotion".into(), event: 9 }),
        Command::CreateMirrorPolicy(CreateMirrorPolicy { repository: repo("a/x"), id: "m".into(), policy: mirror_policy() }),
        Command::UpdateMirrorPolicy(UpdateMirrorPolicy { repository: repo("a/x"), id: "m".into(), policy: mirror_policy() }),
        Command::DeleteMirrorPolicy(DeleteMirrorPolicy { repository: repo("a/x"), id: "m".into() }),
        Command::RecordMirroring(RecordMirroring {
            outcomes: vec![MirrorOutcome {
                repository: "a/x".into(),
                policy: "m".into(),
                entry: MirrorLogEntry {
                    at: 10,
                    tag: "1.0".into(),
                    digest: d("m").to_string(),
                    remote_tag: "1.0".into(),
                    error: Some("connection refused".into()),
                    will_retry: false,
                },
                retry_at: Some(11),
            }],
            polls: vec![PollEnded { repository: "a/y".into(), policy: "n".into(), failed: false, next_at: 12 }],
            cursor: Some(13),
        }),
        Command::SetCacheNamespace(SetCacheNamespace {
            namespace: "hub".into(),
            cache: Some(CacheNamespace {
                upstream: "https://registry-1.docker.io".into(),
                username: Some("robot".into()),
                sealed_password: Some("c2VhbGVk".into()),
                remote_ca: None,
                ttl_secs: 300,
                public: true,
                mirrors_unqualified: true,
                created_by: "admin".into(),
                created_at: 14,
            }),
        }),
    ]
}

fn mirror_policy() -> MirrorPolicy {
    MirrorPolicy {
        direction: MirrorDirection::Push,
        enabled: true,
        rules: vec![TagRule { field: "tag".into(), operator: "sw".into(), values: vec!["v".into()] }],
        remote_host: "https://registry.example.com".into(),
        remote_repository: "mirror/x".into(),
        tag_template: "{tag}".into(),
        username: Some("robot".into()),
        sealed_password: Some("c2VhbGVk".into()),
        remote_ca: None,
        poll_every_secs: 0,
        created_by: "admin".into(),
        created_at: 1,
        since_event: 2,
        pending: Vec::new(),
        next_poll_at: 0,
        failures: 0,
        log: Vec::new(),
    }
}

fn pruning_policy() -> PruningPolicy {
    PruningPolicy {
        enabled: true,
        rules: vec![TagRule { field: "tag".into(), operator: "sw".into(), values: vec!["dev-".into()] }],
        keep_newest: 2,
        prune_signed: false,
        prune_immutable: false,
        created_by: "u".into(),
        created_at: 1,
        last_run: Some(PruningRun { at: 2, pruned: 3, error: None }),
    }
}

fn promotion_policy() -> PromotionPolicy {
    PromotionPolicy {
        enabled: true,
        rules: vec![TagRule { field: "signed".into(), operator: "eq".into(), values: vec!["true".into()] }],
        target: "a/prod".into(),
        tag_template: "{tag}-{date}".into(),
        created_by: "u".into(),
        created_at: 1,
        since_event: 3,
        last: Some(PromotionOutcome {
            at: 2,
            source_tag: "1.0".into(),
            digest: "sha256:0".into(),
            target_tag: "1.0-20261203".into(),
            error: Some("e".into()),
        }),
    }
}

#[test]
fn every_kind_keeps_its_wire_form() {
    let examples = examples();
    let kinds: BTreeSet<&str> = examples.iter().map(kind).collect();
    assert_eq!(kinds.len(), KINDS, "every command kind has an example");
    let encoded: String = examples.iter().map(|c| format!("{}\n", String::from_utf8(c.encode()).unwrap())).collect();
    if std::env::var("BERTH_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(GOLDEN, &encoded).unwrap();
    }
    let golden = std::fs::read_to_string(GOLDEN).unwrap();
    for (i, (now, then)) in encoded.lines().zip(golden.lines()).enumerate() {
        assert_eq!(now, then, "the wire form of example {i} ({}) changed", kind(&examples[i]));
    }
    assert_eq!(encoded.lines().count(), golden.lines().count());
    // What was written decodes to the same commands.
    for (line, example) in golden.lines().zip(&examples) {
        assert_eq!(&Command::decode(line.as_bytes()).unwrap(), example);
    }
}

#[test]
fn a_newer_format_is_refused_not_misread() {
    let line = String::from_utf8(examples()[0].encode()).unwrap().replacen("\"v\":1", "\"v\":2", 1);
    assert!(matches!(Command::decode(line.as_bytes()), Err(DecodeError::Version(2))));
    assert!(matches!(Command::decode(b"{\"v\":1,\"command\":{\"Nonsense\":{}}}"), Err(DecodeError::Malformed(_))));
}
