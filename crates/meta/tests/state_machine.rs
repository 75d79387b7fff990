//! The state machine: the applied index and the state survive a reopen, and concurrent
//! writers share commits (group commit) yet each gets its own answer.
#![allow(clippy::unwrap_used)]

mod common;

use berth_meta::command::{DeleteManifest, LinkBlob, PutManifest};
use berth_meta::{Applied, Command, Meta};
use common::{d, org, repo};

fn put(name: &str, content: &str, blobs: &[&str], tag: Option<&str>) -> Command {
    Command::PutManifest(PutManifest {
        repository: repo(name),
        digest: d(content),
        content: content.as_bytes().to_vec(),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        artifact_type: None,
        annotations: None,
        blobs: blobs.iter().map(|b| d(b)).collect(),
        children: vec![],
        subject: None,
        tag: tag.map(|t| t.parse().unwrap()),
        at: 42,
        pushed_by: None,
        cached: false,
    })
}

fn link(name: &str, blob: &str) -> Command {
    Command::LinkBlob(LinkBlob { repository: repo(name), digest: d(blob), size: blob.len() as u64, at: 41 })
}

#[tokio::test]
async fn state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    let log = [org("a"), link("a/x", "layer"), put("a/x", "m1", &["layer"], Some("v1")), put("a/x", "m2", &["layer"], None)];
    let (before, start) = {
        let meta = Meta::open(&path).await.unwrap();
        let start = meta.read(|r| r.last_applied()).await.unwrap();
        for command in log {
            assert_eq!(meta.apply(command).await.unwrap(), Applied::Done);
        }
        meta.apply(Command::DeleteManifest(DeleteManifest { repository: repo("a/x"), digest: d("m2"), at: 0, by: None })).await.unwrap();
        let before = meta.read(|r| Ok((r.dump()?, r.last_applied()?))).await.unwrap();
        meta.shutdown().await;
        (before, start)
    };
    let meta = Meta::open(&path).await.unwrap();
    // Reopened, the replica leads again (perhaps with a blank entry of a new term).
    let after = meta.read(|r| Ok((r.dump()?, r.last_applied()?))).await.unwrap();
    assert_eq!(after.0, before.0);
    assert_eq!(before.1, start + 5, "one log entry per command");
    assert!(after.1 >= before.1);
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
    let meta = Meta::open(&dir.path().join("meta.redb")).await.unwrap();
    let start = meta.read(|r| r.last_applied()).await.unwrap();
    meta.apply(org("c")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let meta = meta.clone();
        // Every blob is linked twice and the manifest refers to a blob that may or may not
        // be there yet: answers depend on order, never on the batch boundaries.
        tasks.push(tokio::spawn(async move {
            let linked = meta.apply(link("c/x", &format!("b{}", i % 100))).await.unwrap();
            let put = meta.apply(put("c/x", &format!("m{i}"), &[&format!("b{}", i % 100)], None)).await.unwrap();
            (linked, put)
        }));
    }
    for task in tasks {
        let (linked, put) = task.await.unwrap();
        assert_eq!(linked, Applied::Done);
        assert_eq!(put, Applied::Done, "its blob was linked before it, by its own task");
    }
    let applied = meta.read(|r| r.last_applied()).await.unwrap();
    assert_eq!(applied, start + 401);
    let dump = meta.read(|r| r.dump()).await.unwrap();
    meta.shutdown().await;
    drop(meta);
    let meta = Meta::open(&dir.path().join("meta.redb")).await.unwrap();
    assert_eq!(meta.read(|r| r.dump()).await.unwrap(), dump);
    assert!(meta.read(|r| r.last_applied()).await.unwrap() >= applied);
}
