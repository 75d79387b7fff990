//! Crash safety: 16 concurrent pushers, the server killed with SIGKILL at random moments
//! over many rounds; after each restart every acknowledged blob and manifest is complete
//! and verifies, and no partial blob is ever visible in storage.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::harness::*;

#[derive(Clone, Debug)]
struct Acked {
    repo: String,
    tag: String,
    manifest: String,
    blobs: Vec<String>,
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Pushes images until the server dies; records each image whose manifest was acknowledged.
async fn pusher(base: String, worker: u64, round: u64, acked: Arc<Mutex<Vec<Acked>>>, blobs_acked: Arc<Mutex<Vec<(String, String)>>>) {
    let c = client();
    let mut rng = (round * 1000 + worker + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let repo = format!("crash/w{worker}");
    for i in 0.. {
        let mut blobs = Vec::new();
        let mut sizes = Vec::new();
        for part in 0..2 {
            let size = 1000 + (next(&mut rng) % (512 << 10)) as usize;
            let bytes = random_bytes(size, next(&mut rng));
            let d = digest(&bytes);
            let ok = if part == 0 {
                c.post(format!("{base}/v2/{repo}/blobs/uploads/?digest={d}")).body(bytes).send().await.is_ok_and(|r| r.status() == 201)
            } else {
                // Chunked: POST, two PATCHes, PUT.
                let Ok(start) = c.post(format!("{base}/v2/{repo}/blobs/uploads/")).send().await else { return };
                let Some(location) = start.headers().get("location").map(|l| l.to_str().unwrap().to_owned()) else { return };
                let half = size / 2;
                let first = c
                    .patch(format!("{base}{location}"))
                    .header("content-range", format!("0-{}", half - 1))
                    .body(bytes[..half].to_vec())
                    .send()
                    .await;
                let second = c
                    .patch(format!("{base}{location}"))
                    .header("content-range", format!("{half}-{}", size - 1))
                    .body(bytes[half..].to_vec())
                    .send()
                    .await;
                if !(first.is_ok_and(|r| r.status() == 202) && second.is_ok_and(|r| r.status() == 202)) {
                    return;
                }
                c.put(format!("{base}{location}?digest={d}")).send().await.is_ok_and(|r| r.status() == 201)
            };
            if !ok {
                return;
            }
            blobs_acked.lock().unwrap().push((repo.clone(), d.clone()));
            blobs.push(d);
            sizes.push(size);
        }
        let manifest = image_manifest((&blobs[0], sizes[0]), &[(&blobs[1], sizes[1])], "");
        let tag = format!("r{round}-{i}");
        let response = c
            .put(format!("{base}/v2/{repo}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .await;
        if !response.is_ok_and(|r| r.status() == 201) {
            return;
        }
        acked.lock().unwrap().push(Acked { repo: repo.clone(), tag, manifest: digest(manifest.as_bytes()), blobs });
    }
}

async fn verify(server: &Server, acked: &[Acked], blobs_acked: &[(String, String)]) {
    let c = client();
    for image in acked {
        let response = c.get(server.url(&format!("/v2/{}/manifests/{}", image.repo, image.tag))).send().await.unwrap();
        assert_eq!(response.status(), 200, "acknowledged manifest {}:{} lost", image.repo, image.tag);
        assert_eq!(digest(&response.bytes().await.unwrap()), image.manifest);
        for blob in &image.blobs {
            let response = c.head(server.url(&format!("/v2/{}/blobs/{blob}", image.repo))).send().await.unwrap();
            assert_eq!(response.status(), 200, "blob {blob} of acknowledged image {}:{} lost", image.repo, image.tag);
        }
    }
    for (repo, d) in blobs_acked {
        let response = c.get(server.url(&format!("/v2/{repo}/blobs/{d}"))).send().await.unwrap();
        assert_eq!(response.status(), 200, "acknowledged blob {d} lost");
        assert_eq!(&digest(&response.bytes().await.unwrap()), d, "acknowledged blob {d} corrupt");
    }
}

/// Every file under `blobs/` hashes to its own name: nothing partial was published.
fn no_partial_blob(data_dir: &std::path::Path) -> usize {
    let mut checked = 0;
    let root = data_dir.join("storage/blobs/sha256");
    for prefix in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(prefix.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            assert_eq!(hex::encode(Sha256::digest(std::fs::read(&path).unwrap())), name, "partial or corrupt blob {}", path.display());
            checked += 1;
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_pushes_survive_kill_9() {
    let rounds: u64 = std::env::var("BERTH_CRASH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(30);
    let budget = Duration::from_secs(240);
    let started = Instant::now();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let acked = Arc::new(Mutex::new(Vec::<Acked>::new()));
    let blobs_acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut ran = 0;
    for round in 0..rounds {
        if started.elapsed() > budget {
            break;
        }
        let mut server = Server::start_in(&dir, &[]);
        org(&server, "crash").await;
        // What was acknowledged before the last crash is all there.
        let (images, blobs) = (acked.lock().unwrap().clone(), blobs_acked.lock().unwrap().clone());
        let recent = images.len().saturating_sub(40);
        verify(&server, &images[recent..], &blobs[blobs.len().saturating_sub(80)..]).await;
        let before = acked.lock().unwrap().len();
        let workers: Vec<_> =
            (0..16).map(|w| tokio::spawn(pusher(server.http.clone(), w, round, acked.clone(), blobs_acked.clone()))).collect();
        // The kill comes at a random moment after the round's first acknowledged image (at
        // most 20 s in), so that a loaded machine or a slow S3 server still kills the
        // server with pushes both acknowledged and in flight.
        let first_ack = Instant::now() + Duration::from_secs(20);
        while acked.lock().unwrap().len() == before && Instant::now() < first_ack {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(next(&mut rng) % 900)).await;
        server.kill9();
        for worker in workers {
            let _ = worker.await;
        }
        ran += 1;
    }
    let server = Server::start_in(&dir, &[]);
    let (images, blobs) = (acked.lock().unwrap().clone(), blobs_acked.lock().unwrap().clone());
    verify(&server, &images, &blobs).await;
    // On S3 an object appears whole or not at all; the stored blobs are the ones verified above.
    let files = if s3_storage() { server.stored_blobs().await.len() } else { no_partial_blob(&dir) };
    eprintln!(
        "crash test: {ran} rounds of kill -9, {} images and {} blobs acknowledged and verified, {files} blob files checked",
        images.len(),
        blobs.len()
    );
    assert!(ran >= 10.min(rounds), "too few rounds ran: {ran}");
    assert!(!images.is_empty(), "no push was acknowledged at all");
}
