//! The behaviour every blob backend keeps. Each backend runs `suite` with a factory that
//! opens it on the same root, so restart behaviour is covered too.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::Duration;

use berth_core::{ByteRange, Digest};
use berth_storage::{BlobStore, ByteStream, Error, FsStore, S3Store, UploadId};
use bytes::Bytes;
use futures_util::StreamExt;

fn body(parts: &[&[u8]]) -> ByteStream {
    let owned: Vec<Result<Bytes, std::io::Error>> = parts.iter().map(|p| Ok(Bytes::copy_from_slice(p))).collect();
    Box::pin(futures_util::stream::iter(owned))
}

async fn read_all(store: &impl BlobStore, digest: &Digest, range: Option<ByteRange>) -> Vec<u8> {
    let mut reader = store.open(digest, range).await.unwrap().unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = reader.stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

async fn suite<S: BlobStore>(open: impl Fn() -> S) {
    let store = open();
    let content = b"hello, blob store".repeat(1000);
    let digest = Digest::sha256_of(&content);

    // Upload in two appends, commit, read back whole and by range.
    let up = store.create_upload("ns/app", 100).await.unwrap();
    assert_eq!(up.offset, 0);
    let up = store.append(&up.id, 0, body(&[&content[..5000]]), 101).await.unwrap();
    assert_eq!(up.offset, 5000);
    let err = store.append(&up.id, 10, body(&[b"x"]), 102).await.unwrap_err();
    assert!(matches!(err, Error::OffsetMismatch { current: 5000, requested: 10 }));

    // The session survives a restart of the store, with its hash state.
    let store = open();
    let state = store.upload_state(&up.id).await.unwrap().unwrap();
    assert_eq!((state.offset, state.repository.as_str()), (5000, "ns/app"));
    let up = store.append(&up.id, 5000, body(&[&content[5000..10000], &content[10000..]]), 103).await.unwrap();
    assert_eq!(up.offset, content.len() as u64);
    let wrong = Digest::sha256_of(b"other");
    assert!(matches!(store.commit(&up.id, &wrong).await.unwrap_err(), Error::DigestMismatch { .. }));
    assert_eq!(store.commit(&up.id, &digest).await.unwrap().size, content.len() as u64);
    assert!(store.upload_state(&up.id).await.unwrap().is_none(), "a committed session ends");
    assert_eq!(store.stat(&digest).await.unwrap().unwrap().size, content.len() as u64);
    assert_eq!(read_all(&store, &digest, None).await, content);
    assert_eq!(read_all(&store, &digest, Some(ByteRange { first: 10, last: 19 })).await, &content[10..20]);
    let past = store.open(&digest, Some(ByteRange { first: 1 << 20, last: 2 << 20 })).await;
    assert!(matches!(past, Err(Error::RangeNotSatisfiable { .. })));

    // Committing the same content again is harmless.
    let again = store.create_upload("ns/other", 104).await.unwrap();
    store.append(&again.id, 0, body(&[&content]), 105).await.unwrap();
    store.commit(&again.id, &digest).await.unwrap();

    // Delete is idempotent; absent blobs are None.
    store.delete(&digest).await.unwrap();
    store.delete(&digest).await.unwrap();
    assert!(store.stat(&digest).await.unwrap().is_none());
    assert!(store.open(&digest, None).await.unwrap().is_none());

    // An interrupted body keeps what arrived.
    let cut = store.create_upload("ns/app", 106).await.unwrap();
    let broken: ByteStream =
        Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from_static(b"12345")), Err(std::io::Error::other("client went away"))]));
    assert!(matches!(store.append(&cut.id, 0, broken, 107).await.unwrap_err(), Error::BodyInterrupted(_)));
    assert_eq!(store.upload_state(&cut.id).await.unwrap().unwrap().offset, 5);

    store.append(&cut.id, 5, body(&[b"67890"]), 108).await.unwrap();
    store.commit(&cut.id, &Digest::sha256_of(b"1234567890")).await.unwrap();
    assert_eq!(read_all(&store, &Digest::sha256_of(b"1234567890"), None).await, b"1234567890");

    // A blob of several parts (S3's is 5 MiB), sent in pieces that do not fall on part
    // boundaries, with restarts between them; and SHA-512 digests, small and large.
    let big: Vec<u8> = (0..12_500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for algorithm in [berth_core::DigestAlgorithm::Sha256, berth_core::DigestAlgorithm::Sha512] {
        let mut hasher = berth_core::Hasher::new(algorithm);
        hasher.update(&big);
        let digest = hasher.finish();
        let store = open();
        let up = store.create_upload("ns/big", 300).await.unwrap();
        let mut offset = 0u64;
        for piece in [&big[..3_000_000], &big[3_000_000..9_000_000], &big[9_000_000..]] {
            let store = open();
            let halves = piece.split_at(piece.len() / 2);
            offset = store.append(&up.id, offset, body(&[halves.0, halves.1]), 301).await.unwrap().offset;
        }
        assert_eq!(offset, big.len() as u64);
        let store = open();
        assert!(matches!(store.commit(&up.id, &wrong).await.unwrap_err(), Error::DigestMismatch { .. }));
        assert_eq!(store.commit(&up.id, &digest).await.unwrap().size, big.len() as u64);
        assert_eq!(store.stat(&digest).await.unwrap().unwrap().size, big.len() as u64);
        assert!(read_all(&store, &digest, None).await == big, "{digest} reads back whole");
        let range = ByteRange { first: 5_242_000, last: 5_243_000 };
        assert_eq!(read_all(&store, &digest, Some(range)).await, &big[5_242_000..=5_243_000]);
        // Reads go in pieces of 256 KiB: ranges across, on and past their edges, and the last byte.
        for (first, last) in [(1_048_570, 3_145_740), (256 << 10, (512 << 10) - 1), (9_999_999, 20_000_000), (12_499_999, 12_499_999)] {
            let got = read_all(&store, &digest, Some(ByteRange { first, last })).await;
            let end = (last as usize).min(big.len() - 1);
            assert!(got == big[first as usize..=end], "{digest} bytes {first}-{last}");
        }
        store.delete(&digest).await.unwrap();
    }
    let small = b"a small sha512 blob";
    let mut hasher = berth_core::Hasher::new(berth_core::DigestAlgorithm::Sha512);
    hasher.update(small);
    let up = store.create_upload("ns/app", 302).await.unwrap();
    store.append(&up.id, 0, body(&[small]), 303).await.unwrap();
    store.commit(&up.id, &hasher.finish()).await.unwrap();
    assert_eq!(read_all(&store, &hasher.finish(), None).await, small);

    // An empty blob.
    let up = store.create_upload("ns/app", 304).await.unwrap();
    store.commit(&up.id, &Digest::sha256_of(b"")).await.unwrap();
    assert_eq!(store.stat(&Digest::sha256_of(b"")).await.unwrap().unwrap().size, 0);
    assert!(read_all(&store, &Digest::sha256_of(b""), None).await.is_empty());

    // Cancel is idempotent; unknown sessions are reported.
    let gone = store.create_upload("ns/app", 109).await.unwrap();
    store.cancel(&gone.id).await.unwrap();
    store.cancel(&gone.id).await.unwrap();
    assert!(matches!(store.append(&gone.id, 0, body(&[b"x"]), 110).await.unwrap_err(), Error::UploadUnknown(_)));
    assert!(matches!(store.commit(&UploadId::random(), &digest).await.unwrap_err(), Error::UploadUnknown(_)));

    // Purge removes only sessions idle for long enough.
    let old = store.create_upload("ns/app", 1_000).await.unwrap();
    let fresh = store.create_upload("ns/app", 5_000).await.unwrap();
    let before = store.count_uploads().await.unwrap();
    let purged = store.purge_uploads(Duration::from_secs(3_000), 5_000).await.unwrap();
    assert!(purged >= 1);
    assert!(store.upload_state(&old.id).await.unwrap().is_none());
    assert!(store.upload_state(&fresh.id).await.unwrap().is_some());
    assert_eq!(store.count_uploads().await.unwrap(), before - purged);

    // The listing finds every committed blob once, with its size and write time;
    // deleting many at once is idempotent too.
    let mut digests = Vec::new();
    for i in 0..40u32 {
        let bytes = format!("listed blob {i}").into_bytes();
        let up = store.create_upload("ns/app", 200).await.unwrap();
        store.append(&up.id, 0, body(&[&bytes]), 201).await.unwrap();
        store.commit(&up.id, &Digest::sha256_of(&bytes)).await.unwrap();
        digests.push((Digest::sha256_of(&bytes), bytes.len() as u64));
    }
    let mut listed = Vec::new();
    let mut listing = store.list_blobs();
    while let Some(blob) = futures_util::TryStreamExt::try_next(&mut listing).await.unwrap() {
        assert!(blob.modified > 1_700_000_000, "a write time in seconds since the epoch");
        let previous = listed.iter().rev().find(|(d, _): &&(Digest, u64)| d.algorithm() == blob.digest.algorithm());
        if let Some((previous, _)) = previous {
            assert!(blob.digest.as_str() > previous.as_str(), "ascending digest order within an algorithm");
        }
        listed.push((blob.digest, blob.size));
    }
    drop(listing);
    for expected in &digests {
        assert_eq!(listed.iter().filter(|b| *b == expected).count(), 1, "{} listed once", expected.0);
    }
    let doomed: Vec<Digest> = digests.iter().take(30).map(|(d, _)| d.clone()).collect();
    store.delete_blobs(&doomed).await.unwrap();
    store.delete_blobs(&doomed).await.unwrap();
    for (digest, _) in &digests[..30] {
        assert!(store.stat(digest).await.unwrap().is_none());
    }
    for (digest, _) in &digests[30..] {
        assert!(store.stat(digest).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn filesystem_backend() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    suite(|| FsStore::open(&root, 1 << 30).unwrap()).await;
}

#[tokio::test]
async fn s3_backend() {
    let Some(server) = berth_storage::testing::S3Server::start() else {
        assert!(std::env::var_os("BERTH_REQUIRE_CLIENTS").is_none(), "s3s-fs is required (BERTH_REQUIRE_CLIENTS is set)");
        eprintln!("skipped: s3s-fs is not installed");
        return;
    };
    let spill = tempfile::tempdir().unwrap();
    // A prefix with characters object paths encode: the listing must still find the blobs.
    let options = server.options("s#~1/");
    suite(|| S3Store::open(&options, spill.path(), 1 << 30).unwrap()).await;
    size_limit(S3Store::open(&server.options("limit/"), spill.path(), 10).unwrap()).await;
}

/// Bytes past the recorded offset (a crash mid-append) are dropped by the next append.
#[tokio::test]
async fn filesystem_crash_mid_append() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let store = FsStore::open(root, 1 << 30).unwrap();
    let cut = store.create_upload("ns/app", 106).await.unwrap();
    store.append(&cut.id, 0, body(&[b"12345"]), 107).await.unwrap();
    let data = root.join("uploads").join(cut.id.as_str()).join("data");
    std::fs::OpenOptions::new().append(true).open(&data).unwrap().write_all(b"garbage").unwrap();
    store.append(&cut.id, 5, body(&[b"67890"]), 108).await.unwrap();
    store.commit(&cut.id, &Digest::sha256_of(b"1234567890")).await.unwrap();
    let store = FsStore::open(root, 1 << 30).unwrap();
    assert_eq!(read_all(&store, &Digest::sha256_of(b"1234567890"), None).await, b"1234567890");
}

#[tokio::test]
async fn filesystem_upload_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    size_limit(FsStore::open(dir.path(), 10).unwrap()).await;
}

/// A store whose uploads may have ten bytes.
async fn size_limit(store: impl BlobStore) {
    let up = store.create_upload("ns/app", 1).await.unwrap();
    store.append(&up.id, 0, body(&[b"12345"]), 2).await.unwrap();
    let err = store.append(&up.id, 5, body(&[b"123456"]), 3).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 10 }));
    assert_eq!(store.upload_state(&up.id).await.unwrap().unwrap().offset, 5, "a refused append changes nothing");
}
