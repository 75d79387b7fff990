//! The load test (not run by default; not timed): 64 concurrent clients mixing pulls
//! and pushes (80/20) for a bounded time. It fails on any error answer, on any
//! acknowledged push that cannot be read back afterwards, and on memory that keeps
//! growing.
//!
//! `BERTH_LOAD_SECS=60 cargo test --release -p berth --test e2e -- --ignored load_`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::harness::*;

const CLIENTS: usize = 64;
const SEEDED: usize = 16;

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One acknowledged push: where, and what must be read back.
struct Pushed {
    repo: String,
    tag: String,
    manifest: String,
    blobs: Vec<String>,
}

/// Pushes an image with `c` (config + two layers); the record of what was acknowledged.
async fn push(server: &Server, c: &reqwest::Client, repo: &str, tag: &str, seed: u64) -> Result<Pushed, String> {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#).into_bytes();
    let layers = [random_bytes(4096 + (seed % 60_000) as usize, seed), random_bytes(8192 + (seed % 30_000) as usize, seed + 1)];
    let mut blobs = Vec::new();
    for bytes in std::iter::once(&config).chain(layers.iter()) {
        let d = digest(bytes);
        let head = c.head(server.url(&format!("/v2/{repo}/blobs/{d}"))).send().await.map_err(|e| e.to_string())?;
        if head.status() != 200 {
            let r = c
                .post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={d}")))
                .body(bytes.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if r.status() != 201 {
                return Err(format!("blob push to {repo}: {}", r.status()));
            }
        }
        blobs.push(d);
    }
    let manifest = image_manifest((&blobs[0], config.len()), &[(&blobs[1], layers[0].len()), (&blobs[2], layers[1].len())], "");
    let r = c
        .put(server.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 201 {
        return Err(format!("manifest push {repo}:{tag}: {}", r.status()));
    }
    Ok(Pushed { repo: repo.to_owned(), tag: tag.to_owned(), manifest: digest(manifest.as_bytes()), blobs })
}

/// Pulls `p` with `c`: the manifest by tag, then its largest layer, checking digests.
async fn pull(server: &Server, c: &reqwest::Client, p: &Pushed) -> Result<(), String> {
    let r = c
        .get(server.url(&format!("/v2/{}/manifests/{}", p.repo, p.tag)))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("pull {}:{}: {}", p.repo, p.tag, r.status()));
    }
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    if digest(&body) != p.manifest {
        return Err(format!("pull {}:{}: another manifest", p.repo, p.tag));
    }
    let layer = &p.blobs[2];
    let r = c.get(server.url(&format!("/v2/{}/blobs/{layer}", p.repo))).send().await.map_err(|e| e.to_string())?;
    let bytes = r.bytes().await.map_err(|e| e.to_string())?;
    if &digest(&bytes) != layer {
        return Err(format!("blob {layer} of {}: wrong content", p.repo));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load test: minutes long; run with --ignored"]
async fn load_64_clients_mixed_pull_push_without_errors_or_lost_writes() {
    let seconds: u64 = std::env::var("BERTH_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let server = Arc::new(Server::start());
    let seeder = client();
    let mut seeded = Vec::new();
    for i in 0..SEEDED {
        seeded.push(push(&server, &seeder, &format!("load/r{i}"), "seed", i as u64).await.unwrap());
    }
    let seeded = Arc::new(seeded);
    let pushed = Arc::new(Mutex::new(Vec::<Pushed>::new()));
    let (pulls, pushes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);

    let mut workers = Vec::new();
    for w in 0..CLIENTS {
        let (server, seeded, pushed, pulls, pushes) = (server.clone(), seeded.clone(), pushed.clone(), pulls.clone(), pushes.clone());
        workers.push(tokio::spawn(async move {
            let c = client();
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let roll = (w as u64 * 7919 + n * 104_729) % 10;
                if roll < 2 {
                    let seed = 1_000_000 + w as u64 * 1_000_000 + n;
                    let p = push(&server, &c, &format!("load/r{}", (w + n as usize) % SEEDED), &format!("w{w}-{n}"), seed).await?;
                    pushed.lock().await.push(p);
                    pushes.fetch_add(1, Ordering::Relaxed);
                } else {
                    pull(&server, &c, &seeded[(w * 31 + n as usize) % SEEDED]).await?;
                    pulls.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<(), String>(())
        }));
    }

    // Memory: resident size a quarter of the way in, and at the end.
    let pid = server.pid();
    tokio::time::sleep(Duration::from_secs(seconds / 4)).await;
    let early = rss_kib(pid, "VmRSS:");
    for worker in workers {
        worker.await.unwrap().unwrap();
    }
    let late = rss_kib(pid, "VmRSS:");
    let peak = rss_kib(pid, "VmHWM:");
    let elapsed = started.elapsed().as_secs_f64();
    let (pulls, pushes) = (pulls.load(Ordering::Relaxed), pushes.load(Ordering::Relaxed));
    eprintln!(
        "load: {CLIENTS} clients, {elapsed:.0} s: {pulls} pulls ({:.0}/s), {pushes} pushes ({:.0}/s); RSS {early} KiB at 1/4, {late} KiB at the end, peak {peak} KiB",
        pulls as f64 / elapsed,
        pushes as f64 / elapsed
    );
    assert!(pushes > 0 && pulls > 0);
    // What may grow: the metadata page cache (8 MiB at most) filling with the pages of a
    // growing database, plus slack for the allocator.
    assert!(late <= early + (8 + 16) * 1024, "memory grew from {early} KiB to {late} KiB");

    // Every acknowledged push reads back, after a restart too.
    let pushed = pushed.lock().await;
    let check = client();
    for p in pushed.iter() {
        pull(&server, &check, p).await.unwrap();
    }
    let mut server = Arc::try_unwrap(server).ok().unwrap();
    assert!(server.stop(), "clean shutdown");
    let data = server.data_dir.clone();
    let restarted = Server::start_in(&data, &[]);
    for p in pushed.iter() {
        pull(&restarted, &check, p).await.unwrap();
    }
    eprintln!("load: {} acknowledged pushes read back before and after a restart", pushed.len());
}
