//! Replicas dying and the network splitting: pushes carry on through a leader's death,
//! a lost majority refuses writes in bounded time and loses nothing, a partitioned
//! minority acknowledges nothing and catches up once healed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

/// An acknowledged push: the tag, the manifest's digest, when it was acknowledged.
type Acknowledged = (String, String, Instant);

/// Pushers through the replicas at `bases` in turn, retrying refused pushes elsewhere;
/// every push the registry acknowledged.
async fn push_for(bases: Vec<String>, pushers: usize, run_for: Duration, prefix: &str) -> Vec<Acknowledged> {
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::new()));
    let deadline = Instant::now() + run_for;
    let mut tasks = Vec::new();
    for p in 0..pushers {
        let (bases, acknowledged, prefix) = (bases.clone(), acknowledged.clone(), prefix.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let server = crate::harness::Server::detached(&bases[(p + n as usize) % bases.len()]);
                let tag = format!("{prefix}-{p}-{n}");
                let (status, manifest) = try_push(&server, "acme/load", &tag, (p as u64) << 32 | n).await;
                if status == 201 {
                    acknowledged.lock().unwrap().push((tag, manifest, Instant::now()));
                } else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                n += 1;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(acknowledged).unwrap().into_inner().unwrap()
}

fn bases(cluster: &Cluster) -> Vec<String> {
    cluster.live().into_iter().map(|i| cluster.server(i).http.clone()).collect()
}

/// Kills replica `i` (SIGKILL) after `after`, while the test goes on; when.
async fn kill_later(pid: u32, after: Duration) -> Instant {
    tokio::time::sleep(after).await;
    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    Instant::now()
}

/// Every acknowledged push resolves on every running replica.
async fn all_present(cluster: &Cluster, acknowledged: &[Acknowledged]) {
    for i in cluster.live() {
        for (tag, manifest, _) in acknowledged {
            assert_eq!(try_resolve(cluster.server(i), "acme/load", tag).await, Ok(Some(manifest.clone())), "replica {i}, tag {tag}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_survive_the_leader_and_a_follower_dying() {
    let _one = exclusive().await;
    let mut cluster = Cluster::start(3, false).await;
    org(cluster.server(0), "acme").await;

    // 16 pushers through every replica; the leader is killed two seconds in.
    for victim in ["leader", "follower"] {
        let i = if victim == "leader" { cluster.leader().await } else { cluster.follower().await };
        let (acknowledged, killed_at) = tokio::join!(
            push_for(bases(&cluster), 16, Duration::from_secs(10), victim),
            kill_later(cluster.server(i).pid(), Duration::from_secs(2))
        );
        cluster.kill(i);
        let before = acknowledged.iter().filter(|a| a.2 < killed_at).count();
        let resumed = acknowledged.iter().filter(|a| a.2 > killed_at).map(|a| a.2 - killed_at).min();
        eprintln!("{victim} killed: {before} pushes acknowledged before, {} after; first after {resumed:?}", acknowledged.len() - before);
        assert!(before > 0);
        assert!(resumed.is_some_and(|r| r < Duration::from_secs(6)), "pushes did not resume within seconds of the {victim}'s death");
        if victim == "leader" {
            assert_ne!(cluster.leader().await, i);
        }
        all_present(&cluster, &acknowledged).await;
        cluster.restart(i);
        cluster.converged().await;
        all_present(&cluster, &acknowledged).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_majority_writes_fail_fast_and_nothing_is_lost() {
    let _one = exclusive().await;
    let mut cluster = Cluster::start(3, false).await;
    let before = push_image(cluster.server(0), "acme/keep", "v1", 3).await;
    cluster.converged().await;
    let survivor = cluster.follower().await;
    for i in cluster.live() {
        if i != survivor {
            cluster.kill(i);
        }
    }
    // A write: 503 naming the quorum, within the write timeout (5 s) and a margin.
    let started = Instant::now();
    let response = client()
        .post(cluster.server(survivor).url("/api/v0/accounts"))
        .json(&serde_json::json!({"name": "late", "isOrg": true}))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    let body = expect_error(response, 503, "UNAVAILABLE").await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("quorum"), "{body}");
    assert!(took < Duration::from_secs(10), "refused after {took:?}");
    let (status, _) = try_push(cluster.server(survivor), "acme/keep", "v2", 4).await;
    assert_eq!(status, 503);
    // Reads of what the replica holds go on: by digest, blobs included.
    let by_digest = client().get(cluster.server(survivor).url(&format!("/v2/acme/keep/manifests/{before}"))).send().await.unwrap();
    assert_eq!(by_digest.status(), 200);
    let health = client().get(cluster.server(survivor).url("/health")).send().await.unwrap();
    let body = expect_status(health, 503).await;
    assert!(body["Error"].as_str().unwrap().contains("quorum"), "{body}");

    // One comes back: writes resume, and nothing acknowledged was lost.
    let back = (0..3).find(|i| *i != survivor).unwrap();
    cluster.restart(back);
    let resumed = Instant::now();
    loop {
        let (status, _) = try_push(cluster.server(survivor), "acme/keep", "v2", 4).await;
        if status == 201 {
            break;
        }
        assert!(resumed.elapsed() < Duration::from_secs(30), "writes did not resume");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in cluster.live() {
        assert_eq!(try_resolve(cluster.server(i), "acme/keep", "v1").await, Ok(Some(before.clone())));
    }
}

async fn expect_status(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partitioned_minority_acknowledges_nothing_and_catches_up() {
    let _one = exclusive().await;
    let cluster = Cluster::start(3, true).await;
    let first = push_image(cluster.server(0), "acme/part", "t", 5).await;
    cluster.converged().await;
    let minority = cluster.leader().await;
    cluster.partition(&[minority]);
    let majority: Vec<usize> = cluster.live().into_iter().filter(|i| *i != minority).collect();

    // The cut-off replica (the old leader) can neither acknowledge a write nor serve a
    // tag it can no longer vouch for.
    let (status, _) = try_push(cluster.server(minority), "acme/part", "t", 6).await;
    assert_eq!(status, 503, "a minority acknowledged a write");
    assert_eq!(try_resolve(cluster.server(minority), "acme/part", "t").await, Err(503));
    // The majority elects a leader and moves the tag.
    let deadline = Instant::now() + Duration::from_secs(30);
    let second = loop {
        let (status, manifest) = try_push(cluster.server(majority[0]), "acme/part", "t", 7).await;
        if status == 201 {
            break manifest;
        }
        assert!(Instant::now() < deadline, "the majority did not take writes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(first, second);
    for i in &majority {
        assert_eq!(try_resolve(cluster.server(*i), "acme/part", "t").await, Ok(Some(second.clone())));
    }
    cluster.heal();
    cluster.converged().await;
    assert_eq!(try_resolve(cluster.server(minority), "acme/part", "t").await, Ok(Some(second)));
}
