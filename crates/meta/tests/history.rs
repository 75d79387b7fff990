//! What the web UI shows is recorded by the commands themselves: a tag's history (every
//! move and deletion, the last 100 kept, gone with the repository), the last pull of a
//! manifest (never moved back in time, skipped once deleted), and sessions (only for
//! active users, ended by signing out or by expiry).
#![allow(clippy::unwrap_used)]

mod common;

use berth_meta::command::{
    CreateSession, DeleteManifest, DeleteRepository, DeleteSession, DeleteTag, LinkBlob, PurgeSessions, PutManifest, RecordPulls,
    UpdateAccount,
};
use berth_meta::{AccountKind, Applied, Command, Meta, Rejection};
use common::{account, d, org, repo, store};

fn put(content: &str, tag: &str, at: u64, by: &str) -> Command {
    Command::PutManifest(PutManifest {
        repository: repo("a/x"),
        digest: d(content),
        content: content.as_bytes().to_vec(),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        artifact_type: None,
        annotations: None,
        blobs: vec![d("layer")],
        children: vec![],
        subject: None,
        tag: Some(tag.parse().unwrap()),
        at,
        pushed_by: Some(by.into()),
        cached: false,
    })
}

async fn with_repository() -> (tempfile::TempDir, Meta) {
    let (dir, meta) = store().await;
    meta.apply(org("a")).await.unwrap();
    meta.apply(Command::LinkBlob(LinkBlob { repository: repo("a/x"), digest: d("layer"), size: 5, at: 1 })).await.unwrap();
    (dir, meta)
}

/// (digest, at, by) of each event, newest first.
async fn history(meta: &Meta, tag: &str, limit: usize) -> Vec<(Option<String>, u64, Option<String>)> {
    let tag = tag.to_owned();
    let events = meta.read(move |r| r.tag_history("a/x", &tag, limit)).await.unwrap();
    events.into_iter().map(|e| (e.digest, e.at, e.by)).collect()
}

#[tokio::test]
async fn a_tag_remembers_where_it_pointed() {
    let (_dir, meta) = with_repository().await;
    meta.apply(put("m1", "v1", 10, "alice")).await.unwrap();
    meta.apply(put("m2", "v1", 20, "bob")).await.unwrap();
    meta.apply(put("m2", "other", 25, "bob")).await.unwrap();
    let delete = DeleteTag { repository: repo("a/x"), tag: "v1".parse().unwrap(), at: 30, by: Some("carol".into()) };
    assert_eq!(meta.apply(Command::DeleteTag(delete)).await.unwrap(), Applied::Done);
    let expected = vec![
        (None, 30, Some("carol".to_owned())),
        (Some(d("m2").to_string()), 20, Some("bob".to_owned())),
        (Some(d("m1").to_string()), 10, Some("alice".to_owned())),
    ];
    assert_eq!(history(&meta, "v1", 10).await, expected);
    assert_eq!(history(&meta, "v1", 1).await, expected[..1], "newest first, limited");
    assert_eq!(history(&meta, "other", 10).await.len(), 1, "each tag its own history");

    // Deleting the manifest a tag points at moves the tag too.
    meta.apply(Command::DeleteManifest(DeleteManifest { repository: repo("a/x"), digest: d("m2"), at: 40, by: Some("dave".into()) }))
        .await
        .unwrap();
    assert_eq!(history(&meta, "other", 10).await[0], (None, 40, Some("dave".to_owned())));
}

#[tokio::test]
async fn the_last_hundred_moves_are_kept_and_go_with_the_repository() {
    let (_dir, meta) = with_repository().await;
    for at in 1..=130u64 {
        meta.apply(put(&format!("m{}", at % 2), "latest", at, "ci")).await.unwrap();
    }
    let events = history(&meta, "latest", 1000).await;
    assert_eq!(events.len(), 100);
    assert_eq!((events[0].1, events[99].1), (130, 31), "the newest hundred");
    assert_eq!(meta.apply(Command::DeleteRepository(DeleteRepository { name: repo("a/x") })).await.unwrap(), Applied::Done);
    assert!(history(&meta, "latest", 1000).await.is_empty(), "a new repository of that name starts afresh");
}

#[tokio::test]
async fn pulls_are_recorded_forward_in_time_for_manifests_that_exist() {
    let (_dir, meta) = with_repository().await;
    meta.apply(put("m1", "v1", 10, "alice")).await.unwrap();
    let last_pulled = |meta: &Meta| {
        let meta = meta.clone();
        async move { meta.read(|r| r.manifest("a/x", d("m1").as_str())).await.unwrap().unwrap().last_pulled }
    };
    assert_eq!(last_pulled(&meta).await, None);
    let record = |at: u64, content: &str| Command::RecordPulls(RecordPulls { pulls: vec![(repo("a/x"), d(content), at)] });
    assert_eq!(meta.apply(record(50, "m1")).await.unwrap(), Applied::Done);
    assert_eq!(last_pulled(&meta).await, Some(50));
    meta.apply(record(40, "m1")).await.unwrap();
    assert_eq!(last_pulled(&meta).await, Some(50), "an older pull, flushed late, does not move it back");
    assert_eq!(meta.apply(record(60, "never-pushed")).await.unwrap(), Applied::Done, "a manifest deleted since is skipped");
    assert!(meta.read(|r| r.manifest("a/x", d("never-pushed").as_str())).await.unwrap().is_none(), "and not created");
}

fn session(id: &str, user: &str, at: u64, expires_at: u64) -> Command {
    Command::CreateSession(CreateSession { id: id.into(), user: user.into(), secret_sha256: "00".repeat(32), epoch: 0, at, expires_at })
}

#[tokio::test]
async fn sessions_belong_to_active_users_and_end() {
    let (_dir, meta) = store().await;
    meta.apply(account("alice", AccountKind::User, false)).await.unwrap();
    meta.apply(org("acme")).await.unwrap();
    assert_eq!(meta.apply(session("s0", "nobody", 1, 100)).await.unwrap(), Applied::Rejected(Rejection::AccountUnknown));
    assert_eq!(meta.apply(session("s0", "acme", 1, 100)).await.unwrap(), Applied::Rejected(Rejection::AccountUnknown), "an organization");
    assert_eq!(meta.apply(session("s0", "alice", 100, 100)).await.unwrap(), Applied::Rejected(Rejection::ExpiryInThePast));
    assert!(meta.read(|r| r.session("s0")).await.unwrap().is_none(), "a refusal writes nothing");

    assert_eq!(meta.apply(session("s1", "alice", 1, 100)).await.unwrap(), Applied::Done);
    assert_eq!(meta.apply(session("s2", "alice", 1, 200)).await.unwrap(), Applied::Done);
    assert_eq!(meta.read(|r| r.session("s1")).await.unwrap().unwrap().user, "alice");
    meta.apply(Command::DeleteSession(DeleteSession { id: "s1".into() })).await.unwrap();
    assert!(meta.read(|r| r.session("s1")).await.unwrap().is_none(), "signed out");
    meta.apply(Command::PurgeSessions(PurgeSessions { at: 150 })).await.unwrap();
    assert!(meta.read(|r| r.session("s2")).await.unwrap().is_some(), "not yet expired");
    meta.apply(Command::PurgeSessions(PurgeSessions { at: 200 })).await.unwrap();
    assert!(meta.read(|r| r.session("s2")).await.unwrap().is_none(), "expired and purged");

    let deactivate = UpdateAccount { name: "alice".into(), active: Some(false), ..UpdateAccount::default() };
    meta.apply(Command::UpdateAccount(deactivate)).await.unwrap();
    assert_eq!(meta.apply(session("s3", "alice", 1, 100)).await.unwrap(), Applied::Rejected(Rejection::AccountUnknown), "deactivated");
}

#[tokio::test]
async fn immutable_tags_are_neither_deleted_nor_taken_along() {
    use berth_meta::command::UpdateRepository;
    let (_dir, meta) = with_repository().await;
    meta.apply(put("m1", "v1", 10, "alice")).await.unwrap();
    let immutable = |on: bool| {
        Command::UpdateRepository(UpdateRepository {
            name: repo("a/x"),
            public: None,
            immutable_tags: Some(on),
            short_description: None,
            long_description: None,
            signed_pulls_only: None,
            signature_keys: None,
            tag_limit: None,
        })
    };
    assert_eq!(meta.apply(immutable(true)).await.unwrap(), Applied::Done);
    let delete_tag = || Command::DeleteTag(DeleteTag { repository: repo("a/x"), tag: "v1".parse().unwrap(), at: 20, by: None });
    let delete_manifest = || Command::DeleteManifest(DeleteManifest { repository: repo("a/x"), digest: d("m1"), at: 20, by: None });
    let refused = Applied::Rejected(Rejection::TagImmutableDeletion("v1".into()));
    assert_eq!(meta.apply(delete_tag()).await.unwrap(), refused);
    assert_eq!(meta.apply(delete_manifest()).await.unwrap(), refused);
    assert_eq!(history(&meta, "v1", 10).await.len(), 1, "a refusal writes nothing");
    // An untagged manifest of an immutable repository may go.
    meta.apply(put("m2", "v2", 11, "alice")).await.unwrap();
    meta.apply(immutable(false)).await.unwrap();
    meta.apply(delete_tag_named("v2")).await.unwrap();
    meta.apply(immutable(true)).await.unwrap();
    assert_eq!(
        meta.apply(Command::DeleteManifest(DeleteManifest { repository: repo("a/x"), digest: d("m2"), at: 30, by: None })).await.unwrap(),
        Applied::Done
    );
    meta.apply(immutable(false)).await.unwrap();
    assert_eq!(meta.apply(delete_tag()).await.unwrap(), Applied::Done, "once the setting is off");
}

fn delete_tag_named(tag: &str) -> Command {
    Command::DeleteTag(DeleteTag { repository: repo("a/x"), tag: tag.parse().unwrap(), at: 12, by: None })
}

#[tokio::test]
async fn the_last_move_of_every_tag_in_one_scan() {
    let (_dir, meta) = with_repository().await;
    meta.apply(put("m1", "a", 10, "alice")).await.unwrap();
    meta.apply(put("m2", "a", 20, "alice")).await.unwrap();
    meta.apply(put("m1", "b", 15, "alice")).await.unwrap();
    meta.apply(put("m2", "c", 30, "alice")).await.unwrap();
    meta.apply(delete_tag_named("c")).await.unwrap();
    let moves = meta.read(|r| r.last_tag_moves("a/x")).await.unwrap();
    assert_eq!(moves.get("a"), Some(&20), "the newest of several moves");
    assert_eq!(moves.get("b"), Some(&15));
    assert_eq!(moves.get("c"), None, "a deleted tag has no last move");
    assert_eq!(moves.len(), 2);
    assert!(meta.read(|r| r.last_tag_moves("a/xy")).await.unwrap().is_empty(), "another repository's tags are not counted");
}
