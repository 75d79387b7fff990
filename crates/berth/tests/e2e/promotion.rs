//! Promotion policies: a push (or a signature) matching every rule is copied to another
//! repository under a tag template, blobs shared, indexes with their children; one that
//! cannot be made says why and the next push recovers; real clients push and pull; only
//! who administers the source and may push to the target makes one.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;
use crate::webhooks::{api, api_as};

const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const POLICIES: &str = "/api/v0/repositories/acme/dev/promotionPolicies";

/// Pushes an image whose config carries `labels`; its digest.
async fn push_labelled(server: &Server, repo: &str, tag: &str, labels: Value, seed: u64) -> String {
    let config = json!({"architecture": "amd64", "os": "linux", "config": {"Labels": labels}, "seed": seed}).to_string();
    let layer = random_bytes(2000, seed);
    let config_digest = push_blob(server, repo, config.as_bytes()).await;
    let layer_digest = push_blob(server, repo, &layer).await;
    let manifest = image_manifest((&config_digest, config.len()), &[(&layer_digest, layer.len())], "");
    put_manifest(server, repo, tag, IMAGE, &manifest).await
}

/// The digest `repo:tag` points at, once it does (within `wait`); `None` if it never does.
async fn promoted(server: &Server, repo: &str, tag: &str, wait: Duration) -> Option<String> {
    let deadline = Instant::now() + wait;
    loop {
        let response = client()
            .head(server.url(&format!("/v2/{repo}/manifests/{tag}")))
            .header("accept", format!("{IMAGE}, {INDEX}"))
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            return Some(response.headers()["docker-content-digest"].to_str().unwrap().to_owned());
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn policy(server: &Server, body: Value) -> Value {
    api(server, Method::POST, POLICIES, body).await
}

#[tokio::test]
async fn matching_pushes_are_promoted_with_their_blobs_and_index_children() {
    let server = Server::start();
    org(&server, "acme").await;
    push_image(&server, "acme/dev", "first", 1).await;
    let made = policy(
        &server,
        json!({"rules": [{"field": "tag", "operator": "matches", "values": ["[0-9]+\\.[0-9]+"]},
                         {"field": "label", "operator": "eq", "values": ["stage=prod"]}],
               "targetRepository": "acme/prod", "tagTemplate": "{tag}-prod"}),
    )
    .await;
    assert_eq!(made["tagTemplate"], "{tag}-prod");
    assert_eq!(made["createdBy"], "admin");
    assert_eq!(made["lastPromotion"], Value::Null);

    let digest = push_labelled(&server, "acme/dev", "1.0", json!({"stage": "prod"}), 10).await;
    push_labelled(&server, "acme/dev", "2.0", json!({"stage": "dev"}), 11).await;
    push_labelled(&server, "acme/dev", "nightly", json!({"stage": "prod"}), 12).await;
    assert_eq!(promoted(&server, "acme/prod", "1.0-prod", Duration::from_secs(10)).await.as_deref(), Some(digest.as_str()));
    // The blobs came with it, without a byte moved: the target serves them.
    let manifest: Value =
        client().get(server.url("/v2/acme/prod/manifests/1.0-prod")).header("accept", IMAGE).send().await.unwrap().json().await.unwrap();
    for blob in [&manifest["config"]["digest"], &manifest["layers"][0]["digest"]] {
        let response = client().get(server.url(&format!("/v2/acme/prod/blobs/{}", blob.as_str().unwrap()))).send().await.unwrap();
        assert_eq!(response.status(), 200, "{blob}");
    }
    // What did not match stayed where it was.
    assert_eq!(promoted(&server, "acme/prod", "2.0-prod", Duration::ZERO).await, None, "labelled stage=dev");
    assert_eq!(promoted(&server, "acme/prod", "nightly-prod", Duration::ZERO).await, None, "not a version");
    let stored = api(&server, Method::GET, &format!("{POLICIES}/{}", made["id"].as_str().unwrap()), Value::Null).await;
    assert_eq!(stored["lastPromotion"]["targetTag"], "1.0-prod", "{stored}");
    assert_eq!(stored["lastPromotion"]["error"], Value::Null);
    // The audit log has the promotion as a push to the target, by the job, saying whence.
    let events = api(&server, Method::GET, "/api/v0/events?type=TAG_PUSH&repository=acme/prod", Value::Null).await;
    let event = &events["events"][0];
    assert_eq!(event["object"], "1.0-prod", "{events}");
    assert_eq!(event["job"], "promotion");
    assert_eq!(event["details"]["promotedFrom"]["tag"], "1.0");

    // An index, with an annotation rule: its children come along.
    policy(
        &server,
        json!({"rules": [{"field": "annotation", "operator": "eq", "values": ["release=yes"]}], "targetRepository": "acme/prod"}),
    )
    .await;
    let children = [push_image(&server, "acme/dev", "amd64", 20).await, push_image(&server, "acme/dev", "arm64", 21).await];
    let mut entries = Vec::new();
    for d in &children {
        entries.push(format!(r#"{{"mediaType":"{IMAGE}","digest":"{d}","size":{}}}"#, manifest_size(&server, "acme/dev", d).await));
    }
    let index =
        format!(r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{}],"annotations":{{"release":"yes"}}}}"#, entries.join(","));
    let index_digest = put_manifest(&server, "acme/dev", "3.0", INDEX, &index).await;
    assert_eq!(promoted(&server, "acme/prod", "3.0", Duration::from_secs(10)).await.as_deref(), Some(index_digest.as_str()));
    for child in &children {
        let response = client().head(server.url(&format!("/v2/acme/prod/manifests/{child}"))).header("accept", IMAGE).send().await.unwrap();
        assert_eq!(response.status(), 200, "child {child}");
    }
}

/// The size of a stored manifest.
async fn manifest_size(server: &Server, repo: &str, digest: &str) -> usize {
    let response = client().get(server.url(&format!("/v2/{repo}/manifests/{digest}"))).header("accept", IMAGE).send().await.unwrap();
    response.bytes().await.unwrap().len()
}

#[tokio::test]
async fn a_promotion_that_cannot_be_made_says_why_and_the_next_push_recovers() {
    let server = Server::start();
    org(&server, "acme").await;
    push_image(&server, "acme/dev", "first", 1).await;
    let made = policy(
        &server,
        json!({"rules": [{"field": "tag", "operator": "sw", "values": ["1."]}], "targetRepository": "later/prod", "tagTemplate": "{tag}"}),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_owned();
    // The target's namespace does not exist yet: nothing is copied, and the policy says why.
    push_image(&server, "acme/dev", "1.0", 2).await;
    let last = wait_for_field(&server, &format!("{POLICIES}/{id}"), "lastPromotion").await;
    assert!(last["error"].as_str().unwrap().contains("namespace later"), "{last}");
    let failures = api(&server, Method::GET, "/api/v0/events?type=PROMOTION_FAIL", Value::Null).await;
    assert_eq!(failures["events"][0]["details"]["target"], "later/prod:1.0", "{failures}");

    // Once the namespace exists, the next matching push is promoted.
    org(&server, "later").await;
    let digest = push_image(&server, "acme/dev", "1.1", 3).await;
    assert_eq!(promoted(&server, "later/prod", "1.1", Duration::from_secs(10)).await.as_deref(), Some(digest.as_str()));
    assert_eq!(promoted(&server, "later/prod", "1.0", Duration::ZERO).await, None, "a failed promotion is not retried by itself");

    // An immutable tag in the target is not moved: the promotion says so.
    api(&server, Method::PATCH, "/api/v0/repositories/later/prod", json!({"immutableTags": true})).await;
    push_image(&server, "acme/dev", "1.1", 4).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stored = api(&server, Method::GET, &format!("{POLICIES}/{id}"), Value::Null).await;
        if stored["lastPromotion"]["error"].as_str().is_some_and(|e| e.contains("immutable")) {
            break;
        }
        assert!(Instant::now() < deadline, "{stored}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(promoted(&server, "later/prod", "1.1", Duration::ZERO).await.as_deref(), Some(digest.as_str()), "unmoved");

    // A promotion survives a restart without being made twice: the worker's place is kept.
    let pushes = api(&server, Method::GET, "/api/v0/events?type=TAG_PUSH&repository=later/prod", Value::Null).await;
    let mut server = server;
    server.stop();
    let server = Server::start_in(&server.data_dir, &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(api(&server, Method::GET, "/api/v0/events?type=TAG_PUSH&repository=later/prod", Value::Null).await, pushes);
}

#[tokio::test]
async fn a_tag_is_promoted_once_it_is_signed() {
    if !client_available("notary", &["version"]) {
        return;
    }
    let server = Server::start();
    org(&server, "acme").await;
    push_image(&server, "acme/dev", "first", 1).await;
    policy(&server, json!({"rules": [{"field": "signed", "operator": "eq", "values": ["true"]}], "targetRepository": "acme/prod"})).await;
    let digest = push_image(&server, "acme/dev", "1.0", 2).await;
    assert_eq!(promoted(&server, "acme/prod", "1.0", Duration::from_secs(3)).await, None, "pushed, not signed yet");

    // Signed with the notary CLI, over the manifest's own bytes (as docker trust signs it).
    let bytes = client().get(server.url("/v2/acme/dev/manifests/1.0")).header("accept", IMAGE).send().await.unwrap().bytes().await.unwrap();
    let trust = tempfile::tempdir().unwrap();
    let target = trust.path().join("manifest.json");
    std::fs::write(&target, &bytes).unwrap();
    let gun = format!("{}/acme/dev", server.https_localhost());
    let notary = || crate::trust::notary(&server, &trust.path().join("trust"));
    crate::clients::run(notary().args(["init", &gun, "-p"]));
    crate::clients::run(notary().args(["add", &gun, "1.0", target.to_str().unwrap()]));
    crate::clients::run(notary().args(["publish", &gun]));
    assert_eq!(promoted(&server, "acme/prod", "1.0", Duration::from_secs(10)).await.as_deref(), Some(digest.as_str()));
}

#[tokio::test]
async fn only_the_sources_admins_who_may_push_to_the_target_make_policies() {
    let server = Server::start();
    org(&server, "acme").await;
    org(&server, "other").await;
    push_image(&server, "acme/dev", "first", 1).await;
    for (body, why) in [
        (
            json!({"rules": [{"field": "pushed", "operator": "olderThan", "values": ["1d"]}], "targetRepository": "acme/prod"}),
            "signed, label",
        ),
        (
            json!({"rules": [{"field": "tag", "operator": "eq", "values": ["x"]}], "targetRepository": "acme/prod", "tagTemplate": "{nope}"}),
            "{nope}",
        ),
        (json!({"rules": [{"field": "tag", "operator": "eq", "values": ["x"]}], "targetRepository": "acme/dev"}), "itself"),
        (json!({"rules": [{"field": "tag", "operator": "eq", "values": ["x"]}], "targetRepository": "Not A Name"}), "targetRepository"),
    ] {
        let response = client().post(server.url(POLICIES)).json(&body).send().await.unwrap();
        let error = expect_error(response, 400, "INVALID_INPUT").await;
        assert!(error["errors"][0]["message"].as_str().unwrap().contains(why), "{error}");
    }
    // Admin of acme/dev, but no right to push to other/prod: refused; to acme/prod: allowed.
    api(&server, Method::POST, "/api/v0/accounts", json!({"name": "lead", "password": "lead-password-1"})).await;
    api(&server, Method::POST, "/api/v0/accounts/acme/teams", json!({"name": "leads"})).await;
    api(&server, Method::PUT, "/api/v0/accounts/acme/teams/leads/members/lead", json!({})).await;
    api(&server, Method::PUT, "/api/v0/repositoryNamespaces/acme/teamAccess/leads", json!({"accessLevel": "admin"})).await;
    let lead = client_as("lead", "lead-password-1");
    let rules = json!([{"field": "tag", "operator": "eq", "values": ["1.0"]}]);
    let response = lead.post(server.url(POLICIES)).json(&json!({"rules": rules, "targetRepository": "other/prod"})).send().await.unwrap();
    expect_error(response, 403, "NOT_AUTHORIZED").await;
    let made = api_as(&lead, &server, Method::POST, POLICIES, json!({"rules": rules, "targetRepository": "acme/prod"})).await;
    let response = anonymous().get(server.url(POLICIES)).send().await.unwrap();
    assert_eq!(response.status(), 401);

    // The policy acts for its maker: once lead may no longer push to the target, a
    // matching push is not promoted, and the policy says why.
    api(&server, Method::DELETE, "/api/v0/repositoryNamespaces/acme/teamAccess/leads", Value::Null).await;
    push_image(&server, "acme/dev", "1.0", 2).await;
    let path = format!("{POLICIES}/{}", made["id"].as_str().unwrap());
    let last = wait_for_field(&server, &path, "lastPromotion").await;
    assert_eq!(last["error"], "lead may no longer push to acme/prod", "{last}");
    assert_eq!(promoted(&server, "acme/prod", "1.0", Duration::ZERO).await, None);
}

#[tokio::test]
async fn skopeo_pushes_and_pulls_what_a_policy_made_from_the_command_line_promotes() {
    use crate::cli::{berth, ok};
    if !client_available("skopeo", &["--version"]) {
        return;
    }
    let env = crate::clients::SkopeoEnv::start();
    let server = &env.server;
    org(server, "acme").await;
    push_image(server, "acme/dev", "first", 1).await;
    let made = ok(berth(
        server,
        &["promotion", "add", "acme/dev", "--target", "acme/prod", "--tag-template", "{tag}-{digest}", "--rule", "tag eq v1"],
        "",
    ));
    assert!(made.starts_with("promotion policy "), "{made}");

    let layout = env.temp.path().join("layout");
    crate::clients::oci_layout(&layout, env.temp.path());
    let creds = format!("admin:{ADMIN_PASSWORD}");
    crate::clients::run(
        env.skopeo()
            .args(["copy", "--dest-creds", &creds, "--dest-cert-dir"])
            .arg(&env.certs)
            .arg(format!("oci:{}:v1", layout.display()))
            .arg(format!("docker://{}/acme/dev:v1", env.host)),
    );
    let digest = client().head(server.url("/v2/acme/dev/manifests/v1")).header("accept", IMAGE).send().await.unwrap().headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    let tag = format!("v1-{}", &digest["sha256:".len().."sha256:".len() + 12]);
    assert_eq!(promoted(server, "acme/prod", &tag, Duration::from_secs(10)).await.as_deref(), Some(digest.as_str()));
    // The promoted image pulls whole with skopeo, layers and all.
    let out = env.temp.path().join("out");
    crate::clients::run(
        env.skopeo()
            .args(["copy", "--src-creds", &creds, "--src-cert-dir"])
            .arg(&env.certs)
            .arg(format!("docker://{}/acme/prod:{tag}", env.host))
            .arg(format!("oci:{}:pulled", out.display())),
    );
    assert!(std::fs::read_to_string(out.join("index.json")).unwrap().contains(digest.as_str()));
    let listed = ok(berth(server, &["promotion", "list", "acme/dev"], ""));
    assert!(listed.contains(&format!("v1 → {tag}")) && listed.contains("done"), "{listed}");
}
