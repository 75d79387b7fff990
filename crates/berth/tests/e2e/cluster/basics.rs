//! Any replica serves any request: pushes through a follower, pulls through each, an
//! upload continued through another replica, the API through a follower, and what
//! `cluster_status`, `/health` and `/metrics` say.

use super::*;
use crate::clients::{docker_clis, docker_login, random_files, run, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_serve_any_request() {
    let _one = exclusive().await;
    let cluster = Cluster::start(3, false).await;
    let (leader, follower) = (cluster.leader().await, cluster.follower().await);
    let other = cluster.live().into_iter().find(|i| *i != leader && *i != follower).unwrap();

    // A push through a follower (its writes go to the leader), pulled through each.
    let pushed = push_image(cluster.server(follower), "acme/app", "v1", 1).await;
    for i in cluster.live() {
        assert_eq!(try_resolve(cluster.server(i), "acme/app", "v1").await, Ok(Some(pushed.clone())), "replica {i}");
        let manifest: Value =
            client().get(cluster.server(i).url(&format!("/v2/acme/app/manifests/{pushed}"))).send().await.unwrap().json().await.unwrap();
        let layer = manifest["layers"][0]["digest"].as_str().unwrap();
        let blob = client().get(cluster.server(i).url(&format!("/v2/acme/app/blobs/{layer}"))).send().await.unwrap();
        assert_eq!(blob.status(), 200);
        assert_eq!(digest(&blob.bytes().await.unwrap()), layer);
    }

    // One upload, three replicas: started on one, continued on another, finished on the third.
    let bytes = random_bytes(300_000, 7);
    let d = digest(&bytes);
    let started = client().post(cluster.server(leader).url("/v2/acme/app/blobs/uploads/")).send().await.unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let path = location.trim_start_matches(&cluster.server(leader).http).to_owned();
    let patched = client()
        .patch(cluster.server(follower).url(&path))
        .header("content-range", format!("0-{}", 149_999))
        .body(bytes[..150_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 202, "{}", patched.text().await.unwrap());
    let path = patched.headers()["location"].to_str().unwrap().trim_start_matches(&cluster.server(follower).http).to_owned();
    let separator = if path.contains('?') { '&' } else { '?' };
    let finished = client()
        .put(cluster.server(other).url(&format!("{path}{separator}digest={d}")))
        .body(bytes[150_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(finished.status(), 201, "{}", finished.text().await.unwrap());
    for i in cluster.live() {
        let head = client().head(cluster.server(i).url(&format!("/v2/acme/app/blobs/{d}"))).send().await.unwrap();
        assert_eq!(head.status(), 200, "replica {i}");
    }

    // The API through a follower: an account made there is seen everywhere, at once.
    let made = client()
        .post(cluster.server(follower).url("/api/v0/accounts"))
        .json(&serde_json::json!({"name": "team-x", "isOrg": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    for i in cluster.live() {
        let read = client().get(cluster.server(i).url("/api/v0/accounts/team-x")).send().await.unwrap();
        assert_eq!(read.status(), 200, "replica {i}");
    }

    // What the cluster says of itself.
    cluster.converged().await;
    let status = cluster.status(other).await;
    let members = status["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(members.iter().filter(|m| m["leader"] == true).count(), 1);
    assert!(members.iter().all(|m| m["voter"] == true && m["id"].as_str().unwrap().len() == 12), "{status:#}");
    assert_eq!(status["replica_health"].as_object().unwrap().values().filter(|v| *v == "OK").count(), 3, "{status:#}");
    assert_eq!(status["gc_lock_holder"], "");
    for i in cluster.live() {
        let health = client().get(cluster.server(i).url("/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let metrics = anonymous().get(cluster.server(i).url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("berth_raft_voters 3"), "{metrics}");
        assert!(metrics.contains("berth_raft_quorum 1"));
    }
    // Only administrators see it.
    let user = client()
        .post(cluster.server(leader).url("/api/v0/accounts"))
        .json(&serde_json::json!({"name": "carol", "password": "carol-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 201);
    let denied =
        client_as("carol", "carol-password-1").get(cluster.server(leader).url("/api/v0/meta/cluster_status")).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    let denied = client_as("carol", "carol-password-1").post(cluster.server(leader).url("/api/v0/meta/join_tokens")).send().await.unwrap();
    assert_eq!(denied.status(), 403);
}

/// The replica endpoints exist only for replicas: not on the plain listener, not on the
/// registry's own name, and not without a replica certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replica_endpoints_need_a_replica_certificate() {
    let _one = exclusive().await;
    let cluster = Cluster::start(1, false).await;
    let server = cluster.server(0);
    let plain = anonymous().post(server.url("/internal/raft/vote")).body("{}").send().await.unwrap();
    assert_eq!(plain.status(), 404);
    let insecure = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let public = insecure.post(format!("{}/internal/raft/vote", server.https)).body("{}").send().await.unwrap();
    assert_eq!(public.status(), 404, "the registry's own name does not serve replica messages");
    // Asking for the replica name without a certificate: the CA is public, messages are not.
    let socket: std::net::SocketAddr = format!("127.0.0.1:{}", cluster.nodes[0].port).parse().unwrap();
    let replica_name =
        reqwest::Client::builder().danger_accept_invalid_certs(true).resolve("replica.berth.internal", socket).build().unwrap();
    let base = format!("https://replica.berth.internal:{}", cluster.nodes[0].port);
    let ca = replica_name.get(format!("{base}/internal/cluster/ca")).send().await.unwrap();
    assert_eq!(ca.status(), 200);
    assert!(ca.text().await.unwrap().contains("BEGIN CERTIFICATE"));
    let message = replica_name.post(format!("{base}/internal/raft/vote")).header("berth-cluster", "x").body("{}").send().await.unwrap();
    assert_eq!(message.status(), 403);
    // A replica certificate of another cluster does not get past the handshake.
    let other = Cluster::start(1, false).await;
    let mut pem = std::fs::read(other.nodes[0].data.join("cluster/replica.crt")).unwrap();
    pem.extend(std::fs::read(other.nodes[0].data.join("cluster/replica.key")).unwrap());
    let impostor = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .resolve("replica.berth.internal", socket)
        .build()
        .unwrap();
    let cluster_id = cluster.status(0).await["cluster"].as_str().unwrap().to_owned();
    let refused = impostor.post(format!("{base}/internal/raft/vote")).header("berth-cluster", &cluster_id).body("{}").send().await;
    assert!(refused.is_err() || refused.is_ok_and(|r| r.status() == 403), "a foreign replica certificate was accepted");
    // A join with a made-up token is refused, and writes nothing.
    let before = cluster.status(0).await["members"][0]["last_log_index"].clone();
    let request = serde_json::json!({"token_id": "0000000000000000", "secret": "00", "replica": "0123456789ab", "address": "https://127.0.0.1:1", "public_key": ""});
    let join = replica_name.post(format!("{base}/internal/cluster/join")).json(&request).send().await.unwrap();
    assert_eq!(join.status(), 403);
    assert_eq!(cluster.status(0).await["members"][0]["last_log_index"], before);
}

/// docker pushes through a replica that does not lead, and pulls through another.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn docker_push_and_pull_through_followers() {
    if !client_available("docker", &["version"]) {
        return;
    }
    let cli = docker_clis()[0];
    let _one = exclusive().await;
    let cluster = Cluster::start(3, false).await;
    let leader = cluster.leader().await;
    let followers: Vec<usize> = cluster.live().into_iter().filter(|i| *i != leader).collect();
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("docker");
    let docker = || {
        let mut c = std::process::Command::new(cli);
        c.env("DOCKER_CONFIG", &config);
        c
    };
    let host = |i: usize| format!("localhost:{}", cluster.nodes[i].port);
    org(cluster.server(followers[0]), "acme").await;
    for i in &followers {
        assert!(docker_login(&docker, "admin", ADMIN_PASSWORD, &host(*i)));
    }
    let files = temp.path().join("files");
    random_files(&files, 3, 11);
    let tar = temp.path().join("rootfs.tar");
    run(std::process::Command::new("tar").arg("-C").arg(&files).arg("-cf").arg(&tar).arg("."));
    let pushed = format!("{}/acme/cluster:1", host(followers[0]));
    run(docker().args(["import", tar.to_str().unwrap(), &pushed]));
    run(docker().args(["push", &pushed]));
    let pulled = format!("{}/acme/cluster:1", host(followers[1]));
    run(docker().args(["pull", &pulled]));
    let ids = stdout(&run(docker().args(["image", "inspect", "-f", "{{.Id}}", &pushed, &pulled])));
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1], "the image pulled through one follower is the one pushed through the other");
    let _ = docker().args(["rmi", &pushed, &pulled]).output();
}
