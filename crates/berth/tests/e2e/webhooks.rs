//! Webhooks against a real receiver the test runs (plain HTTP and HTTPS): each event
//! type in DTR's payload shape, the HMAC signature, retries with backoff, the delivery
//! log, pausing, redelivery, the test post, the SSRF rule, and pushes that a hanging
//! receiver does not slow.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;
use crate::receiver::{Behaviour, Receiver, signature_valid};

const SECRET: &str = "a-webhook-secret-for-tests";
const PASSWORD: &str = "correct horse battery";

/// A server whose webhooks may reach loopback, retry quickly and pause after two failures.
pub fn server_for_hooks(extra: &str) -> (Server, tempfile::TempDir) {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("berth.toml");
    std::fs::write(
        &config,
        format!(
            "[webhooks]\nallow_local_endpoints = true\nretry_base_millis = 200\nretry_for_secs = 4\npause_after = 2\ntimeout_secs = 3\n\
             [events]\npull_flush_secs = 1\n{extra}"
        ),
    )
    .unwrap();
    let server = Server::start_in(&temp.path().join("data"), &["--config", config.to_str().unwrap()]);
    (server, temp)
}

pub async fn api_as(http: &reqwest::Client, server: &Server, method: Method, path: &str, body: Value) -> Value {
    let response = http.request(method.clone(), server.url(path)).json(&body).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

pub async fn api(server: &Server, method: Method, path: &str, body: Value) -> Value {
    api_as(&client(), server, method, path, body).await
}

/// Subscribes `endpoint` to `kind` events of `key`; the hook's id.
async fn hook(server: &Server, kind: &str, key: &str, endpoint: &str, tls_cert: Option<&str>) -> String {
    let mut body = json!({"type": kind, "key": key, "endpoint": endpoint, "secret": SECRET});
    if let Some(pem) = tls_cert {
        body["tlsCert"] = json!(pem);
    }
    let created = api(server, Method::POST, "/api/v0/webhooks", body).await;
    assert_eq!(created["secret"], SECRET, "the secret is shown once, at creation");
    created["id"].as_str().unwrap().to_owned()
}

async fn deliveries(server: &Server, id: &str) -> Vec<Value> {
    let list = api(server, Method::GET, &format!("/api/v0/webhooks/{id}/deliveries"), Value::Null).await;
    list["deliveries"].as_array().unwrap().clone()
}

/// Waits until the hook's newest delivery is no longer pending; the deliveries.
async fn settled(server: &Server, id: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = deliveries(server, id).await;
        if !found.is_empty() && found.iter().all(|d| d["state"] != "pending") || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn pull(server: &Server, repo: &str, reference: &str) {
    let response = client()
        .get(server.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Pushes a small image by its digest alone (no tag); the digest.
pub async fn push_untagged(server: &Server, repo: &str, seed: u64) -> String {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","untagged":{seed}}}"#);
    let layer = random_bytes(500, seed);
    let config_digest = push_blob(server, repo, config.as_bytes()).await;
    let layer_digest = push_blob(server, repo, &layer).await;
    let manifest = image_manifest((&config_digest, config.len()), &[(&layer_digest, layer.len())], "");
    put_manifest(server, repo, &digest(manifest.as_bytes()), "application/vnd.oci.image.manifest.v1+json", &manifest).await
}

/// Checks what every delivery carries: the signature, the headers, `{type, createdAt, contents}`.
fn check_delivery(received: &crate::receiver::Received, kind: &str) -> Value {
    assert!(signature_valid(SECRET, received), "signature of {kind}: {}", received.header("x-berth-signature"));
    assert!(!signature_valid("another-secret-of-16+", received), "a signature that any secret verifies is none");
    assert_eq!(received.header("content-type"), "application/json");
    assert_eq!(received.header("x-berth-event"), kind);
    assert!(received.header("x-berth-delivery").parse::<u64>().is_ok());
    let body = received.json();
    assert_eq!(body["type"], kind);
    let created = body["createdAt"].as_str().unwrap();
    assert!(time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339).is_ok(), "createdAt {created}");
    body["contents"].clone()
}

#[tokio::test]
async fn every_event_type_is_delivered_signed_in_dtr_shape() {
    let (server, _temp) = server_for_hooks("");
    let receiver = Receiver::plain().await;
    org(&server, "hooks").await;
    let kinds = ["TAG_PUSH", "TAG_PULL", "TAG_DELETE", "MANIFEST_PUSH", "MANIFEST_PULL", "MANIFEST_DELETE", "REPO_EVENT"];
    let mut ids = std::collections::HashMap::new();
    for kind in kinds {
        // Each type on its own path, so the test knows which hook a request came from.
        ids.insert(kind, hook(&server, kind, "hooks", &format!("{}/{kind}", receiver.url), None).await);
    }
    // Another namespace's events reach none of them.
    push_image(&server, "elsewhere/app", "v1", 9).await;

    api(&server, Method::POST, "/api/v0/repositories/hooks", json!({"name": "app", "visibility": "private"})).await;
    let digest = push_image(&server, "hooks/app", "v1", 1).await;
    let untagged = push_untagged(&server, "hooks/app", 2).await;
    pull(&server, "hooks/app", "v1").await;
    pull(&server, "hooks/app", "v1").await;
    pull(&server, "hooks/app", &untagged).await;
    api(&server, Method::PATCH, "/api/v0/repositories/hooks/app", json!({"immutableTags": false, "visibility": "public"})).await;
    let response = client().delete(server.url("/api/v0/repositories/hooks/app/tags/v1")).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let response = client().delete(server.url(&format!("/v2/hooks/app/manifests/{untagged}"))).send().await.unwrap();
    assert_eq!(response.status(), 202);
    api(&server, Method::DELETE, "/api/v0/repositories/hooks/app", Value::Null).await;

    let all = receiver
        .wait_for(Duration::from_secs(20), |r| {
            let count = |t: &str| r.iter().filter(|x| x.json()["type"] == t).count();
            count("TAG_PUSH") >= 1
                && count("MANIFEST_PUSH") >= 2
                && count("TAG_PULL") >= 1
                && count("MANIFEST_PULL") >= 2
                && count("TAG_DELETE") >= 1
                && count("MANIFEST_DELETE") >= 1
                && count("REPO_EVENT") >= 3
        })
        .await;
    // Deliveries may arrive in any order (each is retried on its own); their ids follow the events'.
    let mut all = all;
    all.sort_by_key(|r| r.header("x-berth-delivery").parse::<u64>().unwrap());
    let of = |t: &str| all.iter().filter(|r| r.json()["type"] == t).cloned().collect::<Vec<_>>();

    // A tagged push reaches the TAG_PUSH and the MANIFEST_PUSH hooks, each in its own type;
    // the untagged push only MANIFEST_PUSH.
    let tag_pushes = of("TAG_PUSH");
    assert_eq!(tag_pushes.len(), 1, "one TAG_PUSH");
    let mut manifest_pushes: Vec<Value> = of("MANIFEST_PUSH").iter().map(|r| check_delivery(r, "MANIFEST_PUSH")).collect();
    assert_eq!(manifest_pushes.len(), 2, "both pushes reach the MANIFEST_PUSH hook");
    manifest_pushes.sort_by_key(|c| c.get("tag").is_none());
    for contents in [check_delivery(&tag_pushes[0], "TAG_PUSH"), manifest_pushes[0].clone()] {
        assert_eq!(contents["namespace"], "hooks");
        assert_eq!(contents["repository"], "app");
        assert_eq!(contents["tag"], "v1");
        assert_eq!(contents["digest"], digest.as_str());
        assert_eq!(contents["imageName"], "hooks/app:v1");
        assert_eq!(contents["author"], "admin");
        assert_eq!(contents["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        assert!(contents["pushedAt"].is_string());
    }
    let contents = &manifest_pushes[1];
    assert_eq!(contents["digest"], untagged.as_str());
    assert_eq!(contents["imageName"], format!("hooks/app@{untagged}"));
    assert!(contents.get("tag").is_none());

    // Pulls are counted and sent once per flush: two pulls of v1 are one event with count 2.
    let tag_pulls = of("TAG_PULL");
    assert_eq!(tag_pulls.len(), 1, "one TAG_PULL");
    let mut manifest_pulls: Vec<Value> = of("MANIFEST_PULL").iter().map(|r| check_delivery(r, "MANIFEST_PULL")).collect();
    assert_eq!(manifest_pulls.len(), 2, "pulls by tag and by digest reach the MANIFEST_PULL hook");
    manifest_pulls.sort_by_key(|c| c.get("tag").is_none());
    for contents in [check_delivery(&tag_pulls[0], "TAG_PULL"), manifest_pulls[0].clone()] {
        assert_eq!(contents["tag"], "v1");
        assert_eq!(contents["count"], 2);
        assert_eq!(contents["author"], "admin");
        assert!(contents["pulledAt"].is_string());
    }
    assert_eq!(manifest_pulls[1]["digest"], untagged.as_str());
    assert_eq!(manifest_pulls[1]["count"], 1);

    let contents = check_delivery(&of("TAG_DELETE")[0], "TAG_DELETE");
    assert_eq!(contents["tag"], "v1");
    assert_eq!(contents["digest"], digest.as_str());
    assert!(contents["deletedAt"].is_string());
    let contents = check_delivery(&of("MANIFEST_DELETE")[0], "MANIFEST_DELETE");
    assert_eq!(contents["digest"], untagged.as_str());

    let repo_events: Vec<Value> = of("REPO_EVENT").iter().map(|r| check_delivery(r, "REPO_EVENT")).collect();
    let types: Vec<&str> = repo_events.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["REPO_CREATED", "REPO_UPDATED", "REPO_DELETED"]);
    assert_eq!(repo_events[0]["public"], false);
    assert_eq!(repo_events[1]["public"], true);
    assert!(repo_events.iter().all(|c| c["namespace"] == "hooks" && c["repository"] == "app" && c["author"] == "admin"));

    // Nothing of the other namespace, and each hook got only its type.
    assert!(all.iter().all(|r| r.json()["contents"]["namespace"] == "hooks"));
    for (kind, id) in &ids {
        let log = settled(&server, id).await;
        assert!(log.iter().all(|d| d["state"] == "delivered" && d["status"] == 200 && d["attempts"] == 1), "{kind}: {log:?}");
        assert!(log.iter().all(|d| d["durationMs"].is_u64()));
    }
    assert_eq!(receiver.received().len(), all.len(), "no delivery twice");
}

#[tokio::test]
async fn failing_receivers_are_retried_paused_and_redelivered() {
    let (server, _temp) = server_for_hooks("");
    let receiver = Receiver::plain().await;
    org(&server, "flaky").await;
    let id = hook(&server, "TAG_PUSH", "flaky/app", &receiver.url, None).await;

    // Down for two attempts, then back: the third attempt delivers, after backing off.
    receiver.script(&[Behaviour::Fail, Behaviour::Fail]);
    push_image(&server, "flaky/app", "v1", 1).await;
    let log = settled(&server, &id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["state"], "delivered", "{log:?}");
    assert_eq!(log[0]["attempts"], 3);
    assert_eq!(log[0]["status"], 200);
    let got = receiver.received();
    assert_eq!(got.iter().map(|r| r.answered).collect::<Vec<_>>(), [Behaviour::Fail, Behaviour::Fail, Behaviour::Accept]);
    assert!(got.iter().all(|r| r.body == got[0].body), "a retry posts the same payload");
    assert!(got.iter().all(|r| signature_valid(SECRET, r)), "each attempt is signed afresh");
    let hook_now = api(&server, Method::GET, &format!("/api/v0/webhooks/{id}"), Value::Null).await;
    assert_eq!(hook_now["paused"], false, "a delivery that succeeded clears the failures");

    // Down for good: each delivery gives up after retrying for retry_for (4 s); two failed
    // deliveries in a row pause the hook, which says why.
    receiver.set(Behaviour::Fail);
    push_image(&server, "flaky/app", "v2", 2).await;
    push_image(&server, "flaky/app", "v3", 3).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let paused = loop {
        let hook = api(&server, Method::GET, &format!("/api/v0/webhooks/{id}"), Value::Null).await;
        if hook["paused"] == true || Instant::now() > deadline {
            break hook;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(paused["paused"], true, "{paused}");
    let reason = paused["pausedReason"].as_str().unwrap();
    assert!(reason.contains("500"), "the reason names the failure: {reason}");
    let log = settled(&server, &id).await;
    let failed: Vec<&Value> = log.iter().filter(|d| d["state"] == "failed").collect();
    assert_eq!(failed.len(), 2, "{log:?}");
    for d in &failed {
        assert_eq!(d["status"], 500);
        assert!(d["attempts"].as_u64().unwrap() >= 2, "retried before giving up: {d}");
        assert!(d["error"].as_str().unwrap().contains("receiver is down"));
    }

    // While paused, events queue nothing.
    receiver.set(Behaviour::Accept);
    let before = receiver.received().len();
    push_image(&server, "flaky/app", "v4", 4).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), before);
    assert_eq!(deliveries(&server, &id).await.len(), log.len());

    // Resumed, a failed delivery can be sent again.
    let resumed = api(&server, Method::PATCH, &format!("/api/v0/webhooks/{id}"), json!({"paused": false})).await;
    assert_eq!(resumed["paused"], false);
    assert_eq!(resumed["failures"], 0);
    let again = failed[0]["id"].as_u64().unwrap();
    let response = client().post(server.url(&format!("/api/v0/webhooks/{id}/deliveries/{again}/redeliver"))).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let log = settled(&server, &id).await;
    let redelivered = log.iter().find(|d| d["id"] == again).unwrap();
    assert_eq!(redelivered["state"], "delivered", "{redelivered}");
    assert_eq!(redelivered["status"], 200);
    let response = client().post(server.url(&format!("/api/v0/webhooks/{id}/deliveries/999999/redeliver"))).send().await.unwrap();
    expect_error(response, 404, "NO_SUCH_DELIVERY").await;

    // The test post: signed, type TEST, answered at once.
    let test = api(&server, Method::POST, &format!("/api/v0/webhooks/{id}/test"), Value::Null).await;
    assert_eq!(test["delivered"], true, "{test}");
    assert_eq!(test["status"], 200);
    let received = receiver.wait_for_type("TEST").await;
    assert!(signature_valid(SECRET, &received));

    // Deleted, it is gone with its log.
    let response = client().delete(server.url(&format!("/api/v0/webhooks/{id}"))).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let response = client().get(server.url(&format!("/api/v0/webhooks/{id}/deliveries"))).send().await.unwrap();
    expect_error(response, 404, "NO_SUCH_WEBHOOK").await;
}

#[tokio::test]
async fn https_receivers_are_verified_against_the_hooks_ca() {
    let (server, _temp) = server_for_hooks("");
    let receiver = Receiver::tls().await;
    org(&server, "secure").await;
    let trusted = hook(&server, "TAG_PUSH", "secure", &receiver.url, receiver.ca_pem.as_deref()).await;
    let untrusted = hook(&server, "TAG_PUSH", "secure", &receiver.url, None).await;
    let digest = push_image(&server, "secure/app", "v1", 1).await;

    let received = receiver.wait_for_type("TAG_PUSH").await;
    assert_eq!(check_delivery(&received, "TAG_PUSH")["digest"], digest.as_str());
    let log = settled(&server, &trusted).await;
    assert_eq!(log[0]["state"], "delivered", "{log:?}");
    // Without the CA, the receiver's certificate is not trusted: the error says so.
    let test = api(&server, Method::POST, &format!("/api/v0/webhooks/{untrusted}/test"), Value::Null).await;
    assert_eq!(test["delivered"], false);
    let error = test["error"].as_str().unwrap().to_ascii_lowercase();
    assert!(error.contains("certificate"), "{error}");
    assert_eq!(receiver.received().len(), 1, "nothing reached the receiver over an unverified connection");

    let response = client()
        .post(server.url("/api/v0/webhooks"))
        .json(&json!({"type": "TAG_PUSH", "key": "secure", "endpoint": receiver.url, "tlsCert": "not a certificate"}))
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "INVALID_INPUT").await;
}

#[tokio::test]
async fn a_hanging_receiver_does_not_slow_pushes() {
    let (server, _temp) = server_for_hooks("");
    let receiver = Receiver::plain().await;
    org(&server, "busy").await;
    // Baseline: pushes with no webhook.
    let mut baseline = Vec::new();
    for i in 0..5 {
        let started = Instant::now();
        push_image(&server, "busy/plain", &format!("v{i}"), 100 + i).await;
        baseline.push(started.elapsed());
    }
    receiver.set(Behaviour::Hang);
    for i in 0..10 {
        hook(&server, "TAG_PUSH", "busy", &format!("{}/{i}", receiver.url), None).await;
    }
    let mut hooked = Vec::new();
    for i in 0..5 {
        let started = Instant::now();
        push_image(&server, "busy/app", &format!("v{i}"), i).await;
        hooked.push(started.elapsed());
    }
    // The worker is stuck on the receiver meanwhile, which proves the pushes did not wait for it.
    let got = receiver.wait_for(Duration::from_secs(10), |r| r.len() >= 10).await;
    assert!(got.len() >= 10, "the worker posted while the pushes went on");
    baseline.sort();
    hooked.sort();
    let (b, h) = (baseline[2], hooked[2]);
    eprintln!("median push: {b:?} without webhooks, {h:?} with ten hanging ones");
    assert!(h < b * 5 + Duration::from_millis(250), "pushes waited for the receiver: {h:?} against {b:?}");
    assert!(hooked[4] < Duration::from_secs(2), "slowest push {:?} (the receiver hangs for minutes)", hooked[4]);
}

#[tokio::test]
async fn only_administrators_of_the_key_manage_its_webhooks_and_local_addresses_are_refused() {
    // The default configuration: endpoints on loopback or link-local addresses are refused.
    let server = Server::start();
    let receiver = Receiver::plain().await;
    for user in ["alice", "bob"] {
        api(&server, Method::POST, "/api/v0/accounts", json!({"name": user, "password": PASSWORD})).await;
    }
    org(&server, "team").await;
    api(&server, Method::POST, "/api/v0/accounts/team/teams", json!({"name": "devs"})).await;
    api(&server, Method::PUT, "/api/v0/accounts/team/teams/devs/members/bob", json!({})).await;
    api(&server, Method::PUT, "/api/v0/repositories/team/app/teamAccess/devs", json!({"accessLevel": "read-write"})).await;
    let alice = client_as("alice", PASSWORD);
    let bob = client_as("bob", PASSWORD);

    // A user manages the hooks of their own namespace.
    let own =
        api_as(&alice, &server, Method::POST, "/api/v0/webhooks", json!({"type": "TAG_PUSH", "key": "alice", "endpoint": receiver.url}))
            .await;
    let own_id = own["id"].as_str().unwrap();
    assert_eq!(own["secret"].as_str().unwrap().len(), 64, "a secret is made when none is given");
    // Read-write is not enough; nor is another user's namespace.
    for (http, key) in [(&bob, "team/app"), (&bob, "team"), (&bob, "alice"), (&alice, "team/app")] {
        let response = http
            .post(server.url("/api/v0/webhooks"))
            .json(&json!({"type": "TAG_PUSH", "key": key, "endpoint": receiver.url}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{key}");
    }
    // Another user's hook is as absent as a missing one, and not listed.
    let response = bob.get(server.url(&format!("/api/v0/webhooks/{own_id}"))).send().await.unwrap();
    expect_error(response, 404, "NO_SUCH_WEBHOOK").await;
    let response = bob.delete(server.url(&format!("/api/v0/webhooks/{own_id}"))).send().await.unwrap();
    expect_error(response, 404, "NO_SUCH_WEBHOOK").await;
    let listed = api_as(&bob, &server, Method::GET, "/api/v0/webhooks", Value::Null).await;
    assert_eq!(listed["webhooks"], json!([]));
    let listed = api(&server, Method::GET, "/api/v0/webhooks", Value::Null).await;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1, "administrators see every hook");
    assert!(listed["webhooks"][0].get("secret").is_none() || listed["webhooks"][0]["secret"].is_null(), "the secret is never shown again");

    // Bad input.
    for (body, what) in [
        (json!({"type": "PUSH", "key": "alice", "endpoint": receiver.url}), "type"),
        (json!({"type": "TAG_PUSH", "key": "alice", "endpoint": "ftp://example.com/"}), "endpoint"),
        (json!({"type": "TAG_PUSH", "key": "alice", "endpoint": receiver.url, "secret": "short"}), "secret"),
        (json!({"type": "TAG_PUSH", "key": "Not A Key", "endpoint": receiver.url}), "key"),
    ] {
        let response = alice.post(server.url("/api/v0/webhooks")).json(&body).send().await.unwrap();
        let error = expect_error(response, 400, "INVALID_INPUT").await;
        assert!(error.to_string().contains(what), "{what}: {error}");
    }

    // The endpoint is on loopback: the test post and real deliveries are refused, and say why.
    let test = api_as(&alice, &server, Method::POST, &format!("/api/v0/webhooks/{own_id}/test"), Value::Null).await;
    assert_eq!(test["delivered"], false);
    assert!(test["error"].as_str().unwrap().contains("local address"), "{test}");
    let named = api_as(
        &alice,
        &server,
        Method::POST,
        "/api/v0/webhooks",
        json!({"type": "TAG_PUSH", "key": "alice", "endpoint": receiver.url.replace("127.0.0.1", "localhost")}),
    )
    .await;
    let test =
        api_as(&alice, &server, Method::POST, &format!("/api/v0/webhooks/{}/test", named["id"].as_str().unwrap()), Value::Null).await;
    assert_eq!(test["delivered"], false, "a name that resolves to loopback is refused too: {test}");
    for metadata in ["http://169.254.169.254/latest/meta-data/", "http://[::1]:80/", "http://0.0.0.0:80/"] {
        let made =
            api_as(&alice, &server, Method::POST, "/api/v0/webhooks", json!({"type": "TAG_PUSH", "key": "alice", "endpoint": metadata}))
                .await;
        let test =
            api_as(&alice, &server, Method::POST, &format!("/api/v0/webhooks/{}/test", made["id"].as_str().unwrap()), Value::Null).await;
        assert_eq!(test["delivered"], false, "{metadata}: {test}");
    }
    assert!(receiver.received().is_empty(), "nothing reached the loopback receiver");
}

#[tokio::test]
async fn trust_changes_are_security_events() {
    if !client_available("notary", &["version"]) {
        return;
    }
    let (server, _temp) = server_for_hooks("");
    let receiver = Receiver::plain().await;
    push_image(&server, "signed/app", "v1", 1).await;
    hook(&server, "SECURITY_EVENT", "signed", &receiver.url, None).await;
    let gun = format!("{}/signed/app", server.https_localhost());
    let trust = tempfile::tempdir().unwrap();
    let target = trust.path().join("target");
    std::fs::write(&target, b"the signed content").unwrap();
    let notary = || crate::trust::notary(&server, &trust.path().join("trust"));

    crate::clients::run(notary().args(["init", &gun, "-p"]));
    crate::clients::run(notary().args(["add", &gun, "v1", target.to_str().unwrap()]));
    crate::clients::run(notary().args(["publish", &gun]));
    crate::clients::run(notary().args(["remove", &gun, "v1"]));
    crate::clients::run(notary().args(["publish", &gun]));
    crate::clients::run(notary().args(["delete", &gun, "--remote"]));

    let mut all = receiver.wait_for(Duration::from_secs(20), |r| r.len() >= 4).await;
    // Deliveries may arrive in any order (each is retried on its own); their ids follow the events'.
    all.sort_by_key(|r| r.header("x-berth-delivery").parse::<u64>().unwrap());
    let contents: Vec<Value> = all.iter().map(|r| check_delivery(r, "SECURITY_EVENT")).collect();
    let kinds: Vec<&str> = contents.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["TRUST_UPDATE", "TRUST_UPDATE", "TRUST_UPDATE", "TRUST_DELETE"], "{contents:?}");
    assert!(contents.iter().all(|c| c["namespace"] == "signed" && c["repository"] == "app" && c["author"] == "admin"));
    assert!(contents.iter().all(|c| c["object"] == gun.as_str()));
    assert_eq!(contents[0]["signed"], json!([]), "the first publication signs nothing yet");
    assert_eq!(contents[1]["signed"], json!(["v1"]), "{}", contents[1]);
    assert_eq!(contents[2]["unsigned"], json!(["v1"]), "{}", contents[2]);
}
