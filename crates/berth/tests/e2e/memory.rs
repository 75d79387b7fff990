//! A 1 GiB blob pushed and pulled through the server: streamed both ways, so the
//! server's resident memory grows by less than 24 MiB over the transfer, whatever the
//! size of the binary's code (a debug build's is several times a release build's).

use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};

use crate::harness::*;

const CHUNK: usize = 1 << 20;
const CHUNKS: usize = 1024;

/// The n-th 1 MiB chunk of the test blob: a random block made unique by its index.
fn chunk(base: &[u8], n: usize) -> Vec<u8> {
    let mut c = base.to_vec();
    c[..8].copy_from_slice(&(n as u64).to_le_bytes());
    c
}

/// A `/proc/<pid>/status` figure, in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_push_and_pull_in_flat_memory() {
    let server = Server::start();
    org(&server, "big").await;
    let base = random_bytes(CHUNK, 42);
    let mut hasher = Sha256::new();
    for n in 0..CHUNKS {
        hasher.update(chunk(&base, n));
    }
    let d = format!("sha256:{}", hex::encode(hasher.finalize()));

    let c = client();
    // The peak is counted from here: what the server holds once started (its code, the
    // metadata's cache) is not the transfer's.
    push_image(&server, "big/warm", "1", 1).await;
    std::fs::write(format!("/proc/{}/clear_refs", server.pid()), "5").unwrap();
    let before = status_kib(server.pid(), "VmRSS:");
    let start = c.post(server.url("/v2/big/blob/blobs/uploads/")).send().await.unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let base_for_stream = base.clone();
    let body = futures_util::stream::iter(0..CHUNKS).map(move |n| Ok::<_, std::io::Error>(chunk(&base_for_stream, n)));
    let pushed = c
        .put(server.url(&format!("{location}?digest={d}")))
        .header("content-length", (CHUNK * CHUNKS).to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 201, "{}", pushed.text().await.unwrap());

    let response = c.get(server.url(&format!("/v2/big/blob/blobs/{d}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut pulled = Sha256::new();
    let mut size = 0usize;
    let mut stream = response.bytes_stream();
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.unwrap();
        size += bytes.len();
        pulled.update(&bytes);
    }
    assert_eq!(size, CHUNK * CHUNKS);
    assert_eq!(format!("sha256:{}", hex::encode(pulled.finalize())), d);

    let peak = status_kib(server.pid(), "VmHWM:");
    let growth = peak.saturating_sub(before);
    eprintln!("server RSS {} MiB before a 1 GiB push and pull, peak {} MiB (+{} MiB)", before / 1024, peak / 1024, growth / 1024);
    assert!(growth < 24 * 1024, "the transfer grew the server by {growth} KiB, more than 24 MiB");
}
