//! Namespace storage quotas: distinct blobs counted once per namespace, a push past the
//! quota refused with `DENIED` naming it (and nothing written), pushes adding nothing
//! new always pass, deletes give the space back, administrators only.

use serde_json::{Value, json};

use crate::harness::*;

const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";

async fn quota(server: &Server) -> Value {
    let response = client().get(server.url("/api/v0/accounts/acme/quota")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Pushes config + one layer of `size` bytes as `repo:tag`; the manifest push's response.
async fn push(server: &Server, repo: &str, tag: &str, size: usize, seed: u64) -> reqwest::Response {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#);
    let layer = random_bytes(size, seed);
    let config_digest = push_blob(server, repo, config.as_bytes()).await;
    let layer_digest = push_blob(server, repo, &layer).await;
    let manifest = image_manifest((&config_digest, config.len()), &[(&layer_digest, layer.len())], "");
    client().put(server.url(&format!("/v2/{repo}/manifests/{tag}"))).header("content-type", IMAGE).body(manifest).send().await.unwrap()
}

#[tokio::test]
async fn a_namespace_stays_within_its_quota() {
    let server = Server::start();
    org(&server, "acme").await;
    assert_eq!(quota(&server).await, json!({"namespace": "acme", "limitBytes": null, "usedBytes": 0}));
    let set = client().put(server.url("/api/v0/accounts/acme/quota")).json(&json!({"limitBytes": 30_000})).send().await.unwrap();
    assert_eq!(set.status(), 200);
    // A name no account holds gets no quota (nor a signing policy): it would pass to
    // whoever takes the name.
    let nobody = client().put(server.url("/api/v0/accounts/nobody/quota")).json(&json!({"limitBytes": 1})).send().await.unwrap();
    expect_error(nobody, 404, "NO_SUCH_ACCOUNT").await;
    let policy = client()
        .put(server.url("/api/v0/repositoryNamespaces/nobody/signingPolicy"))
        .json(&json!({"signedPullsOnly": true}))
        .send()
        .await
        .unwrap();
    expect_error(policy, 404, "NO_SUCH_ACCOUNT").await;

    assert_eq!(push(&server, "acme/web", "v1", 10_000, 1).await.status(), 201);
    let used = quota(&server).await["usedBytes"].as_u64().unwrap();
    assert!((10_000..10_100).contains(&used), "{used}");
    // The same image in another repository of the namespace: its blobs count once.
    assert_eq!(push(&server, "acme/api", "v1", 10_000, 1).await.status(), 201);
    assert_eq!(quota(&server).await["usedBytes"].as_u64().unwrap(), used);

    // Past the quota: refused, naming it, and nothing written.
    let refused = push(&server, "acme/web", "v2", 25_000, 2).await;
    let body = expect_error(refused, 403, "DENIED").await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("namespace acme is over its storage quota of 29.3 KiB"), "{message}");
    assert_eq!(client().head(server.url("/v2/acme/web/manifests/v2")).send().await.unwrap().status(), 404);
    assert_eq!(quota(&server).await["usedBytes"].as_u64().unwrap(), used);
    // Another namespace is not limited by acme's quota.
    assert_eq!(push(&server, "other/web", "v2", 25_000, 2).await.status(), 201);

    // Deleting images gives the space back (once no manifest of the namespace uses it).
    for repo in ["acme/web", "acme/api"] {
        let digest = client().head(server.url(&format!("/v2/{repo}/manifests/v1"))).header("accept", IMAGE).send().await.unwrap().headers()
            ["docker-content-digest"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(client().delete(server.url(&format!("/v2/{repo}/manifests/{digest}"))).send().await.unwrap().status(), 202);
    }
    assert_eq!(quota(&server).await["usedBytes"], 0);
    assert_eq!(push(&server, "acme/web", "v2", 25_000, 2).await.status(), 201);

    // Only administrators see or set quotas.
    client().post(server.url("/api/v0/accounts")).json(&json!({"name": "eve", "password": "eve-password-1"})).send().await.unwrap();
    let eve = client_as("eve", "eve-password-1");
    assert_eq!(eve.get(server.url("/api/v0/accounts/acme/quota")).send().await.unwrap().status(), 403);
    let raise = eve.put(server.url("/api/v0/accounts/acme/quota")).json(&json!({"limitBytes": null})).send().await.unwrap();
    assert_eq!(raise.status(), 403);
    // Removing the quota lifts the limit.
    let lifted = client().put(server.url("/api/v0/accounts/acme/quota")).json(&json!({"limitBytes": null})).send().await.unwrap();
    assert_eq!(lifted.json::<Value>().await.unwrap()["limitBytes"], Value::Null);
    assert_eq!(push(&server, "acme/web", "v3", 40_000, 3).await.status(), 201);
}
