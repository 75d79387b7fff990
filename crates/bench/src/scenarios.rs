//! The reference workload (`docs/performance.md` of the project's shared notes): one function per scenario.
//! Each sets up what it needs (untimed), times the work, checks the answers, and returns one figure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::{Method, StatusCode, header};
use sha2::{Digest as _, Sha256};

use crate::Options;
use crate::client::{Registry, Scope, expect, location, with_query};
use crate::process::Meter;

/// One measured figure.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Figure {
    pub value: f64,
    pub unit: &'static str,
    /// Whether a larger value is better (rates) or a smaller one (times).
    pub higher_is_better: bool,
    /// How many operations the server did, for CPU per operation.
    pub operations: u64,
    /// Extra facts, e.g. latency percentiles.
    pub notes: String,
    /// Bytes transferred, for transfers (CPU seconds per GiB); 0 otherwise.
    pub bytes: u64,
}

const MIB: usize = 1 << 20;
pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// Deterministic pseudo-random bytes: fast enough that the client never limits a transfer.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let bytes = self.0.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, n: usize) -> Bytes {
        let mut v = vec![0; n];
        self.fill(&mut v);
        Bytes::from(v)
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The digest of the `size`-byte blob of `seed`, computed without keeping it in memory.
fn large_digest(seed: u64, size: usize) -> String {
    let mut noise = Noise::new(seed);
    let mut hasher = Sha256::new();
    let mut buf = vec![0; MIB];
    let mut left = size;
    while left > 0 {
        let n = left.min(MIB);
        noise.fill(&mut buf[..n]);
        hasher.update(&buf[..n]);
        left -= n;
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// The `size`-byte blob of `seed` as a request body streamed in 1 MiB pieces.
fn large_body(seed: u64, size: usize, piece: usize) -> reqwest::Body {
    let mut noise = Noise::new(seed);
    let pieces = size.div_ceil(piece);
    let stream = futures_util::stream::iter(0..pieces).map(move |i| {
        let n = piece.min(size - i * piece);
        Ok::<_, std::io::Error>(noise.bytes(n))
    });
    reqwest::Body::wrap_stream(stream)
}

/// A large blob's seed, per registry run so reruns against the same server still upload.
fn large_seed(opts: &Options, which: u64) -> u64 {
    opts.seed.wrapping_add(which)
}

/// `blob_push_large`: `POST`, then one streamed `PUT ?digest=`.
pub async fn blob_push_large(reg: &Registry, opts: &Options, meter: &Meter) -> anyhow::Result<Figure> {
    let size = opts.blob_mib * MIB;
    let seed = large_seed(opts, 1);
    let digest = large_digest(seed, size);
    let repo = format!("{}/large", opts.namespace);
    meter.start()?;
    let started = Instant::now();
    let upload = reg.start_upload(&repo).await?;
    let url = with_query(&reg.url(&upload), &format!("digest={digest}"));
    let response = reg
        .send(Method::PUT, &url, Scope::Push(&repo), |r| {
            r.header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::CONTENT_LENGTH, size)
                .body(large_body(seed, size, MIB))
        })
        .await?;
    expect(response, &[StatusCode::CREATED], &format!("PUT {url}")).await?;
    Ok(rate(size, started.elapsed(), 1, String::new()))
}

/// `blob_push_chunked`: `POST`, `PATCH` chunks of `--chunk-mib`, then `PUT ?digest=` with no body.
pub async fn blob_push_chunked(reg: &Registry, opts: &Options, meter: &Meter) -> anyhow::Result<Figure> {
    let size = opts.blob_mib * MIB;
    let chunk = opts.chunk_mib * MIB;
    let seed = large_seed(opts, 2);
    let digest = large_digest(seed, size);
    let repo = format!("{}/large", opts.namespace);
    let mut noise = Noise::new(seed);
    meter.start()?;
    let started = Instant::now();
    let mut upload = reg.start_upload(&repo).await?;
    let mut offset = 0;
    let mut buf = vec![0; chunk];
    while offset < size {
        let n = chunk.min(size - offset);
        noise.fill(&mut buf[..n]);
        let body = Bytes::copy_from_slice(&buf[..n]);
        let url = reg.url(&upload);
        let response = reg
            .send(Method::PATCH, &url, Scope::Push(&repo), |r| {
                r.header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_RANGE, format!("{}-{}", offset, offset + n - 1))
                    .body(body)
            })
            .await?;
        let what = format!("PATCH {url} (bytes {offset}..{})", offset + n);
        let response = expect(response, &[StatusCode::ACCEPTED, StatusCode::NO_CONTENT], &what).await?;
        upload = location(&response, &what)?;
        offset += n;
    }
    let url = with_query(&reg.url(&upload), &format!("digest={digest}"));
    let response = reg.send(Method::PUT, &url, Scope::Push(&repo), |r| r.header(header::CONTENT_LENGTH, 0)).await?;
    expect(response, &[StatusCode::CREATED], &format!("PUT {url}")).await?;
    let requests = size.div_ceil(chunk) as u64 + 2;
    Ok(rate(size, started.elapsed(), requests, format!("{} MiB chunks", opts.chunk_mib)))
}

/// `blob_pull_large`: `GET` of the `blob_push_large` blob, its SHA-256 checked by the client.
pub async fn blob_pull_large(reg: &Registry, opts: &Options, meter: &Meter) -> anyhow::Result<Figure> {
    let size = opts.blob_mib * MIB;
    let seed = large_seed(opts, 1);
    let digest = large_digest(seed, size);
    let repo = format!("{}/large", opts.namespace);
    if !reg.has_blob(&repo, &digest).await? {
        blob_push_large(reg, opts, meter).await.context("pushing the blob to pull")?;
    }
    let path = format!("/v2/{repo}/blobs/{digest}");
    meter.start()?;
    let started = Instant::now();
    let response = reg.send(Method::GET, &path, Scope::Pull(&repo), |r| r).await?;
    let response = expect(response, &[StatusCode::OK], &format!("GET {path}")).await?;
    let mut stream = response.bytes_stream();
    let hasher = BackgroundSha256::start();
    let mut got = 0;
    while let Some(piece) = stream.next().await {
        let piece = piece.with_context(|| format!("GET {path}: reading the body"))?;
        got += piece.len();
        hasher.update(piece).await?;
    }
    let actual = hasher.finish().await?;
    let elapsed = started.elapsed();
    ensure!(got == size && actual == digest, "GET {path}: got {got} bytes with digest {actual}, expected {size} bytes");
    Ok(rate(size, elapsed, 1, String::new()))
}

/// SHA-256 of a body on a thread of its own, with AWS-LC's assembly (SHA extensions where the
/// CPU has them, AVX2 otherwise), so that hashing overlaps receiving and the pull figure shows
/// the server, not the client's digest.
struct BackgroundSha256 {
    pieces: tokio::sync::mpsc::Sender<Bytes>,
    digest: tokio::sync::oneshot::Receiver<String>,
}

impl BackgroundSha256 {
    fn start() -> BackgroundSha256 {
        let (pieces, mut received) = tokio::sync::mpsc::channel::<Bytes>(64);
        let (send_digest, digest) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            while let Some(piece) = received.blocking_recv() {
                context.update(&piece);
            }
            let _ = send_digest.send(format!("sha256:{}", hex::encode(context.finish())));
        });
        BackgroundSha256 { pieces, digest }
    }

    async fn update(&self, piece: Bytes) -> anyhow::Result<()> {
        self.pieces.send(piece).await.map_err(|_| anyhow::anyhow!("the hashing thread stopped"))
    }

    async fn finish(self) -> anyhow::Result<String> {
        drop(self.pieces);
        self.digest.await.map_err(|_| anyhow::anyhow!("the hashing thread stopped"))
    }
}

/// One small image: config and two layers of 4–64 KiB, then the manifest.
struct SmallImage {
    blobs: Vec<(String, Bytes)>,
    manifest: Bytes,
}

fn small_image(seed: u64) -> SmallImage {
    let mut noise = Noise::new(seed);
    let mut sizes = [0u8; 4];
    noise.fill(&mut sizes);
    let config = Bytes::from(format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"bench":"{}"}}"#,
        hex::encode(noise.bytes(16))
    ));
    let layer_size = |b: u8| 4096 + usize::from(b) * 60 * 1024 / 255;
    let layers = [noise.bytes(layer_size(sizes[0])), noise.bytes(layer_size(sizes[1]))];
    let blobs: Vec<(String, Bytes)> = std::iter::once(config).chain(layers).map(|b| (sha256(&b), b)).collect();
    let layer_json: Vec<String> = blobs[1..]
        .iter()
        .map(|(d, b)| format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":{}}}"#, b.len()))
        .collect();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_TYPE}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{}]}}"#,
        blobs[0].0,
        blobs[0].1.len(),
        layer_json.join(",")
    );
    SmallImage { blobs, manifest: Bytes::from(manifest) }
}

/// Pushes one small image as docker does (`HEAD` each blob first); returns its tag.
async fn push_small(reg: &Registry, repo: &str, seed: u64) -> anyhow::Result<String> {
    let image = small_image(seed);
    for (digest, bytes) in &image.blobs {
        if !reg.has_blob(repo, digest).await? {
            reg.push_blob(repo, digest, bytes.clone()).await?;
        }
    }
    let tag = format!("s{seed:x}");
    reg.put_manifest(repo, &tag, MANIFEST_TYPE, image.manifest).await?;
    Ok(tag)
}

/// Runs `job(i)` for `i` in `0..count` on `clients` concurrent workers; stops at the first error.
async fn parallel<F, Fut>(count: usize, clients: usize, job: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (next, job) = (next.clone(), job.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(());
                }
                job(i).await?;
            }
        });
    }
    while let Some(result) = workers.join_next().await {
        result??;
    }
    Ok(())
}

/// `small_push`: `--images` small images with `clients` concurrent clients.
pub async fn small_push(reg: Arc<Registry>, opts: &Options, clients: usize, meter: &Meter) -> anyhow::Result<Figure> {
    let repo = format!("{}/small", opts.namespace);
    let base = opts.seed.wrapping_mul(1_000_003).wrapping_add(clients as u64 * 10_000_000);
    meter.start()?;
    let started = Instant::now();
    let r = repo.clone();
    parallel(opts.images, clients, move |i| {
        let (reg, repo) = (reg.clone(), r.clone());
        async move { push_small(&reg, &repo, base + i as u64).await.map(|_| ()) }
    })
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Figure {
        value: opts.images as f64 / elapsed,
        unit: "images/s",
        higher_is_better: true,
        operations: opts.images as u64,
        notes: format!("{clients} clients, {:.1} ms per image", elapsed * 1000.0 / opts.images as f64),
        bytes: 0,
    })
}

/// Pushes the image the GET scenarios read; returns (repo, tag).
async fn manifest_fixture(reg: &Registry, opts: &Options) -> anyhow::Result<(String, String)> {
    let repo = format!("{}/manifest", opts.namespace);
    let tag = format!("s{:x}", 42);
    // Already there (e.g. made public for an anonymous run): read it without pushing.
    if reg.get_manifest(&repo, &tag).await.is_ok() {
        return Ok((repo, tag));
    }
    let tag = push_small(reg, &repo, 42).await?;
    Ok((repo, tag))
}

/// Latency percentiles of `samples` (microseconds), as text.
pub(crate) fn percentiles(samples: &mut [u32]) -> (f64, f64, f64) {
    samples.sort_unstable();
    let at = |p: f64| {
        if samples.is_empty() {
            return 0.0;
        }
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        f64::from(samples[i]) / 1000.0
    };
    (at(0.50), at(0.99), at(1.0))
}

/// `manifest_get_rps`: `--connections` clients `GET` one manifest for `--duration` seconds.
pub async fn manifest_get(reg: Arc<Registry>, opts: &Options, meter: &Meter) -> anyhow::Result<Figure> {
    let (repo, tag) = manifest_fixture(&reg, opts).await?;
    let expected = reg.get_manifest(&repo, &tag).await?;
    let duration = Duration::from_secs_f64(opts.duration);
    meter.start()?;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..opts.connections.max(1) {
        let (reg, repo, tag, expected) = (reg.clone(), repo.clone(), tag.clone(), expected.clone());
        workers.spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(100_000);
            while started.elapsed() < duration {
                let t = Instant::now();
                let body = reg.get_manifest(&repo, &tag).await?;
                latencies.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                if body != expected {
                    bail!("GET /v2/{repo}/manifests/{tag}: body changed");
                }
            }
            Ok(latencies)
        });
    }
    let mut all = Vec::new();
    while let Some(result) = workers.join_next().await {
        all.extend(result??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (p50, p99, max) = percentiles(&mut all);
    Ok(Figure {
        value: all.len() as f64 / elapsed,
        unit: "req/s",
        higher_is_better: true,
        operations: all.len() as u64,
        notes: format!("{} connections, p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.1} ms", opts.connections),
        bytes: 0,
    })
}

/// The repository of `--tags` tags `t000000`, `t000001`, … (one image); with `reuse`, left as
/// it is when its last tag is there already. Returns its name.
pub(crate) async fn tags_fixture(reg: &Arc<Registry>, opts: &Options, reuse: bool) -> anyhow::Result<String> {
    let repo = format!("{}/tags", opts.namespace);
    if reuse && reg.get_manifest(&repo, &format!("t{:06}", opts.tags.saturating_sub(1))).await.is_ok() {
        return Ok(repo);
    }
    let (blobs, manifest) = tags_image();
    for (digest, bytes) in &blobs {
        if !reg.has_blob(&repo, digest).await? {
            reg.push_blob(&repo, digest, bytes.clone()).await?;
        }
    }
    let r = repo.clone();
    let setup = reg.clone();
    parallel(opts.tags, opts.concurrency, move |i| {
        let (reg, repo, manifest) = (setup.clone(), r.clone(), manifest.clone());
        async move { reg.put_manifest(&repo, &format!("t{i:06}"), MANIFEST_TYPE, manifest).await }
    })
    .await?;
    Ok(repo)
}

/// `tags_list`: one repository with `--tags` tags, listed whole with `?n=--tags-page`.
pub async fn tags_list(reg: Arc<Registry>, opts: &Options, meter: &Meter) -> anyhow::Result<Figure> {
    let repo = tags_fixture(&reg, opts, opts.seeded).await?;
    let tags = opts.tags;
    meter.start()?;
    let started = Instant::now();
    let pages = reg.pages(&format!("/v2/{repo}/tags/list?n={}", opts.tags_page), Scope::Pull(&repo)).await?;
    let elapsed = started.elapsed();
    let listed: Vec<String> = pages
        .iter()
        .flat_map(|p| p["tags"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    let ours = listed.iter().filter(|t| t.starts_with('t') && t.len() == 7).count();
    ensure!(ours == tags, "GET /v2/{repo}/tags/list: {ours} of the {tags} tags listed");
    let sorted = listed.windows(2).all(|w| w[0] <= w[1]);
    Ok(Figure {
        value: elapsed.as_secs_f64() * 1000.0,
        unit: "ms",
        higher_is_better: false,
        operations: pages.len() as u64,
        notes: format!("{tags} tags, {} pages, {}", pages.len(), if sorted { "sorted" } else { "NOT sorted" }),
        bytes: 0,
    })
}

/// The image each repository of the catalog fixture holds: (config, its digest, manifest).
pub fn catalog_image() -> (Bytes, String, Bytes) {
    let config = Bytes::from_static(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let digest = sha256(&config);
    let manifest = Bytes::from(format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_TYPE}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{digest}","size":{}}},"layers":[]}}"#,
        config.len()
    ));
    (config, digest, manifest)
}

/// The image every tag of the tags fixture points at: its blobs (digest, bytes) and manifest.
pub fn tags_image() -> (Vec<(String, Bytes)>, Bytes) {
    let image = small_image(7);
    (image.blobs, image.manifest)
}

/// `--repos` repositories `c00000`, `c00001`, … of one small image each; with `reuse`, left
/// as they are when the last one is there already.
pub(crate) async fn catalog_fixture(reg: &Arc<Registry>, opts: &Options, reuse: bool) -> anyhow::Result<()> {
    let last = format!("{}/c{:05}", opts.namespace, opts.repos.saturating_sub(1));
    if reuse && reg.get_manifest(&last, "latest").await.is_ok() {
        return Ok(());
    }
    let (config, digest, manifest) = catalog_image();
    let ns = opts.namespace.clone();
    let setup = reg.clone();
    parallel(opts.repos, opts.concurrency, move |i| {
        let (reg, config, digest, manifest) = (setup.clone(), config.clone(), digest.clone(), manifest.clone());
        let repo = format!("{ns}/c{i:05}");
        async move {
            if !reg.has_blob(&repo, &digest).await? {
                reg.push_blob(&repo, &digest, config).await?;
            }
            reg.put_manifest(&repo, "latest", MANIFEST_TYPE, manifest).await
        }
    })
    .await?;
    Ok(())
}

/// `catalog`: `--repos` repositories, the whole `_catalog` paged with `n=--catalog-page`.
pub async fn catalog(reg: Arc<Registry>, opts: &Options, meter: &Meter) -> anyhow::Result<Figure> {
    catalog_fixture(&reg, opts, opts.seeded).await?;
    meter.start()?;
    let started = Instant::now();
    let pages = reg.pages(&format!("/v2/_catalog?n={}", opts.catalog_page), Scope::Catalog).await?;
    let elapsed = started.elapsed();
    let prefix = format!("{}/c", opts.namespace);
    let ours = pages
        .iter()
        .flat_map(|p| p["repositories"].as_array().cloned().unwrap_or_default())
        .filter(|r| r.as_str().is_some_and(|r| r.starts_with(&prefix)))
        .count();
    ensure!(ours == opts.repos, "GET /v2/_catalog: {ours} of the {} repositories listed", opts.repos);
    Ok(Figure {
        value: elapsed.as_secs_f64() * 1000.0,
        unit: "ms",
        higher_is_better: false,
        operations: pages.len() as u64,
        notes: format!("{} repositories, {} pages", opts.repos, pages.len()),
        bytes: 0,
    })
}

/// `mixed`: `--concurrency` clients for `--duration` s, each operation a manifest `GET` (80%) or a
/// small-image push (20%). Afterwards every pushed image is read back: no write may be lost.
pub async fn mixed(reg: Arc<Registry>, opts: &Options, clients: usize, meter: &Meter) -> anyhow::Result<Figure> {
    let (repo, tag) = manifest_fixture(&reg, opts).await?;
    let push_repo = format!("{}/mixed", opts.namespace);
    let duration = Duration::from_secs_f64(opts.duration);
    meter.start()?;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..clients.max(1) {
        let (reg, repo, tag, push_repo) = (reg.clone(), repo.clone(), tag.clone(), push_repo.clone());
        let seed = opts.seed.wrapping_mul(7_919).wrapping_add(worker as u64 * 1_000_000_000 + 5_000_000_000);
        workers.spawn(async move {
            let mut noise = Noise::new(seed);
            let (mut gets, mut pushed) = (0u64, Vec::new());
            let mut dice = [0u8; 1];
            while started.elapsed() < duration {
                noise.fill(&mut dice);
                if dice[0] < 205 {
                    reg.get_manifest(&repo, &tag).await?;
                    gets += 1;
                } else {
                    let tag = push_small(&reg, &push_repo, seed + pushed.len() as u64).await?;
                    pushed.push(tag);
                }
            }
            Ok::<_, anyhow::Error>((gets, pushed))
        });
    }
    let (mut gets, mut pushed) = (0, Vec::new());
    while let Some(result) = workers.join_next().await {
        let (g, p) = result??;
        gets += g;
        pushed.extend(p);
    }
    let elapsed = started.elapsed().as_secs_f64();
    for tag in &pushed {
        reg.get_manifest(&push_repo, tag).await.context("reading back an acknowledged push")?;
    }
    let ops = gets + pushed.len() as u64;
    Ok(Figure {
        value: ops as f64 / elapsed,
        unit: "ops/s",
        higher_is_better: true,
        operations: ops,
        notes: format!("{clients} clients, {gets} GETs, {} pushes, all read back", pushed.len()),
        bytes: 0,
    })
}

fn rate(bytes: usize, elapsed: Duration, operations: u64, notes: String) -> Figure {
    Figure {
        value: bytes as f64 / 1e6 / elapsed.as_secs_f64(),
        unit: "MB/s",
        higher_is_better: true,
        operations,
        notes,
        bytes: bytes as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_digest_matches_the_streamed_body() {
        let mut noise = Noise::new(5);
        let whole = noise.bytes(3 * MIB + 17);
        assert_eq!(large_digest(5, 3 * MIB + 17), sha256(&whole));
    }

    #[test]
    fn small_images_are_deterministic_and_distinct() {
        let (a, b) = (small_image(1), small_image(2));
        assert_eq!(a.manifest, small_image(1).manifest);
        assert_ne!(a.manifest, b.manifest);
        assert!(a.blobs[1..].iter().all(|(_, b)| (4096..=65 * 1024).contains(&b.len())));
    }

    #[test]
    fn percentiles_pick_ranks() {
        let mut v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentiles(&mut v), (50.0, 99.0, 100.0));
    }
}
