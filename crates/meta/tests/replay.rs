//! Determinism, the property replication rests on: random sequences of every kind of
//! command, over a small world of names so that they interact, applied to two fresh
//! stores (one command per transaction in one, the whole sequence in one group commit in
//! the other) give the same answers and the same tables, byte for byte; and a refused
//! command writes nothing.
#![allow(clippy::unwrap_used)]

mod common;

use berth_core::{Action, Level};
use berth_meta::command::*;
use berth_meta::{AccountKind, Applied, Command, Setting, SigningPolicy, StateMachine};
use common::{d, repo};
use proptest::prelude::*;
use proptest::sample::select;

const ACCOUNTS: &[&str] = &["a", "b", "u1", "u2"];
const REPOSITORIES: &[&str] = &["a/x", "a/y", "b/x", "u1/x", "z/x"];
const BLOBS: &[&str] = &["l1", "l2", "l3"];
const MANIFESTS: &[&str] = &["m1", "m2", "m3"];
const TAGS: &[&str] = &["t1", "t2"];
const TEAMS: &[&str] = &["owners", "devs"];
const TOKENS: &[&str] = &["k1", "k2"];
const GUNS: &[&str] = &["localhost:1/a/x", "localhost:2/a/x", "localhost:1/b/x"];

fn name(from: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(from).prop_map(str::to_owned)
}

fn repository() -> impl Strategy<Value = berth_core::RepositoryName> {
    select(REPOSITORIES).prop_map(repo)
}

fn level() -> impl Strategy<Value = Option<Level>> {
    prop_oneof![Just(None), Just(Some(Level::ReadOnly)), Just(Some(Level::ReadWrite)), Just(Some(Level::Admin))]
}

fn manifest() -> impl Strategy<Value = Command> {
    (
        repository(),
        select(MANIFESTS),
        proptest::collection::vec(select(BLOBS), 0..3),
        proptest::option::of(select(TAGS)),
        proptest::option::of(select(MANIFESTS)),
    )
        .prop_map(|(repository, content, blobs, tag, subject)| {
            Command::PutManifest(PutManifest {
                repository,
                digest: d(content),
                content: content.as_bytes().to_vec(),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                artifact_type: Some("application/vnd.example".into()),
                annotations: None,
                blobs: blobs.into_iter().map(d).collect(),
                children: vec![],
                subject: subject.map(d),
                tag: tag.map(|t| t.parse().unwrap()),
                at: 7,
                pushed_by: None,
                cached: false,
            })
        })
}

fn trust_update() -> impl Strategy<Value = Command> {
    (select(GUNS), 1u64..4, proptest::option::of((select(TAGS), select(MANIFESTS))), proptest::bool::ANY).prop_map(
        |(gun, version, signed, expect_none)| {
            let repository = repo(berth_core::split_host(gun).1);
            let bytes = format!("{gun} targets {version}").into_bytes();
            let file = TrustFile { role: "targets".into(), version, sha256: format!("{version:064x}"), bytes };
            // Either what a first update expects (nothing stored), or a guess at the current version.
            let expected = if expect_none { Default::default() } else { [("targets".to_owned(), version - 1)].into_iter().collect() };
            let signed = signed
                .map(|(tag, m)| SignedTag { tag: tag.into(), digest: d(m).to_string(), role: "targets".into() })
                .into_iter()
                .collect();
            Command::PutTrustMetadata(PutTrustMetadata { gun: gun.into(), repository, files: vec![file], expected, signed })
        },
    )
}

/// Any command, of every kind.
fn command() -> impl Strategy<Value = Command> {
    let kinds = prop_oneof![
        (select(ACCOUNTS), proptest::bool::ANY, proptest::bool::ANY, proptest::bool::ANY).prop_map(|(n, admin, active, adopt)| {
            let kind = if n.starts_with('u') { AccountKind::User } else { AccountKind::Org };
            let Command::CreateAccount(mut c) = common::account(n, kind, admin) else { unreachable!() };
            c.active = active;
            c.adopt_repositories = adopt;
            Command::CreateAccount(c)
        }),
        (name(ACCOUNTS), proptest::option::of(proptest::bool::ANY), proptest::option::of(proptest::bool::ANY), proptest::bool::ANY)
            .prop_map(|(name, admin, active, password)| Command::UpdateAccount(UpdateAccount {
                name,
                admin,
                active,
                password_hash: password.then(|| "$argon2id$other".into()),
                full_name: Some("Someone".into()),
                ..UpdateAccount::default()
            })),
        name(ACCOUNTS).prop_map(|name| Command::DeleteAccount(DeleteAccount { name })),
        (name(ACCOUNTS), name(TEAMS)).prop_map(|(org, team)| Command::CreateTeam(CreateTeam { org, team, description: "d".into(), at: 3 })),
        (name(ACCOUNTS), name(TEAMS), name(ACCOUNTS), proptest::bool::ANY)
            .prop_map(|(org, team, user, member)| Command::SetTeamMember(SetTeamMember { org, team, user, member })),
        (name(ACCOUNTS), name(TEAMS)).prop_map(|(org, team)| Command::DeleteTeam(DeleteTeam { org, team })),
        (name(ACCOUNTS), name(TEAMS), proptest::bool::ANY).prop_map(|(org, team, on)| {
            let link = on.then(|| TeamLink {
                enabled: true,
                select_group_members: true,
                group_dn: "cn=g".into(),
                group_member_attribute: "member".into(),
                search_base_dn: String::new(),
                search_filter: String::new(),
                search_subtree: false,
            });
            Command::SetTeamSync(SetTeamSync { org, team, link })
        }),
        (repository(), name(ACCOUNTS), name(TEAMS), level()).prop_map(|(r, org, team, level)| Command::SetGrant(SetGrant {
            target: GrantTarget::Repository(r),
            org,
            team,
            level
        })),
        (name(ACCOUNTS), name(ACCOUNTS), name(TEAMS), level()).prop_map(|(ns, org, team, level)| Command::SetGrant(SetGrant {
            target: GrantTarget::Namespace(ns),
            org,
            team,
            level
        })),
        repository().prop_map(|name| Command::CreateRepository(CreateRepository {
            name,
            public: true,
            immutable_tags: false,
            short_description: "s".into(),
            long_description: String::new(),
            signed_pulls_only: false,
            at: 4,
        })),
        (repository(), proptest::option::of(proptest::bool::ANY)).prop_map(|(name, immutable)| Command::UpdateRepository(
            UpdateRepository {
                name,
                public: Some(false),
                immutable_tags: immutable,
                short_description: None,
                long_description: Some("l".into()),
                signed_pulls_only: Some(true),
                signature_keys: None,
                tag_limit: None,
            }
        )),
        repository().prop_map(|name| Command::DeleteRepository(DeleteRepository { name })),
        (repository(), select(BLOBS)).prop_map(|(repository, b)| Command::LinkBlob(LinkBlob {
            repository,
            digest: d(b),
            size: b.len() as u64,
            at: 5
        })),
        (repository(), select(BLOBS), 0u64..3).prop_map(|(repository, b, checked_after)| Command::LinkUploadedBlob(LinkUploadedBlob {
            repository,
            digest: d(b),
            size: b.len() as u64,
            at: 5,
            checked_after
        })),
        (repository(), repository(), select(BLOBS)).prop_map(|(repository, from, b)| Command::MountBlob(MountBlob {
            repository,
            from,
            digest: d(b),
            at: 6
        })),
        (repository(), select(BLOBS)).prop_map(|(repository, b)| Command::UnlinkBlob(UnlinkBlob { repository, digest: d(b) })),
        manifest(),
        (repository(), select(MANIFESTS)).prop_map(|(repository, m)| Command::DeleteManifest(DeleteManifest {
            repository,
            digest: d(m),
            at: 8,
            by: Some("u1".into())
        })),
        (repository(), select(TAGS)).prop_map(|(repository, t)| Command::DeleteTag(DeleteTag {
            repository,
            tag: t.parse().unwrap(),
            at: 8,
            by: None
        })),
        (name(TOKENS), name(ACCOUNTS), proptest::option::of(8u64..12)).prop_map(|(id, user, expires_at)| Command::CreateAccessToken(
            CreateAccessToken {
                id,
                user,
                name: "ci".into(),
                secret_sha256: "00".repeat(32),
                at: 10,
                expires_at,
                repositories: vec![repo("a/x")],
                actions: vec![Action::Pull],
            }
        )),
        name(TOKENS).prop_map(|id| Command::RevokeAccessToken(RevokeAccessToken { id })),
        proptest::collection::vec((repository(), select(MANIFESTS), 0u64..30), 0..3)
            .prop_map(|pulls| Command::RecordPulls(RecordPulls { pulls: pulls.into_iter().map(|(r, m, at)| (r, d(m), at)).collect() })),
        (name(TOKENS), name(ACCOUNTS), 8u64..14).prop_map(|(id, user, expires_at)| Command::CreateSession(CreateSession {
            id,
            user,
            secret_sha256: "33".repeat(32),
            epoch: 0,
            at: 10,
            expires_at
        })),
        name(TOKENS).prop_map(|id| Command::DeleteSession(DeleteSession { id })),
        (9u64..14).prop_map(|at| Command::PurgeSessions(PurgeSessions { at })),
        (proptest::collection::vec(select(BLOBS), 0..3), 0u64..12).prop_map(|(blobs, linked_before)| Command::RetireBlobs(RetireBlobs {
            digests: blobs.into_iter().map(d).collect(),
            linked_before,
            at: 11
        })),
        proptest::collection::vec(select(BLOBS), 0..3)
            .prop_map(|blobs| Command::ForgetRetiredBlobs(ForgetRetiredBlobs { digests: blobs.into_iter().map(d).collect() })),
        (repository(), select(MANIFESTS), 6u64..9).prop_map(|(repository, m, pushed_before)| Command::PruneManifest(PruneManifest {
            repository,
            digest: d(m),
            pushed_before,
            at: 12
        })),
        (select(&["r1/a", "r1/b", "r2/a"]), 8u64..12).prop_map(|(holder, at)| Command::AcquireGcLock(AcquireGcLock {
            holder: holder.into(),
            at,
            until: at + 2
        })),
        (name(TOKENS), 8u64..12).prop_map(|(id, expires_at)| Command::CreateJoinToken(CreateJoinToken {
            id,
            secret_sha256: "11".repeat(32),
            at: 10,
            expires_at
        })),
        (name(TOKENS), proptest::bool::ANY, 9u64..12).prop_map(|(id, right, at)| Command::RedeemJoinToken(RedeemJoinToken {
            id,
            secret_sha256: if right { "11" } else { "22" }.repeat(32),
            replica: "0123456789ab".into(),
            at
        })),
        proptest::collection::vec((name(TOKENS), 0u64..30), 0..3).prop_map(|uses| Command::TouchAccessTokens(TouchAccessTokens { uses })),
        (select(ACCOUNTS), proptest::bool::ANY, proptest::bool::ANY).prop_map(|(ns, on, only_if_absent)| {
            let setting = match ns {
                "a" => Setting::AnonymousPulls(on),
                "b" => Setting::TokenSigningKey(format!("sealed:v1:{on}")),
                _ => Setting::NamespacePolicy {
                    namespace: ns.into(),
                    policy: SigningPolicy { signed_pulls_only: on, signature_keys: vec![] },
                },
            };
            Command::PutSetting(PutSetting { setting, only_if_absent })
        }),
        trust_update(),
        (select(GUNS), select(&["timestamp", "snapshot"]), select(&["key1", "key2"]), proptest::bool::ANY).prop_map(
            |(gun, role, id, only_if_none)| {
                Command::PutTrustKey(PutTrustKey {
                    gun: gun.into(),
                    repository: repo(berth_core::split_host(gun).1),
                    role: role.into(),
                    key_id: id.into(),
                    keytype: "ed25519".into(),
                    public: "AAAA".into(),
                    sealed_private: "sealed:v1:x".into(),
                    at: 9,
                    only_if_none,
                })
            }
        ),
        select(GUNS).prop_map(|gun| Command::DeleteTrust(DeleteTrust { gun: gun.into() })),
    ];
    // A world worth acting in: most sequences start by making the accounts and teams.
    kinds
}

fn setup() -> Vec<Command> {
    let mut commands = vec![
        common::org("a"),
        common::org("b"),
        common::account("u1", AccountKind::User, true),
        common::account("u2", AccountKind::User, false),
    ];
    commands.push(Command::CreateTeam(CreateTeam { org: "a".into(), team: "devs".into(), description: String::new(), at: 2 }));
    commands
}

fn open() -> (tempfile::TempDir, StateMachine) {
    let dir = tempfile::tempdir().unwrap();
    let machine = StateMachine::open(&dir.path().join("meta.redb")).unwrap();
    (dir, machine)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn the_same_commands_give_the_same_state_byte_for_byte(commands in proptest::collection::vec(command(), 1..80)) {
        let log: Vec<Command> = setup().into_iter().chain(commands).collect();
        let (_one_dir, one) = open();
        let (_two_dir, two) = open();
        let mut answers = Vec::new();
        for command in &log {
            let before = one.reader().unwrap().dump().unwrap();
            let answer = one.apply(command.clone()).unwrap();
            if let Applied::Rejected(why) = &answer {
                prop_assert_eq!(one.reader().unwrap().dump().unwrap(), before, "{:?} was refused ({:?}) yet wrote", command, why);
            }
            answers.push(answer);
        }
        let batched = two.apply_batch(log.clone()).unwrap();
        prop_assert_eq!(&answers, &batched);
        prop_assert_eq!(one.reader().unwrap().dump().unwrap(), two.reader().unwrap().dump().unwrap());
        // The log read back from its wire form replays to the same state.
        let (_three_dir, three) = open();
        for command in &log {
            three.apply(Command::decode(&command.encode()).unwrap()).unwrap();
        }
        prop_assert_eq!(three.reader().unwrap().dump().unwrap(), one.reader().unwrap().dump().unwrap());
    }
}
