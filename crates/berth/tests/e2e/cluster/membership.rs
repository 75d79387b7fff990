//! Changing the cluster: replicas joining while pushes run, a graceful removal (and one
//! refused because it would lose the quorum), and emergency repair after losing two of
//! three, followed by two fresh replicas joining the survivor.

use std::time::{Duration, Instant};

use super::*;

/// Pushes `count` images through `server`, one tag each; the digests.
async fn push_many(server: &Server, repo: &str, prefix: &str, count: u64) -> Vec<(String, String)> {
    let mut pushed = Vec::new();
    for n in 0..count {
        let tag = format!("{prefix}{n}");
        let (status, manifest) = try_push(server, repo, &tag, 1000 + n).await;
        assert_eq!(status, 201, "push {tag}");
        pushed.push((tag, manifest));
    }
    pushed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_join_while_pushes_run_and_leave_gracefully() {
    let _one = exclusive().await;
    let mut cluster = Cluster::start(3, false).await;
    org(cluster.server(0), "acme").await;
    let pusher = Server::detached(&cluster.server(1).http);
    let pushing = tokio::spawn(async move { push_many(&pusher, "acme/grow", "t", 60).await });
    let fourth = cluster.add(2).await;
    let fifth = cluster.add(0).await;
    let pushed = pushing.await.unwrap();
    cluster.converged().await;
    let status = cluster.status(fourth).await;
    assert_eq!(status["members"].as_array().unwrap().len(), 5, "{status:#}");
    assert!(status["members"].as_array().unwrap().iter().all(|m| m["voter"] == true));
    for i in [fourth, fifth] {
        for (tag, manifest) in &pushed {
            assert_eq!(try_resolve(cluster.server(i), "acme/grow", tag).await, Ok(Some(manifest.clone())));
        }
        let metrics = anonymous().get(cluster.server(i).url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("berth_raft_voters 5"));
    }

    // Removing one: graceful, and the cluster says so.
    let removed_id = cluster.id(fifth).await;
    let response = client().delete(cluster.server(0).url(&format!("/api/v0/meta/replicas/{removed_id}"))).send().await.unwrap();
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    let status = cluster.status(0).await;
    assert_eq!(status["members"].as_array().unwrap().len(), 4, "{status:#}");
    assert!(status["replica_health"].get(&removed_id).is_none());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health = client().get(cluster.server(fifth).url("/health")).send().await.unwrap();
        if health.status() == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "the removed replica still says it is healthy");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.stop(fifth);
    let (status, _) = try_push(cluster.server(fourth), "acme/grow", "after", 1).await;
    assert_eq!(status, 201);

    // Unknown and malformed ids.
    let unknown = client().delete(cluster.server(0).url("/api/v0/meta/replicas/000000000001")).send().await.unwrap();
    expect_error(unknown, 409, "REFUSED").await;
    let malformed = client().delete(cluster.server(0).url("/api/v0/meta/replicas/nope")).send().await.unwrap();
    expect_error(malformed, 400, "INVALID_INPUT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removal_that_would_lose_the_quorum_is_refused() {
    let _one = exclusive().await;
    let mut cluster = Cluster::start(3, false).await;
    let leader = cluster.leader().await;
    let followers: Vec<usize> = cluster.live().into_iter().filter(|i| *i != leader).collect();
    let doomed = cluster.id(followers[0]).await;
    cluster.kill(followers[1]);
    // Left: the leader and `doomed`; without `doomed`, one healthy replica of two.
    let response = client().delete(cluster.server(leader).url(&format!("/api/v0/meta/replicas/{doomed}"))).send().await.unwrap();
    let body = expect_error(response, 409, "REFUSED").await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("quorum"), "{body}");
    assert_eq!(cluster.status(leader).await["members"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn emergency_repair_after_losing_two_of_three() {
    let _one = exclusive().await;
    let mut cluster = Cluster::start(3, false).await;
    org(cluster.server(0), "acme").await;
    let pushed = push_many(cluster.server(1), "acme/repair", "t", 5).await;
    cluster.converged().await;
    let survivor = cluster.follower().await;
    let survivor_id = cluster.id(survivor).await;
    for i in cluster.live() {
        if i != survivor {
            cluster.kill(i);
        }
    }
    let (status, _) = try_push(cluster.server(survivor), "acme/repair", "lost", 9).await;
    assert_eq!(status, 503);
    cluster.stop(survivor);

    // The wrong id is refused; the right one repairs.
    let repair = |id: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["emergency-repair", "--replica", id, "--data-dir"])
            .arg(&cluster.nodes[survivor].data)
            .args(["--https-listen", &format!("127.0.0.1:{}", cluster.nodes[survivor].port)])
            .args(["--advertise", &cluster.nodes[survivor].advertise()])
            .output()
            .unwrap()
    };
    let wrong = repair("0123456789ab");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("holds replica"), "{}", String::from_utf8_lossy(&wrong.stderr));
    let repaired = repair(&survivor_id);
    assert!(repaired.status.success(), "{}", String::from_utf8_lossy(&repaired.stderr));
    cluster.restart(survivor);
    let status = cluster.status(survivor).await;
    assert_eq!(status["members"].as_array().unwrap().len(), 1, "{status:#}");
    assert_eq!(status["replica"], survivor_id.as_str(), "the survivor keeps its id");
    for (tag, manifest) in &pushed {
        assert_eq!(try_resolve(cluster.server(survivor), "acme/repair", tag).await, Ok(Some(manifest.clone())));
    }
    let (status, _) = try_push(cluster.server(survivor), "acme/repair", "after", 10).await;
    assert_eq!(status, 201, "the repaired replica takes writes alone");

    // Two fresh replicas join it; the cluster is three again.
    let a = cluster.add(survivor).await;
    let b = cluster.add(survivor).await;
    cluster.converged().await;
    assert_eq!(cluster.status(a).await["members"].as_array().unwrap().len(), 3);
    for (tag, manifest) in &pushed {
        assert_eq!(try_resolve(cluster.server(b), "acme/repair", tag).await, Ok(Some(manifest.clone())));
    }
}
