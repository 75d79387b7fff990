//! The state machine: the same commands give the same state, refusals write nothing,
//! and the applied index survives a reopen.
#![allow(clippy::unwrap_used)]

use berth_core::Digest;
use berth_meta::command::{CreateAccount, DeleteManifest, DeleteTag, LinkBlob, PutManifest, UnlinkBlob};
use berth_meta::{Account, AccountKind, Applied, Command, Meta, Page, Rejection};

fn d(s: &str) -> Digest {
    Digest::sha256_of(s.as_bytes())
}

fn put(repo: &str, content: &str, blobs: &[&str], tag: Option<&str>, subject: Option<&str>) -> Command {
    Command::PutManifest(PutManifest {
        repository: repo.into(),
        digest: d(content),
        content: content.as_bytes().to_vec(),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        artifact_type: Some("application/vnd.example".into()),
        annotations: None,
        blobs: blobs.iter().map(|b| d(b)).collect(),
        children: vec![],
        subject: subject.map(d),
        tag: tag.map(Into::into),
        at: 42,
    })
}

fn link(repo: &str, blob: &str) -> Command {
    Command::LinkBlob(LinkBlob { repository: repo.into(), digest: d(blob), size: blob.len() as u64, at: 41 })
}

fn org(name: &str) -> Command {
    let account = Account {
        kind: AccountKind::Org,
        full_name: String::new(),
        email: String::new(),
        password_hash: None,
        active: true,
        admin: false,
        ldap_dn: None,
        created_at: 40,
        credential_epoch: 0,
    };
    Command::CreateAccount(CreateAccount { name: name.into(), account, adopt_repositories: false })
}

fn log() -> Vec<Command> {
    vec![
        org("a"),
        link("z/none", "layer1"),
        org("b"),
        link("a/x", "layer1"),
        link("a/x", "config"),
        put("a/x", "m1", &["layer1", "config"], Some("v1"), None),
        put("a/x", "m1", &["layer1", "config"], Some("latest"), None),
        put("a/x", "sig", &["config"], None, Some("m1")),
        put("a/x", "bad", &["missing"], Some("v2"), None),
        link("b/y", "layer1"),
        Command::UnlinkBlob(UnlinkBlob { repository: "b/y".into(), digest: d("layer1") }),
        Command::DeleteTag(DeleteTag { repository: "a/x".into(), tag: "latest".into() }),
        Command::DeleteTag(DeleteTag { repository: "a/x".into(), tag: "never".into() }),
        put("a/x", "m2", &["layer1"], Some("v3"), None),
        Command::DeleteManifest(DeleteManifest { repository: "a/x".into(), digest: d("m2") }),
    ]
}

/// Everything observable through queries, as text.
async fn snapshot(meta: &Meta) -> String {
    meta.read(|r| {
        let mut out = format!("applied={}\n", r.last_applied()?);
        for repo in r.repositories(&Page::default())?.items {
            out += &format!("repo {repo} tags={:?}\n", r.tags(&repo, &Page::default())?.items);
            for content in ["m1", "m2", "sig", "bad"] {
                out += &format!("  {content}: {:?}\n", r.manifest(&repo, d(content).as_str())?);
            }
            for blob in ["layer1", "config"] {
                out += &format!("  {blob}: {:?}\n", r.blob_link(&repo, d(blob).as_str())?);
            }
            out += &format!("  referrers of m1: {:?}\n", r.referrers(&repo, d("m1").as_str(), None)?);
        }
        Ok(out)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_same_log_gives_the_same_state() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut results = Vec::new();
    for dir in [&one, &two] {
        let meta = Meta::open(&dir.path().join("meta.redb")).unwrap();
        let mut applied = Vec::new();
        for command in log() {
            applied.push(meta.apply(command).await.unwrap());
        }
        results.push((applied, snapshot(&meta).await));
    }
    assert_eq!(results[0], results[1]);
    let (applied, state) = &results[0];
    assert_eq!(applied[1], Applied::Rejected(Rejection::NamespaceUnknown), "a repository lives in an account's namespace");
    assert_eq!(applied[8], Applied::Rejected(Rejection::MissingReferences(vec![d("missing")])));
    assert_eq!(applied[12], Applied::Rejected(Rejection::TagUnknown));
    assert!(state.contains("repo a/x tags=[\"v1\"]"), "{state}");
    assert!(!state.contains("z/none"), "{state}");
    assert!(state.contains("applied=15"), "{state}");
    assert!(state.contains("bad: None"), "a refused manifest leaves nothing: {state}");
}

#[tokio::test]
async fn state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    let before = {
        let meta = Meta::open(&path).unwrap();
        for command in log() {
            meta.apply(command).await.unwrap();
        }
        snapshot(&meta).await
    };
    let meta = Meta::open(&path).unwrap();
    assert_eq!(snapshot(&meta).await, before);
    let content = meta.read(|r| r.manifest_content(d("m1").as_str())).await.unwrap();
    assert_eq!(content.as_deref(), Some(b"m1".as_slice()));
    let gone = meta.read(|r| r.manifest_content(d("m2").as_str())).await.unwrap();
    assert!(gone.is_none(), "content goes with its last holder");
}

/// Concurrent writers share commits (group commit) yet each gets its own answer, in
/// the same state as if the commands had run one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commands_are_committed_together_with_their_own_answers() {
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open(&dir.path().join("meta.redb")).unwrap();
    meta.apply(org("c")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let meta = meta.clone();
        // Every blob is linked twice and the manifest refers to a blob that may or may not
        // be there yet: answers depend on order, never on the batch boundaries.
        tasks.push(tokio::spawn(async move {
            let linked = meta.apply(link("c/x", &format!("b{}", i % 100))).await.unwrap();
            let put = meta.apply(put("c/x", &format!("m{i}"), &[&format!("b{}", i % 100)], None, None)).await.unwrap();
            (linked, put)
        }));
    }
    for task in tasks {
        let (linked, put) = task.await.unwrap();
        assert_eq!(linked, Applied::Done);
        assert_eq!(put, Applied::Done, "its blob was linked before it, by its own task");
    }
    let applied = meta.read(|r| r.last_applied()).await.unwrap();
    assert_eq!(applied, 401);
    drop(meta);
    let meta = Meta::open(&dir.path().join("meta.redb")).unwrap();
    assert_eq!(meta.read(|r| r.last_applied()).await.unwrap(), 401);
}
