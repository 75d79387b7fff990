//! Repository policies in a cluster: the promotion and push mirroring workers run on the
//! leader and keep their place in the replicated metadata, so a promotion or a mirroring
//! made before the leader dies is not made again by the next leader, and pushes after
//! the failover are promoted and mirrored too.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_mirroring_goes_on_after_the_leader_dies_and_records_each_push_once() {
    if !crate::distribution::Distribution::available() {
        eprintln!("skipping: docker-registry is not installed");
        return;
    }
    let _one = exclusive().await;
    let remote = crate::distribution::Distribution::start();
    let mut cluster = Cluster::start_configured(3, false, Some("[mirroring]\nallow_local_remotes = true\n")).await;
    let follower = cluster.follower().await;
    push_image(cluster.server(follower), "acme/app", "seed", 1).await;
    let path = "/api/v0/repositories/acme/app/pushMirroringPolicies";
    let body = serde_json::json!({"remoteHost": remote.url, "remoteRepository": "mirror/app"});
    let made = client().post(cluster.server(follower).url(path)).json(&body).send().await.unwrap();
    assert_eq!(made.status(), 201);
    let id = made.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let first = push_image(cluster.server(follower), "acme/app", "v1", 2).await;
    let mirrored = crate::distribution::eventually(Duration::from_secs(30), || remote.digest_of("mirror/app", "v1")).await;
    assert_eq!(mirrored.as_deref(), Some(first.as_str()));
    // Recorded (with the worker's place) before the leader dies.
    let url = cluster.server(follower).url(&format!("{path}/{id}"));
    let recorded = crate::distribution::eventually(Duration::from_secs(30), || async {
        let policy: Value = client().get(&url).send().await.ok()?.json().await.ok()?;
        (policy["log"][0]["tag"] == "v1").then_some(())
    })
    .await;
    assert!(recorded.is_some(), "the mirroring of v1 was recorded");

    let leader = cluster.leader().await;
    cluster.kill(leader);
    let survivor = cluster.leader().await;
    let (status, second) = try_push(cluster.server(survivor), "acme/app", "v2", 3).await;
    assert_eq!(status, 201);
    let mirrored = crate::distribution::eventually(Duration::from_secs(30), || remote.digest_of("mirror/app", "v2")).await;
    assert_eq!(mirrored.as_deref(), Some(second.as_str()), "mirrored by the next leader");

    // The log, replicated with the worker's place, has each push once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let policy: Value = client().get(cluster.server(survivor).url(&format!("{path}/{id}"))).send().await.unwrap().json().await.unwrap();
    let mut tags: Vec<&str> = policy["log"].as_array().unwrap().iter().map(|e| e["tag"].as_str().unwrap()).collect();
    tags.sort();
    assert_eq!(tags, ["v1", "v2"], "{policy}");
}
