//! Garbage collection's rules, inside the transaction: a blob is retired only when no
//! manifest uses it and no link is recent; a retired blob cannot be linked or mounted
//! (so no manifest can come to use it) until forgotten; one collection per cluster, a
//! replica taking over its own lock; a store from before the blob indexes gets them; and
//! an upload cannot link bytes a collection deleted after the upload found them.
#![allow(clippy::unwrap_used)]

mod common;

use berth_meta::command::{
    AcquireGcLock, DeleteManifest, DeleteRepository, FinishGc, ForgetRetiredBlobs, LinkBlob, LinkUploadedBlob, MountBlob, PutManifest,
    RetireBlobs,
};
use berth_meta::{Applied, Command, GcRun, Meta, Rejection};
use common::{d, org, repo, store};

fn link(name: &str, blob: &str, at: u64) -> Command {
    Command::LinkBlob(LinkBlob { repository: repo(name), digest: d(blob), size: 1, at })
}

fn put(name: &str, content: &str, blobs: &[&str]) -> Command {
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
        tag: None,
        at: 5,
        pushed_by: None,
        cached: false,
    })
}

fn retire(blobs: &[&str], linked_before: u64) -> Command {
    Command::RetireBlobs(RetireBlobs { digests: blobs.iter().map(|b| d(b)).collect(), linked_before, at: 20 })
}

async fn retired(meta: &Meta, blob: &str) -> bool {
    let key = d(blob).to_string();
    meta.read(move |r| r.blob_retired(&key)).await.unwrap()
}

#[tokio::test]
async fn only_unused_blobs_without_recent_links_are_retired() {
    let (_dir, meta) = store().await;
    meta.apply(org("a")).await.unwrap();
    for (blob, at) in [("used", 1), ("old", 1), ("fresh", 10), ("shared", 1)] {
        meta.apply(link("a/x", blob, at)).await.unwrap();
    }
    meta.apply(link("a/y", "shared", 1)).await.unwrap();
    meta.apply(put("a/x", "m1", &["used"])).await.unwrap();
    assert_eq!(meta.apply(retire(&["used", "old", "fresh", "shared", "never-stored"], 10)).await.unwrap(), Applied::Done);
    assert!(!retired(&meta, "used").await, "a manifest uses it");
    assert!(!retired(&meta, "fresh").await, "linked within the grace period");
    assert!(retired(&meta, "old").await && retired(&meta, "shared").await);
    // A retired blob loses its links everywhere and cannot be linked or mounted again.
    let links = meta.read(|r| Ok((r.blob_link("a/x", d("shared").as_str())?, r.blob_link("a/y", d("shared").as_str())?))).await.unwrap();
    assert_eq!(links, (None, None));
    assert_eq!(meta.apply(link("a/x", "old", 21)).await.unwrap(), Applied::Rejected(Rejection::BlobRetired));
    meta.apply(link("a/z", "used", 1)).await.unwrap();
    let mount = Command::MountBlob(MountBlob { repository: repo("a/z"), from: repo("a/x"), digest: d("old"), at: 21 });
    assert_eq!(meta.apply(mount).await.unwrap(), Applied::Rejected(Rejection::BlobUnknown));
    // So a manifest cannot come to use it.
    assert!(matches!(meta.apply(put("a/x", "m2", &["old"])).await.unwrap(), Applied::Rejected(Rejection::MissingReferences(_))));
    // Once its bytes are gone and it is forgotten, it is pushed again like any blob.
    meta.apply(Command::ForgetRetiredBlobs(ForgetRetiredBlobs { digests: vec![d("old")] })).await.unwrap();
    assert_eq!(meta.apply(link("a/x", "old", 22)).await.unwrap(), Applied::Done);
}

#[tokio::test]
async fn blobs_fall_out_of_use_with_their_last_manifest() {
    let (_dir, meta) = store().await;
    meta.apply(org("a")).await.unwrap();
    meta.apply(link("a/x", "layer", 1)).await.unwrap();
    meta.apply(link("a/y", "layer", 1)).await.unwrap();
    meta.apply(put("a/x", "m1", &["layer"])).await.unwrap();
    meta.apply(put("a/y", "m1", &["layer"])).await.unwrap();
    let delete = Command::DeleteManifest(DeleteManifest { repository: repo("a/x"), digest: d("m1"), at: 6, by: None });
    meta.apply(delete).await.unwrap();
    meta.apply(retire(&["layer"], 10)).await.unwrap();
    assert!(!retired(&meta, "layer").await, "a/y's manifest still uses it");
    meta.apply(Command::DeleteRepository(DeleteRepository { name: repo("a/y") })).await.unwrap();
    meta.apply(retire(&["layer"], 10)).await.unwrap();
    assert!(retired(&meta, "layer").await, "no manifest uses it any more");
}

fn lock(holder: &str, at: u64) -> Command {
    Command::AcquireGcLock(AcquireGcLock { holder: holder.into(), at, until: at + 10 })
}

#[tokio::test]
async fn one_collection_at_a_time_per_cluster() {
    let (_dir, meta) = store().await;
    assert_eq!(meta.apply(lock("r1/run1", 100)).await.unwrap(), Applied::Done);
    assert_eq!(meta.apply(lock("r2/run1", 105)).await.unwrap(), Applied::Rejected(Rejection::GcRunning("r1/run1".into())));
    assert_eq!(meta.apply(lock("r1/run2", 105)).await.unwrap(), Applied::Done, "a replica takes over its own lock");
    assert_eq!(meta.apply(lock("r2/run1", 116)).await.unwrap(), Applied::Done, "a lapsed lock is free");
    let run = GcRun { holder: "r2/run1".into(), deleted: 3, ..GcRun::default() };
    meta.apply(Command::FinishGc(FinishGc { run: run.clone() })).await.unwrap();
    assert_eq!(meta.read(|r| r.gc_lock()).await.unwrap(), None, "released");
    assert_eq!(meta.read(|r| r.last_gc()).await.unwrap(), Some(run));
    assert_eq!(meta.apply(lock("r1/run3", 117)).await.unwrap(), Applied::Done);
}

/// A store written before the blob indexes existed (schema 1) gets them when opened.
#[tokio::test]
async fn an_older_store_gets_its_blob_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    {
        let meta = Meta::open(&path).await.unwrap();
        meta.apply(org("a")).await.unwrap();
        meta.apply(link("a/x", "used", 1)).await.unwrap();
        meta.apply(link("a/x", "unused", 1)).await.unwrap();
        meta.apply(put("a/x", "m1", &["used"])).await.unwrap();
        meta.shutdown().await;
    }
    {
        // As the previous version left it: no indexes, schema 1.
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.delete_table(berth_meta::tables::BLOB_REFERENCES).unwrap();
        tx.delete_table(berth_meta::tables::BLOB_REPOSITORIES).unwrap();
        tx.delete_table(berth_meta::tables::NAMESPACE_USAGE).unwrap();
        tx.open_table(berth_meta::tables::META).unwrap().insert(berth_meta::tables::SCHEMA, 1).unwrap();
        tx.commit().unwrap();
    }
    let meta = Meta::open(&path).await.unwrap();
    assert_eq!(meta.read(|r| r.namespace_usage("a")).await.unwrap(), 1, "the namespace's usage was counted");
    meta.apply(retire(&["used", "unused"], 10)).await.unwrap();
    assert!(!retired(&meta, "used").await, "the manifest's use was indexed");
    assert!(retired(&meta, "unused").await);
    assert_eq!(meta.read(|r| r.blob_link("a/x", d("unused").as_str())).await.unwrap(), None, "its link was indexed, and removed");
}

fn sized_link(name: &str, blob: &str, size: u64) -> Command {
    Command::LinkBlob(LinkBlob { repository: repo(name), digest: d(blob), size, at: 1 })
}

#[tokio::test]
async fn quotas_count_distinct_blobs_per_namespace() {
    use berth_meta::Setting;
    use berth_meta::command::PutSetting;
    let (_dir, meta) = store().await;
    meta.apply(org("a")).await.unwrap();
    let usage = |meta: &Meta| {
        let meta = meta.clone();
        async move { meta.read(|r| r.namespace_usage("a")).await.unwrap() }
    };
    for (repo_name, blob, size) in [("a/x", "l1", 100), ("a/x", "l2", 50), ("a/y", "l1", 100), ("a/y", "l3", 70)] {
        meta.apply(sized_link(repo_name, blob, size)).await.unwrap();
    }
    let quota = PutSetting { setting: Setting::NamespaceQuota { namespace: "a".into(), bytes: Some(200) }, only_if_absent: false };
    meta.apply(Command::PutSetting(quota)).await.unwrap();
    assert_eq!(meta.apply(put("a/x", "m1", &["l1", "l2"])).await.unwrap(), Applied::Done);
    assert_eq!(usage(&meta).await, 150);
    // l1 again, in another repository: counted once; l3 would take it to 220.
    let refused = meta.apply(put("a/y", "m2", &["l1", "l3"])).await.unwrap();
    assert_eq!(refused, Applied::Rejected(Rejection::QuotaExceeded { namespace: "a".into(), quota: 200, used: 150, needed: 70 }));
    assert_eq!(meta.apply(put("a/y", "m3", &["l1"])).await.unwrap(), Applied::Done, "nothing new: always passes");
    assert_eq!(usage(&meta).await, 150);
    meta.apply(Command::DeleteManifest(DeleteManifest { repository: repo("a/x"), digest: d("m1"), at: 6, by: None })).await.unwrap();
    assert_eq!(usage(&meta).await, 100, "l2 is free again; l1 is still used by a/y");
    meta.apply(Command::DeleteRepository(DeleteRepository { name: repo("a/y") })).await.unwrap();
    assert_eq!(usage(&meta).await, 0);
}

#[tokio::test]
async fn only_untagged_manifests_nothing_names_are_pruned() {
    use berth_meta::command::PruneManifest;
    let (_dir, meta) = store().await;
    meta.apply(org("a")).await.unwrap();
    meta.apply(link("a/x", "l", 1)).await.unwrap();
    let tagged = |content: &str, tag: &str| {
        let Command::PutManifest(mut m) = put("a/x", content, &["l"]) else { unreachable!() };
        m.tag = Some(tag.parse().unwrap());
        Command::PutManifest(m)
    };
    meta.apply(tagged("old", "v1")).await.unwrap();
    meta.apply(tagged("tagged", "v2")).await.unwrap();
    meta.apply(tagged("old", "v1-moved-away")).await.unwrap();
    meta.apply(Command::DeleteTag(berth_meta::command::DeleteTag { repository: repo("a/x"), tag: "v1".parse().unwrap(), at: 6, by: None }))
        .await
        .unwrap();
    meta.apply(Command::DeleteTag(berth_meta::command::DeleteTag {
        repository: repo("a/x"),
        tag: "v1-moved-away".parse().unwrap(),
        at: 6,
        by: None,
    }))
    .await
    .unwrap();
    meta.apply(put("a/x", "child", &["l"])).await.unwrap();
    let Command::PutManifest(mut index) = put("a/x", "index", &[]) else { unreachable!() };
    index.children = vec![d("child")];
    index.tag = Some("multi".parse().unwrap());
    meta.apply(Command::PutManifest(index)).await.unwrap();
    let Command::PutManifest(mut signature) = put("a/x", "sig", &["l"]) else { unreachable!() };
    signature.subject = Some(d("tagged"));
    meta.apply(Command::PutManifest(signature)).await.unwrap();
    let prune = |content: &str, pushed_before: u64| {
        Command::PruneManifest(PruneManifest { repository: repo("a/x"), digest: d(content), pushed_before, at: 30 })
    };
    let untagged = meta.read(|r| r.untagged_manifests(10)).await.unwrap();
    let mut names: Vec<String> = untagged.into_iter().map(|(_, m)| m).collect();
    names.sort();
    let mut expected = vec![d("old").to_string(), d("child").to_string()];
    expected.sort();
    assert_eq!(names, expected, "candidates: untagged and no artifact");
    assert_eq!(meta.apply(prune("old", 5)).await.unwrap(), Applied::Rejected(Rejection::ManifestInUse), "too new");
    assert_eq!(meta.apply(prune("tagged", 10)).await.unwrap(), Applied::Rejected(Rejection::ManifestInUse), "tagged");
    assert_eq!(meta.apply(prune("child", 10)).await.unwrap(), Applied::Rejected(Rejection::ManifestInUse), "listed by an index");
    assert_eq!(meta.apply(prune("sig", 10)).await.unwrap(), Applied::Rejected(Rejection::ManifestInUse), "an artifact");
    assert_eq!(meta.apply(prune("old", 10)).await.unwrap(), Applied::Done);
    assert!(meta.read(|r| r.manifest("a/x", d("old").as_str())).await.unwrap().is_none());
}

fn link_uploaded(name: &str, blob: &str, checked_after: u64) -> Command {
    Command::LinkUploadedBlob(LinkUploadedBlob { repository: repo(name), digest: d(blob), size: 1, at: 30, checked_after })
}

fn forget(blobs: &[&str]) -> Command {
    Command::ForgetRetiredBlobs(ForgetRetiredBlobs { digests: blobs.iter().map(|b| d(b)).collect() })
}

async fn last_forget(meta: &Meta) -> u64 {
    meta.read(|r| r.last_forget()).await.unwrap()
}

#[tokio::test]
async fn an_upload_that_found_bytes_a_collection_then_deleted_cannot_link_them() {
    let (_dir, meta) = store().await;
    meta.apply(org("a")).await.unwrap();
    meta.apply(link("a/x", "layer", 1)).await.unwrap();
    // An upload of the same content reads the forget number, then finds the bytes stored
    // (and keeps them rather than its own)...
    let checked = last_forget(&meta).await;
    // ...while a collection retires the blob, deletes the bytes and forgets it.
    meta.apply(retire(&["layer"], 10)).await.unwrap();
    assert_eq!(meta.apply(link_uploaded("a/y", "layer", checked)).await.unwrap(), Applied::Rejected(Rejection::BlobRetired));
    meta.apply(forget(&["layer"])).await.unwrap();
    assert_eq!(last_forget(&meta).await, checked + 1);
    assert_eq!(meta.apply(link_uploaded("a/y", "layer", checked)).await.unwrap(), Applied::Rejected(Rejection::BlobRetired));
    assert_eq!(meta.read(|r| r.blob_link("a/y", d("layer").as_str())).await.unwrap(), None);
    // An upload that looked after the forget stored its own bytes: it links.
    assert_eq!(meta.apply(link_uploaded("a/y", "layer", checked + 1)).await.unwrap(), Applied::Done);
    // Other blobs forgotten meanwhile do not concern an upload.
    meta.apply(link("a/x", "other", 1)).await.unwrap();
    meta.apply(retire(&["other"], 10)).await.unwrap();
    meta.apply(forget(&["other"])).await.unwrap();
    assert_eq!(meta.apply(link_uploaded("a/z", "layer", checked)).await.unwrap(), Applied::Rejected(Rejection::BlobRetired));
    assert_eq!(meta.apply(link_uploaded("a/z", "fresh", checked)).await.unwrap(), Applied::Done);
}

#[tokio::test]
async fn only_the_latest_forgets_are_remembered_and_older_uploads_are_refused() {
    let (_dir, meta) = store().await;
    meta.apply(org("a")).await.unwrap();
    let kept = berth_meta::tables::FORGETS_KEPT;
    for n in 0..kept + 2 {
        meta.apply(forget(&[&format!("b{n}")])).await.unwrap();
    }
    assert_eq!(last_forget(&meta).await, kept + 2);
    // Forgets 1 and 2 are dropped: an upload that read 0 or 1 cannot be checked and is refused.
    for checked in [0, 1] {
        assert_eq!(meta.apply(link_uploaded("a/x", "new", checked)).await.unwrap(), Applied::Rejected(Rejection::BlobRetired));
    }
    assert_eq!(meta.apply(link_uploaded("a/x", "new", 2)).await.unwrap(), Applied::Done);
    // b{n} was forgotten by forget n + 1; b0's entry went with forget 1.
    assert_eq!(meta.apply(link_uploaded("a/x", "b2", 2)).await.unwrap(), Applied::Rejected(Rejection::BlobRetired));
    assert_eq!(meta.apply(link_uploaded("a/x", "b2", 3)).await.unwrap(), Applied::Done);
    assert_eq!(meta.apply(link_uploaded("a/x", "b0", 2)).await.unwrap(), Applied::Done);
}
