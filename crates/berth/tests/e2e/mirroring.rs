//! Push and poll mirroring against real second registries on loopback: Distribution
//! (Debian's `docker-registry`, no authentication) and another Berth (token
//! authentication, its own CA). Matching pushes arrive with their blobs and an index's
//! children; a remote that is down is tried again with backoff and caught up once it is
//! back; polls follow the remote's tags and the local copy keeps serving while the remote
//! is down; passwords are sealed and never shown; only repository admins manage policies.

use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::clients::{ca_dir, oci_layout, run};
use crate::distribution::{Distribution, digest_at, eventually};
use crate::harness::*;
use crate::webhooks::api;

const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const PUSH: &str = "/api/v0/repositories/acme/app/pushMirroringPolicies";
const POLL: &str = "/api/v0/repositories/acme/mirror/pollMirroringPolicies";

/// A server whose mirroring may reach loopback and retries quickly.
fn server_for_mirroring() -> (Server, tempfile::TempDir) {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("berth.toml");
    std::fs::write(&config, "[mirroring]\nallow_local_remotes = true\nretry_base_millis = 200\nretry_for_secs = 600\ntimeout_secs = 5\n")
        .unwrap();
    let server = Server::start_in(&temp.path().join("data"), &["--config", config.to_str().unwrap()]);
    (server, temp)
}

/// The policy at `path` once `ready` holds for it (within 30 s).
async fn policy_when(server: &Server, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let found = eventually(Duration::from_secs(30), || async {
        let policy = api(server, Method::GET, path, Value::Null).await;
        ready(&policy).then_some(policy)
    })
    .await;
    match found {
        Some(policy) => policy,
        None => panic!("{path} never got there: {}", api(server, Method::GET, path, Value::Null).await),
    }
}

/// Every blob `manifest` names is at `base`'s `repo`, with its content.
async fn blobs_are_at(base: &str, http: &reqwest::Client, repo: &str, manifest: &Value) {
    let mut digests: Vec<&str> = manifest["layers"].as_array().into_iter().flatten().filter_map(|l| l["digest"].as_str()).collect();
    digests.extend(manifest["config"]["digest"].as_str());
    assert!(!digests.is_empty(), "{manifest}");
    for d in digests {
        let bytes = http.get(format!("{base}/v2/{repo}/blobs/{d}")).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(digest(&bytes), d, "blob {d} at {base}/{repo}");
    }
}

async fn manifest_of(server: &Server, repo: &str, reference: &str) -> Value {
    let response =
        client().get(server.url(&format!("/v2/{repo}/manifests/{reference}"))).header("accept", format!("{IMAGE}, {INDEX}")).send();
    response.await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn matching_pushes_reach_distribution_and_a_stopped_remote_is_caught_up() {
    if !Distribution::available() {
        return;
    }
    let mut remote = Distribution::start();
    let (server, _temp) = server_for_mirroring();
    push_image(&server, "acme/app", "v0-before", 1).await;
    let made = api(
        &server,
        Method::POST,
        PUSH,
        json!({"rules": [{"field": "tag", "operator": "sw", "values": ["v"]}], "remoteHost": remote.url,
               "remoteRepository": "mirror/app", "tagTemplate": "{tag}"}),
    )
    .await;
    assert_eq!(made["status"], "waiting");
    assert_eq!(made["hasPassword"], false);
    let id = made["id"].as_str().unwrap().to_owned();
    let path = format!("{PUSH}/{id}");

    let v1 = push_image(&server, "acme/app", "v1", 2).await;
    push_image(&server, "acme/app", "dev", 3).await;
    let at_remote = eventually(Duration::from_secs(30), || remote.digest_of("mirror/app", "v1")).await;
    assert_eq!(at_remote.as_deref(), Some(v1.as_str()), "v1 mirrored");
    blobs_are_at(&remote.url, &anonymous(), "mirror/app", &manifest_of(&server, "acme/app", "v1").await).await;
    assert_eq!(remote.digest_of("mirror/app", "dev").await, None, "dev does not match");
    assert_eq!(remote.digest_of("mirror/app", "v0-before").await, None, "pushed before the policy");

    // An index and its children: the children go first (the remote refuses an index
    // whose children it lacks).
    let children = [push_image(&server, "acme/app", "child-a", 4).await, push_image(&server, "acme/app", "child-b", 5).await];
    let mut entries = Vec::new();
    for d in &children {
        let size = manifest_size(&server, d).await;
        entries
            .push(format!(r#"{{"mediaType":"{IMAGE}","digest":"{d}","size":{size},"platform":{{"architecture":"amd64","os":"linux"}}}}"#));
    }
    let index = format!(r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{}]}}"#, entries.join(","));
    let index_digest = put_manifest(&server, "acme/app", "v-multi", INDEX, &index).await;
    let at_remote = eventually(Duration::from_secs(30), || remote.digest_of("mirror/app", "v-multi")).await;
    assert_eq!(at_remote.as_deref(), Some(index_digest.as_str()), "index mirrored");
    for child in &children {
        assert_eq!(remote.digest_of("mirror/app", child).await.as_deref(), Some(child.as_str()), "child {child}");
    }

    // The remote goes away: the push fails, is kept and tried again with backoff…
    remote.stop();
    let v2 = push_image(&server, "acme/app", "v2", 6).await;
    let failing = policy_when(&server, &path, |p| p["pending"][0]["attempts"].as_u64().is_some_and(|n| n >= 2)).await;
    assert_eq!(failing["status"], "retrying", "{failing}");
    assert_eq!(failing["pending"][0]["tag"], "v2");
    let failure = &failing["log"][0];
    assert_eq!(failure["tag"], "v2");
    assert_eq!(failure["willRetry"], true);
    assert!(failure["error"].as_str().unwrap().contains("onnect"), "says why: {failure}");
    // …and caught up when it is back.
    remote.resume();
    let at_remote = eventually(Duration::from_secs(30), || remote.digest_of("mirror/app", "v2")).await;
    assert_eq!(at_remote.as_deref(), Some(v2.as_str()), "v2 mirrored after the remote came back");
    let recovered = policy_when(&server, &path, |p| p["status"] == "ok").await;
    assert_eq!(recovered["pending"], json!([]));
    assert_eq!(recovered["log"][0]["tag"], "v2");
    assert_eq!(recovered["log"][0]["error"], Value::Null);

    // Disabled: pushes are not mirrored; deleted: gone.
    let mut body = json!({"enabled": false, "rules": [], "remoteHost": remote.url, "remoteRepository": "mirror/app"});
    api(&server, Method::PUT, &path, body.take()).await;
    push_image(&server, "acme/app", "v3", 7).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(remote.digest_of("mirror/app", "v3").await, None, "a disabled policy does not act");
    let response = client().delete(server.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), 204);
    expect_error(client().get(server.url(&path)).send().await.unwrap(), 404, "NO_SUCH_POLICY").await;
}

/// The size of manifest `digest` of acme/app.
async fn manifest_size(server: &Server, digest: &str) -> usize {
    let response = client().get(server.url(&format!("/v2/acme/app/manifests/{digest}"))).header("accept", IMAGE).send().await.unwrap();
    response.bytes().await.unwrap().len()
}

#[tokio::test]
async fn pushes_reach_another_berth_with_its_token_service_its_ca_and_a_sealed_token() {
    if !client_available("skopeo", &["--version"]) {
        eprintln!("skipping: skopeo is not installed");
        return;
    }
    let remote = Server::start();
    org(&remote, "mirror").await;
    let (token, _) = access_token(&remote, "admin", ADMIN_PASSWORD, "mirroring").await;
    let ca = std::fs::read_to_string(remote.data_dir.join("tls/ca.crt")).unwrap();
    let remote_host = format!("https://{}", remote.https_localhost());

    let (server, temp) = server_for_mirroring();
    let certs = ca_dir(&server, temp.path());
    let skopeo = || {
        let mut c = Command::new("skopeo");
        c.env("HOME", temp.path());
        c
    };
    org(&server, "acme").await;
    api(&server, Method::POST, "/api/v0/repositories/acme", json!({"name": "app"})).await;
    let made = api(
        &server,
        Method::POST,
        PUSH,
        json!({"rules": [{"field": "tag", "operator": "eq", "values": ["v1"]}], "remoteHost": remote_host,
               "remoteRepository": "mirror/app", "tagTemplate": "{tag}-{digest}",
               "remoteCredentials": {"username": "admin", "password": token}, "remoteCA": ca}),
    )
    .await;
    assert_eq!(made["hasPassword"], true);
    assert_eq!(made["username"], "admin");
    let listed = client().get(server.url(PUSH)).send().await.unwrap().text().await.unwrap();
    assert!(!listed.contains(&token), "the token is never shown");
    let id = made["id"].as_str().unwrap().to_owned();

    // The real client pushes; the mirror follows.
    let layout = temp.path().join("layout");
    oci_layout(&layout, temp.path());
    run(skopeo()
        .args(["copy", "--quiet", "--dest-cert-dir", certs.to_str().unwrap(), "--dest-creds", &format!("admin:{ADMIN_PASSWORD}")])
        .args([&format!("oci:{}:v1", layout.display()), &format!("docker://{}/acme/app:v1", server.https_localhost())]));
    let pushed = digest_at(&server.http, &client(), "acme/app", "v1").await.unwrap();
    let remote_tag = format!("v1-{}", &pushed["sha256:".len().."sha256:".len() + 12]);
    let remote_client = client_as("admin", ADMIN_PASSWORD);
    let mirrored = eventually(Duration::from_secs(30), || digest_at(&remote.http, &remote_client, "mirror/app", &remote_tag)).await;
    assert_eq!(mirrored.as_deref(), Some(pushed.as_str()), "mirrored as {remote_tag}");
    // And the real client pulls it from the remote, blobs and all.
    let remote_certs = ca_dir(&remote, &temp.path().join("remote"));
    let out = temp.path().join("pulled");
    run(skopeo()
        .args(["copy", "--quiet", "--src-cert-dir", remote_certs.to_str().unwrap(), "--src-creds", &format!("admin:{ADMIN_PASSWORD}")])
        .arg(format!("docker://{}/mirror/app:{remote_tag}", remote.https_localhost()))
        .arg(format!("dir:{}", out.display())));
    assert!(out.join("manifest.json").exists());

    // The token is sealed in the metadata, not written as it is.
    let mut stored = Vec::new();
    for entry in walk(&server.data_dir) {
        stored.extend(std::fs::read(entry).unwrap_or_default());
    }
    assert!(!stored.windows(token.len()).any(|w| w == token.as_bytes()), "the token is stored sealed");

    // A wrong token: refused by the remote, said so, tried again.
    api(
        &server,
        Method::PUT,
        &format!("{PUSH}/{id}"),
        json!({"rules": [], "remoteHost": remote_host, "remoteRepository": "mirror/app",
               "remoteCredentials": {"username": "admin", "password": "not-the-token"}, "remoteCA": ca}),
    )
    .await;
    push_image(&server, "acme/app", "v9", 9).await;
    let refused = policy_when(&server, &format!("{PUSH}/{id}"), |p| p["log"][0]["tag"] == "v9").await;
    let error = refused["log"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("token service") || error.contains("refused the credentials"), "{refused}");
    assert_eq!(refused["status"], "retrying");
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

#[tokio::test]
async fn polls_follow_the_remote_and_the_copy_is_served_while_it_is_down() {
    if !Distribution::available() {
        return;
    }
    let mut remote = Distribution::start();
    let (server, _temp) = server_for_mirroring();
    org(&server, "acme").await;
    api(&server, Method::POST, "/api/v0/repositories/acme", json!({"name": "mirror"})).await;
    let first = remote.push_image("upstream/app", "1.0", 20, 300_000).await;
    remote.push_image("upstream/app", "latest", 21, 1000).await;
    let made = api(
        &server,
        Method::POST,
        POLL,
        json!({"rules": [{"field": "tag", "operator": "sw", "values": ["1."]}], "remoteHost": remote.url,
               "remoteRepository": "upstream/app", "pollEverySecs": 1}),
    )
    .await;
    assert_eq!(made["pollEverySecs"], 1);
    let path = format!("{POLL}/{}", made["id"].as_str().unwrap());

    let admin = client();
    let local = eventually(Duration::from_secs(30), || digest_at(&server.http, &admin, "acme/mirror", "1.0")).await;
    assert_eq!(local.as_deref(), Some(first.as_str()), "1.0 pulled");
    blobs_are_at(&server.http, &client(), "acme/mirror", &manifest_of(&server, "acme/mirror", "1.0").await).await;
    assert_eq!(digest_at(&server.http, &client(), "acme/mirror", "latest").await, None, "latest does not match");
    // It was pushed through the registry's own push path, audited as the mirroring job's.
    let events = api(&server, Method::GET, "/api/v0/events?repository=acme/mirror&type=TAG_PUSH", Value::Null).await;
    assert_eq!(events["events"][0]["job"], "mirroring", "{events}");
    assert_eq!(events["events"][0]["object"], "1.0", "{events}");

    // The remote tag moves; the copy follows; a new matching tag arrives.
    let moved = remote.push_image("upstream/app", "1.0", 22, 2000).await;
    let second = remote.push_image("upstream/app", "1.1", 23, 2000).await;
    let followed = eventually(Duration::from_secs(30), || async {
        let now = digest_at(&server.http, &client(), "acme/mirror", "1.0").await;
        (now.as_deref() == Some(moved.as_str())).then_some(())
    })
    .await;
    assert!(followed.is_some(), "1.0 followed the remote");
    let arrived = eventually(Duration::from_secs(30), || digest_at(&server.http, &admin, "acme/mirror", "1.1")).await;
    assert_eq!(arrived.as_deref(), Some(second.as_str()));
    let ok = policy_when(&server, &path, |p| p["status"] == "ok").await;
    assert!(ok["log"].as_array().unwrap().iter().any(|e| e["tag"] == "1.1"), "{ok}");

    // The remote goes away: polls fail and say so; the copy is still served.
    remote.stop();
    let failing = policy_when(&server, &path, |p| p["status"] == "retrying").await;
    assert!(failing["log"][0]["error"].as_str().unwrap().contains("listing tags"), "{failing}");
    let manifest = manifest_of(&server, "acme/mirror", "1.1").await;
    blobs_are_at(&server.http, &client(), "acme/mirror", &manifest).await;
    remote.resume();
    policy_when(&server, &path, |p| p["status"] == "ok").await;
}

#[tokio::test]
async fn only_admins_manage_mirroring_and_bad_policies_are_refused() {
    let server = Server::start();
    org(&server, "acme").await;
    push_image(&server, "acme/app", "v1", 1).await;
    let good = json!({"remoteHost": "https://registry.example.com", "remoteRepository": "mirror/app"});
    // Loopback remotes are refused unless the configuration allows them.
    let local = json!({"remoteHost": "http://127.0.0.1:5000", "remoteRepository": "mirror/app"});
    let response = client().post(server.url(PUSH)).json(&local).send().await.unwrap();
    let body = expect_error(response, 400, "INVALID_INPUT").await;
    assert!(body.to_string().contains("local address"), "{body}");
    for (bad, why) in [
        (json!({"remoteHost": "registry.example.com", "remoteRepository": "mirror/app"}), "https://"),
        (json!({"remoteHost": "https://registry.example.com", "remoteRepository": "Mirror/App"}), "not a repository name"),
        (json!({"remoteHost": "https://registry.example.com", "remoteRepository": "m/a", "remoteCA": "not a certificate"}), "remoteCA"),
        (json!({"remoteHost": "https://registry.example.com", "remoteRepository": "m/a", "tagTemplate": "{nope}"}), "{nope}"),
    ] {
        let response = client().post(server.url(PUSH)).json(&bad).send().await.unwrap();
        let body = expect_error(response, 400, "INVALID_INPUT").await;
        assert!(body.to_string().contains(why), "{why}: {body}");
    }
    let poll_label = json!({"remoteHost": "https://registry.example.com", "remoteRepository": "m/a",
                            "rules": [{"field": "label", "operator": "exists", "values": ["x"]}]});
    let response = client().post(server.url("/api/v0/repositories/acme/app/pollMirroringPolicies")).json(&poll_label).send().await;
    expect_error(response.unwrap(), 400, "INVALID_INPUT").await;

    // Who may: the repository's admins only.
    api(&server, Method::POST, "/api/v0/accounts", json!({"name": "dev", "password": "dev-password-1234"})).await;
    api(&server, Method::POST, "/api/v0/accounts/acme/teams", json!({"name": "devs"})).await;
    api(&server, Method::PUT, "/api/v0/accounts/acme/teams/devs/members/dev", Value::Null).await;
    api(&server, Method::PUT, "/api/v0/repositories/acme/app/teamAccess/devs", json!({"accessLevel": "read-write"})).await;
    let dev = client_as("dev", "dev-password-1234");
    expect_error(dev.post(server.url(PUSH)).json(&good).send().await.unwrap(), 403, "NOT_AUTHORIZED").await;
    expect_error(dev.get(server.url(PUSH)).send().await.unwrap(), 403, "NOT_AUTHORIZED").await;
    expect_error(anonymous().get(server.url(PUSH)).send().await.unwrap(), 401, "NOT_AUTHENTICATED").await;
    let made = api(&server, Method::POST, PUSH, good.clone()).await;
    let id = made["id"].as_str().unwrap();
    // A push policy is not a poll policy.
    let response = client().get(server.url(&format!("/api/v0/repositories/acme/app/pollMirroringPolicies/{id}"))).send().await;
    expect_error(response.unwrap(), 404, "NO_SUCH_POLICY").await;
    // The audit log names the change, never a password.
    let events = api(&server, Method::GET, "/api/v0/events?type=MIRROR_POLICY_CREATE", Value::Null).await;
    assert!(events.to_string().contains("registry.example.com/mirror/app"), "{events}");
    // A deleted repository forgets its policies.
    let response = client().delete(server.url("/api/v0/repositories/acme/app")).send().await.unwrap();
    assert_eq!(response.status(), 204);
    push_image(&server, "acme/app", "v1", 1).await;
    let listed = api(&server, Method::GET, PUSH, Value::Null).await;
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn mirroring_from_the_command_line() {
    use crate::cli::{berth, json, ok};
    if !Distribution::available() {
        return;
    }
    let remote = Distribution::start();
    let (server, _temp) = server_for_mirroring();
    push_image(&server, "acme/app", "seed", 1).await;
    api(&server, Method::POST, "/api/v0/repositories/acme", json!({"name": "mirror"})).await;
    let upstream = remote.push_image("upstream/app", "1.0", 30, 5000).await;

    let said = ok(berth(
        &server,
        &[
            "mirror",
            "poll",
            "acme/mirror",
            "--remote",
            &remote.url,
            "--remote-repository",
            "upstream/app",
            "--rule",
            "tag eq 1.0",
            "--every",
            "1",
        ],
        "",
    ));
    assert!(said.contains("poll mirroring policy"), "{said}");
    let admin = client();
    let local = eventually(Duration::from_secs(30), || digest_at(&server.http, &admin, "acme/mirror", "1.0")).await;
    assert_eq!(local.as_deref(), Some(upstream.as_str()));

    // Credentials come from standard input, never the command line.
    let made = json(berth(
        &server,
        &["mirror", "push", "acme/app", "--remote", &remote.url, "--remote-repository", "mirror/cli", "--username", "robot", "--json"],
        "robot-secret\n",
    ));
    assert_eq!(made["hasPassword"], true);
    let id = made["id"].as_str().unwrap().to_owned();
    let pushed = push_image(&server, "acme/app", "2.0", 31).await;
    let mirrored = eventually(Duration::from_secs(30), || remote.digest_of("mirror/cli", "2.0")).await;
    assert_eq!(mirrored.as_deref(), Some(pushed.as_str()));
    let table = ok(berth(&server, &["mirror", "list", "acme/app"], ""));
    let row = table.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("push") && row.contains(" ok "), "{row}");
    let said = ok(berth(&server, &["mirror", "remove", "acme/app", &id], ""));
    assert!(said.contains("deleted"), "{said}");
    let listed = json(berth(&server, &["mirror", "list", "acme/app", "--json"], ""));
    assert_eq!(listed["push"], json!([]));
}

#[tokio::test]
async fn remotes_and_upstreams_named_to_reach_local_addresses_are_not_reached() {
    if !Distribution::available() {
        return;
    }
    // The default configuration: a name is resolved, and a local address refused at the
    // connection, whatever the name (here `localhost`, where a registry does answer).
    let remote = Distribution::start();
    remote.push_image("library/app", "1.0", 90, 1000).await;
    let named = remote.url.replace("127.0.0.1", "localhost");
    let server = Server::start();
    push_image(&server, "acme/app", "seed", 1).await;
    let made = api(&server, Method::POST, PUSH, json!({"remoteHost": named, "remoteRepository": "stolen/app"})).await;
    let path = format!("{PUSH}/{}", made["id"].as_str().unwrap());
    push_image(&server, "acme/app", "v1", 2).await;
    let refused = policy_when(&server, &path, |p| !p["log"].as_array().unwrap().is_empty()).await;
    let error = refused["log"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("may reach"), "{refused}");
    assert_eq!(remote.digest_of("stolen/app", "v1").await, None, "nothing reached the local registry");

    org(&server, "hub").await;
    api(&server, Method::PUT, "/api/v0/repositoryNamespaces/hub/pullThroughCache", json!({"upstream": named})).await;
    let response = client().get(server.url("/v2/hub/library/app/manifests/1.0")).header("accept", IMAGE).send().await.unwrap();
    let body = expect_error(response, 503, "UNAVAILABLE").await;
    assert!(body.to_string().contains("may reach"), "{body}");
}
