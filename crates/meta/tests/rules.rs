//! The rules commands check inside their transaction: namespaces belong to accounts, the
//! last administrator stays, tokens belong to active users and expire in the future, and
//! a credential change moves the account's epoch. Each refusal writes nothing.
#![allow(clippy::unwrap_used)]

mod common;

use berth_core::Level;
use berth_meta::command::{
    CreateAccessToken, CreateTeam, DeleteAccount, DeleteTeam, GrantTarget, LinkBlob, PutSetting, SetGrant, SetTeamMember, UpdateAccount,
};
use berth_meta::{AccountKind, Applied, Command, Meta, Rejection, Repository, Setting, SigningPolicy};
use common::{account as create, create_repository, d, repo, store};

fn repository() -> Repository {
    Repository {
        created_at: 1,
        public: false,
        immutable_tags: false,
        short_description: String::new(),
        long_description: String::new(),
        signed_pulls_only: false,
        signature_keys: vec![],
        tag_limit: 0,
    }
}

#[tokio::test]
async fn repositories_live_in_an_accounts_namespace() {
    let (_dir, meta) = store().await;
    let link = |name: &str| Command::LinkBlob(LinkBlob { repository: repo(name), digest: d("x"), size: 1, at: 1 });
    assert_eq!(meta.apply(link("acme/app")).await.unwrap(), Applied::Rejected(Rejection::NamespaceUnknown));
    assert_eq!(meta.apply(create_repository("acme/app")).await.unwrap(), Applied::Rejected(Rejection::NamespaceUnknown));
    assert!(!meta.read(|r| r.repository_exists("acme/app")).await.unwrap(), "a refusal writes nothing");
    meta.apply(create("acme", AccountKind::Org, false)).await.unwrap();
    assert_eq!(meta.apply(link("acme/app")).await.unwrap(), Applied::Done);
    // The namespace cannot be deleted from under its repository.
    let delete = Command::DeleteAccount(DeleteAccount { name: "acme".into() });
    assert_eq!(meta.apply(delete).await.unwrap(), Applied::Rejected(Rejection::NamespaceInUse));
    // `acme-x` sorts right after `acme/…` but is another namespace.
    meta.apply(create("acme-x", AccountKind::Org, false)).await.unwrap();
    assert_eq!(meta.apply(Command::DeleteAccount(DeleteAccount { name: "acme-x".into() })).await.unwrap(), Applied::Done);
}

/// Repositories an earlier version let an administrator push into an account-less
/// namespace: an account over them takes them only by explicit decision.
#[tokio::test]
async fn an_account_over_existing_repositories_needs_an_explicit_decision() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    Meta::open(&path).await.unwrap().shutdown().await;
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(berth_meta::tables::REPOSITORIES)
            .unwrap()
            .insert("demo/app", berth_meta::records::encode(&repository()).as_slice())
            .unwrap();
        tx.commit().unwrap();
    }
    let meta = Meta::open(&path).await.unwrap();
    assert_eq!(meta.apply(create("demo", AccountKind::User, false)).await.unwrap(), Applied::Rejected(Rejection::NamespaceInUse));
    assert!(meta.read(|r| r.account("demo")).await.unwrap().is_none());
    let Command::CreateAccount(mut adopt) = create("demo", AccountKind::User, false) else { unreachable!() };
    adopt.adopt_repositories = true;
    assert_eq!(meta.apply(Command::CreateAccount(adopt)).await.unwrap(), Applied::Done);
}

/// A deleted team takes its memberships and grants with it (a team made again later
/// under the same name starts with nothing); the owners team stays.
#[tokio::test]
async fn a_deleted_team_takes_its_members_and_grants_along() {
    let (_dir, meta) = store().await;
    meta.apply(create("acme", AccountKind::Org, false)).await.unwrap();
    meta.apply(create("u", AccountKind::User, false)).await.unwrap();
    meta.apply(create_repository("acme/app")).await.unwrap();
    let team = |name: &str| Command::CreateTeam(CreateTeam { org: "acme".into(), team: name.into(), description: String::new(), at: 1 });
    let grant = |target: GrantTarget, team: &str| {
        Command::SetGrant(SetGrant { target, org: "acme".into(), team: team.into(), level: Some(Level::ReadWrite) })
    };
    for name in ["devs", "ops"] {
        meta.apply(team(name)).await.unwrap();
        let member = SetTeamMember { org: "acme".into(), team: name.into(), user: "u".into(), member: true };
        meta.apply(Command::SetTeamMember(member)).await.unwrap();
        meta.apply(grant(GrantTarget::Repository(repo("acme/app")), name)).await.unwrap();
        meta.apply(grant(GrantTarget::Namespace("acme".into()), name)).await.unwrap();
    }
    let delete = |name: &str| Command::DeleteTeam(DeleteTeam { org: "acme".into(), team: name.into() });
    assert_eq!(meta.apply(delete("devs")).await.unwrap(), Applied::Done);
    assert_eq!(meta.apply(delete("devs")).await.unwrap(), Applied::Rejected(Rejection::TeamUnknown));
    assert_eq!(meta.apply(delete("owners")).await.unwrap(), Applied::Rejected(Rejection::OwnersTeamKept));
    let teams_of = |grants: Vec<(String, String, Level)>| grants.into_iter().map(|(_, team, _)| team).collect::<Vec<_>>();
    assert_eq!(meta.read(|r| r.memberships("u")).await.unwrap(), [("acme".to_owned(), "ops".to_owned())]);
    assert_eq!(teams_of(meta.read(|r| r.repository_grants("acme/app")).await.unwrap()), ["ops"]);
    assert_eq!(teams_of(meta.read(|r| r.namespace_grants("acme")).await.unwrap()), ["ops"]);
    meta.apply(team("devs")).await.unwrap();
    assert!(meta.read(|r| r.team_members("acme", "devs")).await.unwrap().is_empty(), "a new team of the old name starts empty");
    assert_eq!(teams_of(meta.read(|r| r.namespace_grants("acme")).await.unwrap()), ["ops"]);
}

/// A deleted account leaves nothing for whoever takes the name next: no settings of its
/// namespace, no grants, no teams.
#[tokio::test]
async fn a_deleted_account_leaves_nothing_to_its_successor() {
    let (_dir, meta) = store().await;
    meta.apply(create("acme", AccountKind::Org, false)).await.unwrap();
    meta.apply(Command::CreateTeam(CreateTeam { org: "acme".into(), team: "devs".into(), description: String::new(), at: 1 }))
        .await
        .unwrap();
    let grant =
        SetGrant { target: GrantTarget::Namespace("acme".into()), org: "acme".into(), team: "devs".into(), level: Some(Level::Admin) };
    meta.apply(Command::SetGrant(grant)).await.unwrap();
    for setting in [
        Setting::NamespaceQuota { namespace: "acme".into(), bytes: Some(10) },
        Setting::NamespacePolicy { namespace: "acme".into(), policy: SigningPolicy { signed_pulls_only: true, signature_keys: vec![] } },
    ] {
        assert_eq!(meta.apply(Command::PutSetting(PutSetting { setting, only_if_absent: false })).await.unwrap(), Applied::Done);
    }
    assert_eq!(meta.apply(Command::DeleteAccount(DeleteAccount { name: "acme".into() })).await.unwrap(), Applied::Done);
    meta.apply(create("acme", AccountKind::Org, false)).await.unwrap();
    meta.apply(Command::CreateTeam(CreateTeam { org: "acme".into(), team: "devs".into(), description: String::new(), at: 2 }))
        .await
        .unwrap();
    assert!(meta.read(|r| r.namespace_grants("acme")).await.unwrap().is_empty(), "the old grant came back");
    assert_eq!(meta.read(|r| r.namespace_quota("acme")).await.unwrap(), None);
    assert!(!meta.read(|r| r.namespace_policy("acme")).await.unwrap().signed_pulls_only);
    // Settings of a name no account holds are refused.
    let orphan = Setting::NamespaceQuota { namespace: "nobody".into(), bytes: Some(1) };
    let refused = meta.apply(Command::PutSetting(PutSetting { setting: orphan, only_if_absent: false })).await.unwrap();
    assert_eq!(refused, Applied::Rejected(Rejection::NamespaceUnknown));
}

#[tokio::test]
async fn the_last_active_administrator_stays() {
    let (_dir, meta) = store().await;
    meta.apply(create("root", AccountKind::User, true)).await.unwrap();
    let demote = |name: &str| Command::UpdateAccount(UpdateAccount { name: name.into(), admin: Some(false), ..UpdateAccount::default() });
    let deactivate =
        |name: &str| Command::UpdateAccount(UpdateAccount { name: name.into(), active: Some(false), ..UpdateAccount::default() });
    for command in [demote("root"), deactivate("root"), Command::DeleteAccount(DeleteAccount { name: "root".into() })] {
        assert_eq!(meta.apply(command).await.unwrap(), Applied::Rejected(Rejection::LastAdministrator));
    }
    meta.apply(create("second", AccountKind::User, true)).await.unwrap();
    assert_eq!(meta.apply(demote("root")).await.unwrap(), Applied::Done);
    assert_eq!(meta.apply(deactivate("second")).await.unwrap(), Applied::Rejected(Rejection::LastAdministrator));
}

#[tokio::test]
async fn credential_changes_move_the_epoch() {
    let (_dir, meta) = store().await;
    meta.apply(create("alice", AccountKind::User, false)).await.unwrap();
    let epoch = || async { meta.read(|r| r.account("alice")).await.unwrap().unwrap().credential_epoch };
    let update = |changes: UpdateAccount| Command::UpdateAccount(UpdateAccount { name: "alice".into(), ..changes });
    meta.apply(update(UpdateAccount { full_name: Some("Alice".into()), ..UpdateAccount::default() })).await.unwrap();
    assert_eq!(epoch().await, 0, "a new display name changes no credential");
    meta.apply(update(UpdateAccount { password_hash: Some("$argon2id$new".into()), ..UpdateAccount::default() })).await.unwrap();
    assert_eq!(epoch().await, 1);
    meta.apply(update(UpdateAccount { active: Some(false), ..UpdateAccount::default() })).await.unwrap();
    meta.apply(update(UpdateAccount { active: Some(true), ..UpdateAccount::default() })).await.unwrap();
    assert_eq!(epoch().await, 3, "a reactivated account does not revive what its deactivation ended");
}

#[tokio::test]
async fn tokens_belong_to_active_users_and_expire_in_the_future() {
    let (_dir, meta) = store().await;
    let token = |user: &str, expires_at: Option<u64>| {
        Command::CreateAccessToken(CreateAccessToken {
            id: format!("{user}{expires_at:?}"),
            user: user.into(),
            name: "ci".into(),
            secret_sha256: "00".repeat(32),
            at: 100,
            expires_at,
            repositories: vec![],
            actions: vec![],
        })
    };
    assert_eq!(meta.apply(token("ghost", None)).await.unwrap(), Applied::Rejected(Rejection::AccountUnknown));
    meta.apply(create("acme", AccountKind::Org, false)).await.unwrap();
    assert_eq!(
        meta.apply(token("acme", None)).await.unwrap(),
        Applied::Rejected(Rejection::AccountUnknown),
        "an organization has no tokens"
    );
    meta.apply(create("alice", AccountKind::User, false)).await.unwrap();
    assert_eq!(meta.apply(token("alice", Some(100))).await.unwrap(), Applied::Rejected(Rejection::ExpiryInThePast));
    assert_eq!(meta.apply(token("alice", Some(101))).await.unwrap(), Applied::Done);
    assert_eq!(meta.apply(token("alice", None)).await.unwrap(), Applied::Done);
}

/// A setting that cannot be read turns its protection on.
#[tokio::test]
async fn unreadable_settings_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    Meta::open(&path).await.unwrap().shutdown().await;
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut settings = tx.open_table(berth_meta::tables::SETTINGS).unwrap();
            settings.insert("signed_pulls_only/acme", br#"{"signedPullsOnly":"yes"}"#.as_slice()).unwrap();
            settings.insert("signed_pulls_only/old", b"true".as_slice()).unwrap();
            settings.insert("anonymous_pulls", b"not json".as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    let meta = Meta::open(&path).await.unwrap();
    let (acme, old, fresh, anonymous) = meta
        .read(|r| Ok((r.namespace_policy("acme")?, r.namespace_policy("old")?, r.namespace_policy("fresh")?, r.anonymous_pulls()?)))
        .await
        .unwrap();
    assert!(acme.signed_pulls_only, "undecodable: enforced");
    assert!(old.signed_pulls_only, "the first version's bare boolean still reads");
    assert!(!fresh.signed_pulls_only, "absent: off");
    assert!(!anonymous, "undecodable: anonymous pulls refused");
}
