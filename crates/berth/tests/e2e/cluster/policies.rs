//! Repository policies in a cluster: the promotion worker runs on the leader and keeps its
//! place in the replicated metadata, so a promotion made before the leader dies is not
//! made again by the next leader, and pushes after the failover are promoted too.

use super::*;

/// Waits (up to 30 s) until `repo:tag` resolves on every running replica; its digest.
async fn resolved_everywhere(cluster: &Cluster, repo: &str, tag: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut found = Vec::new();
        for i in cluster.live() {
            found.push(try_resolve(cluster.server(i), repo, tag).await);
        }
        if let Some(Ok(Some(first))) = found.first().cloned()
            && found.iter().all(|f| *f == Ok(Some(first.clone())))
        {
            return first;
        }
        assert!(Instant::now() < deadline, "{repo}:{tag} did not resolve everywhere: {found:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn promotions_go_on_after_the_leader_dies_and_are_made_once() {
    let _one = exclusive().await;
    let mut cluster = Cluster::start(3, false).await;
    let follower = cluster.follower().await;
    push_image(cluster.server(follower), "acme/dev", "first", 1).await;
    let policy = client()
        .post(cluster.server(follower).url("/api/v0/repositories/acme/dev/promotionPolicies"))
        .json(&serde_json::json!({"rules": [{"field": "tag", "operator": "sw", "values": ["rel-"]}], "targetRepository": "acme/prod"}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 201, "{}", policy.text().await.unwrap());

    let first = push_image(cluster.server(follower), "acme/dev", "rel-1", 2).await;
    assert_eq!(resolved_everywhere(&cluster, "acme/prod", "rel-1").await, first);

    // The leader dies; the next one goes on from the replicated place in the log.
    let leader = cluster.leader().await;
    cluster.kill(leader);
    let survivor = cluster.leader().await;
    assert_ne!(survivor, leader);
    let (status, second) = try_push(cluster.server(survivor), "acme/dev", "rel-2", 3).await;
    assert_eq!(status, 201);
    assert_eq!(resolved_everywhere(&cluster, "acme/prod", "rel-2").await, second);

    // Each promotion was made once: two pushes to the target in its audit log.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events: Value = client()
        .get(cluster.server(survivor).url("/api/v0/events?type=TAG_PUSH&repository=acme/prod"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut tags: Vec<&str> = events["events"].as_array().unwrap().iter().map(|e| e["object"].as_str().unwrap()).collect();
    tags.sort();
    assert_eq!(tags, ["rel-1", "rel-2"], "{events}");
}
