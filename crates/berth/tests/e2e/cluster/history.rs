//! A randomized fault run: clients write and read tags through random replicas while
//! replicas are killed and restarted and cut off by partitions. Every operation is
//! recorded with when it began and ended, and each tag's history is checked: no
//! acknowledged write is lost, and no read returns a value older than a write that was
//! acknowledged before the read began (a per-tag linearizability check).
//!
//! `BERTH_FAULT_SECS` sets how long faults are injected (20 s by default).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::*;

const TAGS: [&str; 3] = ["x", "y", "z"];
const REPO: &str = "acme/hist";

#[derive(Debug, Clone)]
enum Outcome {
    /// A write the registry acknowledged.
    Written,
    /// A write that failed or timed out: it may or may not have taken effect.
    Unknown,
    /// A read, and what it saw.
    Read(Option<String>),
}

#[derive(Debug, Clone)]
struct Op {
    tag: &'static str,
    /// The written manifest's digest, for writes.
    value: Option<String>,
    start: Instant,
    end: Instant,
    outcome: Outcome,
}

/// A small pseudo-random generator (xorshift), seeded per task.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Checks one tag's history; the violations found.
fn check(tag: &str, ops: &[Op], last: Option<&String>) -> Vec<String> {
    let writes: Vec<&Op> = ops.iter().filter(|o| o.value.is_some()).collect();
    let by_value: HashMap<&str, &Op> = writes.iter().map(|w| (w.value.as_deref().unwrap_or_default(), *w)).collect();
    let acknowledged: Vec<&&Op> = writes.iter().filter(|w| matches!(w.outcome, Outcome::Written)).collect();
    // When a write surely took effect by: its acknowledgement (never, for a failed one).
    let done_by = |w: &Op| matches!(w.outcome, Outcome::Written).then_some(w.end);
    let mut violations = Vec::new();
    let mut saw = |read_start: Instant, read_end: Instant, value: Option<&String>, what: &str| match value {
        None => {
            if let Some(w) = acknowledged.iter().find(|w| w.end < read_start) {
                violations.push(format!("{tag}: {what} saw no tag, after {} was acknowledged", w.value.as_deref().unwrap_or_default()));
            }
        }
        Some(v) => match by_value.get(v.as_str()) {
            None => violations.push(format!("{tag}: {what} saw {v}, which no one wrote")),
            Some(written) => {
                if written.start > read_end {
                    violations.push(format!("{tag}: {what} saw {v} before it was written"));
                }
                // A newer write: begun after this one surely took effect, acknowledged before the read began.
                let done = done_by(written);
                if let Some(newer) = done.and_then(|done| acknowledged.iter().find(|w| w.start > done && w.end < read_start)) {
                    violations.push(format!(
                        "{tag}: {what} saw {v}, older than {} acknowledged before it began",
                        newer.value.as_deref().unwrap_or_default()
                    ));
                }
            }
        },
    };
    for op in ops {
        if let Outcome::Read(value) = &op.outcome {
            saw(op.start, op.end, value.as_ref(), "a read");
        }
    }
    let after_everything = Instant::now();
    saw(after_everything, after_everything, last, "the final state");
    violations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn randomized_faults_keep_every_tag_linearizable() {
    let _one = exclusive().await;
    let fault_secs: u64 = std::env::var("BERTH_FAULT_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut cluster = Cluster::start(3, true).await;
    // The blobs every written manifest refers to; each write then is one manifest PUT
    // with a manifest no other write uses.
    org(cluster.server(0), "acme").await;
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer = random_bytes(700, 1);
    push_blob(cluster.server(0), REPO, config).await;
    push_blob(cluster.server(0), REPO, &layer).await;
    let (config_ref, layer_ref) = ((digest(config), config.len()), (digest(&layer), layer.len()));
    let manifest_for = move |n: u64| {
        image_manifest((&config_ref.0, config_ref.1), &[(&layer_ref.0, layer_ref.1)], &format!(r#","annotations":{{"n":"{n}"}}"#))
    };
    cluster.converged().await;

    let bases: Arc<RwLock<Vec<Option<String>>>> =
        Arc::new(RwLock::new(cluster.nodes.iter().map(|n| n.server.as_ref().map(|s| s.http.clone())).collect()));
    let history: Arc<Mutex<Vec<Op>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(fault_secs);
    let mut clients = Vec::new();
    for c in 0..4u64 {
        let (bases, history, manifest_for) = (bases.clone(), history.clone(), manifest_for.clone());
        clients.push(tokio::spawn(async move {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (c + 1));
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(8))
                .default_headers({
                    let mut h = reqwest::header::HeaderMap::new();
                    h.insert("authorization", basic("admin", ADMIN_PASSWORD).parse().unwrap());
                    h
                })
                .build()
                .unwrap();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let Some(base) = ({
                    let bases = bases.read().unwrap();
                    let live: Vec<String> = bases.iter().flatten().cloned().collect();
                    (!live.is_empty()).then(|| live[rng.below(live.len())].clone())
                }) else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let tag = TAGS[rng.below(TAGS.len())];
                let url = format!("{base}/v2/{REPO}/manifests/{tag}");
                let start = Instant::now();
                let op = if rng.below(10) < 4 {
                    let body = manifest_for(c << 32 | n);
                    n += 1;
                    let value = digest(body.as_bytes());
                    let response =
                        http.put(&url).header("content-type", "application/vnd.oci.image.manifest.v1+json").body(body).send().await;
                    let written = response.is_ok_and(|r| r.status() == 201);
                    Op {
                        tag,
                        value: Some(value),
                        start,
                        end: Instant::now(),
                        outcome: if written { Outcome::Written } else { Outcome::Unknown },
                    }
                } else {
                    let response = http.head(&url).header("accept", "application/vnd.oci.image.manifest.v1+json").send().await;
                    let seen = match response {
                        Ok(r) if r.status() == 200 => Some(Some(r.headers()["docker-content-digest"].to_str().unwrap().to_owned())),
                        Ok(r) if r.status() == 404 => Some(None),
                        _ => None,
                    };
                    match seen {
                        Some(value) => Op { tag, value: None, start, end: Instant::now(), outcome: Outcome::Read(value) },
                        None => continue,
                    }
                };
                history.lock().unwrap().push(op);
            }
        }));
    }

    // Faults, one replica at a time: a kill and a restart, or a partition and a heal.
    let mut rng = Rng(42);
    let (mut kills, mut partitions) = (0, 0);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500 + rng.below(1000) as u64)).await;
        let victim = rng.below(3);
        if rng.below(2) == 0 {
            kills += 1;
            bases.write().unwrap()[victim] = None;
            cluster.kill(victim);
            tokio::time::sleep(Duration::from_millis(1000 + rng.below(2000) as u64)).await;
            cluster.restart(victim);
            bases.write().unwrap()[victim] = Some(cluster.server(victim).http.clone());
        } else {
            partitions += 1;
            cluster.partition(&[victim]);
            tokio::time::sleep(Duration::from_millis(1000 + rng.below(2000) as u64)).await;
            cluster.heal();
        }
    }
    for client in clients {
        client.await.unwrap();
    }
    cluster.heal();
    cluster.converged().await;

    let history = Arc::try_unwrap(history).unwrap().into_inner().unwrap();
    let (writes, acknowledged) =
        (history.iter().filter(|o| o.value.is_some()).count(), history.iter().filter(|o| matches!(o.outcome, Outcome::Written)).count());
    let reads = history.len() - writes;
    eprintln!("fault run: {kills} kills, {partitions} partitions; {writes} writes ({acknowledged} acknowledged), {reads} reads");
    assert!(acknowledged > 20 && reads > 20, "the run did too little to judge");
    let mut violations = Vec::new();
    for tag in TAGS {
        let ops: Vec<Op> = history.iter().filter(|o| o.tag == tag).cloned().collect();
        // Every replica ends with the same value, and it passes the same checks.
        let mut finals = Vec::new();
        for i in cluster.live() {
            finals.push(try_resolve(cluster.server(i), REPO, tag).await.unwrap());
        }
        assert!(finals.windows(2).all(|w| w[0] == w[1]), "replicas disagree on {tag}: {finals:?}");
        violations.extend(check(tag, &ops, finals[0].as_ref()));
    }
    assert!(
        violations.is_empty(),
        "{} violations, e.g.:\n{}",
        violations.len(),
        violations.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_checker_catches_stale_reads_and_lost_writes() {
    // Every instant in the past, as in a real history.
    let t0 = Instant::now() - Duration::from_secs(10);
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let write = |v: &str, s, e, ok| Op {
        tag: "x",
        value: Some(v.into()),
        start: at(s),
        end: at(e),
        outcome: if ok { Outcome::Written } else { Outcome::Unknown },
    };
    let read = |v: Option<&str>, s, e| Op { tag: "x", value: None, start: at(s), end: at(e), outcome: Outcome::Read(v.map(Into::into)) };
    let a = "a".to_owned();
    let b = "b".to_owned();
    // Fine: a then b, reads follow.
    let good = [write("a", 0, 10, true), read(Some("a"), 11, 12), write("b", 20, 30, true), read(Some("b"), 31, 32)];
    assert!(check("x", &good, Some(&b)).is_empty());
    // A read of a after b was acknowledged.
    let stale = [write("a", 0, 10, true), write("b", 20, 30, true), read(Some("a"), 31, 32)];
    assert_eq!(check("x", &stale, Some(&b)).len(), 1);
    // A lost acknowledged write: the final state is older.
    let lost = [write("a", 0, 10, true), write("b", 20, 30, true)];
    assert_eq!(check("x", &lost, Some(&a)).len(), 1);
    // A failed write may show up, later or never.
    let unknown = [write("a", 0, 10, true), write("b", 20, 30, false), read(Some("b"), 40, 41), read(Some("a"), 50, 51)];
    assert!(check("x", &unknown, Some(&a)).is_empty());
    // Concurrent writes may land in either order.
    let racing = [write("a", 0, 20, true), write("b", 5, 15, true), read(Some("a"), 30, 31)];
    assert!(check("x", &racing, Some(&a)).is_empty());
    // A value never written, and no tag after an acknowledged write.
    let bogus = [write("a", 0, 10, true), read(Some("zz"), 20, 21), read(None, 22, 23)];
    assert_eq!(check("x", &bogus, Some(&a)).len(), 2);
}
