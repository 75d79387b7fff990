//! Pull-through cache namespaces against a real upstream on loopback (Distribution): a
//! first pull fetches, later ones are served from the cache; tags are checked again
//! after the TTL; the cache keeps serving when the upstream is stopped; the transparent
//! mirror serves Docker Hub's names to a client configured with a mirror (skopeo's
//! registries.conf, as containerd's hosts.toml and Docker's registry-mirrors); pushes
//! are refused; only system admins set a cache, and pulls obey the access rules.

use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::clients::{ca_dir, run, stdout};
use crate::distribution::{Distribution, digest_at};
use crate::harness::*;
use crate::webhooks::api;

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// A server whose caches may reach loopback.
fn server_for_caches() -> (Server, tempfile::TempDir) {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("berth.toml");
    std::fs::write(&config, "[mirroring]\nallow_local_remotes = true\ntimeout_secs = 3\n").unwrap();
    let server = Server::start_in(&temp.path().join("data"), &["--config", config.to_str().unwrap()]);
    (server, temp)
}

async fn make_cache(server: &Server, namespace: &str, body: Value) -> Value {
    org(server, namespace).await;
    api(server, Method::PUT, &format!("/api/v0/repositoryNamespaces/{namespace}/pullThroughCache"), body).await
}

/// Pulls `repo:reference` as `http` would (manifest, then every blob); the digest, and
/// the blobs' total size.
async fn pull(server: &Server, http: &reqwest::Client, repo: &str, reference: &str) -> Result<(String, usize), u16> {
    let response = http.get(server.url(&format!("/v2/{repo}/manifests/{reference}"))).header("accept", ACCEPT).send().await.unwrap();
    if response.status() != 200 {
        return Err(response.status().as_u16());
    }
    let digest_header = response.headers()["docker-content-digest"].to_str().unwrap().to_owned();
    let manifest: Value = response.json().await.unwrap();
    let mut size = 0;
    let blobs = manifest["layers"].as_array().unwrap().iter().chain([&manifest["config"]]);
    for blob in blobs {
        let d = blob["digest"].as_str().unwrap();
        let bytes = http.get(server.url(&format!("/v2/{repo}/blobs/{d}"))).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(digest(&bytes), d, "blob {d} of {repo}");
        size += bytes.len();
    }
    Ok((digest_header, size))
}

#[tokio::test]
async fn a_cache_fetches_once_checks_tags_after_its_ttl_and_serves_while_the_upstream_is_down() {
    if !Distribution::available() {
        return;
    }
    let mut upstream = Distribution::start();
    let (server, _temp) = server_for_caches();
    let first = upstream.push_image("library/app", "1.0", 40, 300_000).await;
    let made = make_cache(&server, "hub", json!({"upstream": upstream.url, "ttlSecs": 1})).await;
    assert_eq!(made["hasPassword"], false);
    assert_eq!(made["ttlSecs"], 1);

    let admin = client();
    let (digest, size) = pull(&server, &admin, "hub/library/app", "1.0").await.unwrap();
    assert_eq!(digest, first);
    assert!(size > 300_000);
    // Cached: the repository and its blobs are here now.
    let stored = server.stored_blobs().await;
    assert!(stored.len() >= 2, "{stored:?}");
    let tags = api(&server, Method::GET, "/v2/hub/library/app/tags/list", Value::Null).await;
    assert_eq!(tags["tags"], json!(["1.0"]));

    // The tag moves upstream: after the TTL the cache follows.
    let moved = upstream.push_image("library/app", "1.0", 41, 5000).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(pull(&server, &admin, "hub/library/app", "1.0").await.unwrap().0, moved);

    // The upstream goes away: what was cached is still served, by tag and by digest;
    // what was not is unavailable, and says why.
    upstream.stop();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(pull(&server, &admin, "hub/library/app", "1.0").await.unwrap().0, moved, "stale but served");
    assert_eq!(pull(&server, &admin, "hub/library/app", &first).await.unwrap().0, first, "by digest");
    let response = admin.get(server.url("/v2/hub/library/app/manifests/2.0")).header("accept", ACCEPT).send().await.unwrap();
    let body = expect_error(response, 503, "UNAVAILABLE").await;
    assert!(body.to_string().contains("upstream"), "{body}");

    // Back: a tag the upstream does not have is unknown.
    upstream.resume();
    let response = admin.get(server.url("/v2/hub/library/app/manifests/nope")).header("accept", ACCEPT).send().await.unwrap();
    expect_error(response, 404, "MANIFEST_UNKNOWN").await;

    // A cache is read-only.
    let response = admin.post(server.url("/v2/hub/library/app/blobs/uploads/")).send().await.unwrap();
    expect_error(response, 403, "DENIED").await;
    let manifest = image_manifest(("sha256:0000000000000000000000000000000000000000000000000000000000000000", 2), &[], "");
    let response = admin
        .put(server.url("/v2/hub/library/app/manifests/mine"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest)
        .send()
        .await
        .unwrap();
    expect_error(response, 403, "DENIED").await;
}

#[tokio::test]
async fn the_transparent_mirror_serves_docker_hub_names_to_a_client_configured_with_a_mirror() {
    if !Distribution::available() || !client_available("skopeo", &["--version"]) {
        eprintln!("skipping: docker-registry or skopeo is not installed");
        return;
    }
    let upstream = Distribution::start();
    let (server, temp) = server_for_caches();
    let image = upstream.push_image("library/app", "1.0", 50, 100_000).await;
    make_cache(&server, "hub", json!({"upstream": upstream.url, "public": true, "mirrorsUnqualified": true})).await;

    // What Docker's daemon sends a registry mirror: the Docker Hub name, unqualified.
    let admin = client();
    assert_eq!(pull(&server, &admin, "library/app", "1.0").await.unwrap().0, image);
    assert_eq!(digest_at(&server.http, &admin, "hub/library/app", "1.0").await.as_deref(), Some(image.as_str()), "cached under hub/");

    // skopeo configured with the registry as docker.io's mirror pulls through it.
    let conf = temp.path().join("registries.conf");
    std::fs::write(
        &conf,
        format!(
            "[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"{}\"\n",
            server.https_localhost()
        ),
    )
    .unwrap();
    let certs = ca_dir(&server, temp.path());
    let out = temp.path().join("pulled");
    run(Command::new("skopeo")
        .env("HOME", temp.path())
        .args(["--registries-conf", conf.to_str().unwrap(), "copy", "--quiet"])
        .args(["--src-cert-dir", certs.to_str().unwrap(), "--src-creds", &format!("admin:{ADMIN_PASSWORD}")])
        .arg("docker://docker.io/library/app:1.0")
        .arg(format!("dir:{}", out.display())));
    let manifest = std::fs::read(out.join("manifest.json")).unwrap();
    assert_eq!(digest(&manifest), image, "the same image, through the mirror");

    // A name in an account's namespace is that account's, not the mirror's.
    org(&server, "acme").await;
    let response = admin.get(server.url("/v2/acme/app/manifests/1.0")).header("accept", ACCEPT).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn only_system_admins_set_caches_and_pulls_obey_the_access_rules() {
    if !Distribution::available() {
        return;
    }
    let upstream = Distribution::start();
    let (server, _temp) = server_for_caches();
    upstream.push_image("library/app", "1.0", 60, 1000).await;
    api(&server, Method::POST, "/api/v0/accounts", json!({"name": "dev", "password": "dev-password-1234"})).await;
    let dev = client_as("dev", "dev-password-1234");
    org(&server, "hub").await;
    let path = "/api/v0/repositoryNamespaces/hub/pullThroughCache";
    let body = json!({"upstream": upstream.url});
    expect_error(dev.put(server.url(path)).json(&body).send().await.unwrap(), 403, "NOT_AUTHORIZED").await;
    // A user's namespace, a bad upstream, a second transparent mirror: refused.
    let response = client().put(server.url("/api/v0/repositoryNamespaces/dev/pullThroughCache")).json(&body).send().await.unwrap();
    expect_error(response, 400, "INVALID_INPUT").await;
    let response = client().put(server.url(path)).json(&json!({"upstream": "ftp://x"})).send().await.unwrap();
    expect_error(response, 400, "INVALID_INPUT").await;
    make_cache(&server, "hub", json!({"upstream": upstream.url, "mirrorsUnqualified": true})).await;
    org(&server, "other").await;
    let response = client()
        .put(server.url("/api/v0/repositoryNamespaces/other/pullThroughCache"))
        .json(&json!({"upstream": upstream.url, "mirrorsUnqualified": true}))
        .send()
        .await
        .unwrap();
    let refused = expect_error(response, 400, "INVALID_INPUT").await;
    assert!(refused.to_string().contains("hub"), "{refused}");

    // A private cache: admins pull; a user without access does not, through either name.
    assert!(pull(&server, &client(), "hub/library/app", "1.0").await.is_ok());
    assert!(matches!(pull(&server, &dev, "hub/library/app", "1.0").await, Err(401 | 403 | 404)));
    assert!(matches!(pull(&server, &dev, "library/app", "1.0").await, Err(401 | 403 | 404)));
    // Public: every user pulls.
    make_cache(&server, "hub", json!({"upstream": upstream.url, "mirrorsUnqualified": true, "public": true})).await;
    assert!(pull(&server, &dev, "hub/library/app", "1.0").await.is_ok());
    assert!(pull(&server, &dev, "library/app", "1.0").await.is_ok());

    let listed = api(&server, Method::GET, "/api/v0/pullThroughCaches", Value::Null).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // A plain namespace again: nothing is fetched any more, what was cached stays.
    let response = client().delete(server.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 204);
    expect_error(client().get(server.url(path)).send().await.unwrap(), 404, "NO_SUCH_CACHE").await;
    assert!(pull(&server, &client(), "hub/library/app", "1.0").await.is_ok(), "cached content stays");
    let events = api(&server, Method::GET, "/api/v0/events?type=CACHE_NAMESPACE_SET", Value::Null).await;
    assert!(events.to_string().contains(&upstream.url), "{events}");
}

#[tokio::test]
async fn caches_from_the_command_line() {
    use crate::cli::{berth, json, ok};
    if !Distribution::available() {
        return;
    }
    let upstream = Distribution::start();
    let (server, _temp) = server_for_caches();
    let image = upstream.push_image("team/tool", "2.0", 70, 2000).await;
    org(&server, "hub").await;
    let said = ok(berth(&server, &["cache", "set", "hub", "--upstream", &upstream.url, "--ttl", "60", "--username", "robot"], "secret\n"));
    assert!(said.contains("pull-through cache"), "{said}");
    assert_eq!(pull(&server, &client(), "hub/team/tool", "2.0").await.unwrap().0, image);
    let listed = json(berth(&server, &["cache", "list", "--json"], ""));
    assert_eq!(listed[0]["namespace"], "hub");
    assert_eq!(listed[0]["hasPassword"], true);
    assert_eq!(listed[0]["ttlSecs"], 60);
    ok(berth(&server, &["cache", "remove", "hub"], ""));
    assert_eq!(json(berth(&server, &["cache", "list", "--json"], "")), json!([]));
}

#[tokio::test]
async fn docker_pulls_docker_hub_images_through_the_registry_as_its_mirror() {
    // scripts/test.sh starts its dockerd with `--registry-mirror https://localhost:5999`.
    let Ok(mirror) = std::env::var("BERTH_DOCKER_MIRROR") else {
        eprintln!("skipping: no dockerd with a registry mirror here (scripts/test.sh starts one)");
        return;
    };
    assert!(Distribution::available() && client_available("skopeo", &["--version"]), "docker-registry and skopeo are needed");
    let upstream = Distribution::start();
    let temp = tempfile::tempdir().unwrap();
    // A real image (tar layers, a config naming them), as Docker Hub would hold it.
    let layout = temp.path().join("layout");
    crate::clients::oci_layout(&layout, temp.path());
    let upstream_host = upstream.url.trim_start_matches("http://").to_owned();
    run(Command::new("skopeo")
        .env("HOME", temp.path())
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .args([&format!("oci:{}:v1", layout.display()), &format!("docker://{upstream_host}/library/mirrored:1.0")]));
    let image = upstream.digest_of("library/mirrored", "1.0").await.unwrap();

    let config = temp.path().join("berth.toml");
    std::fs::write(&config, "[mirroring]\nallow_local_remotes = true\n").unwrap();
    let port = mirror.rsplit(':').next().unwrap();
    let https = format!("127.0.0.1:{port}");
    let launch = Launch { extra: &["--config", config.to_str().unwrap()], https_listen: Some(&https), ..Launch::default() };
    let server = Server::launch(&temp.path().join("data"), &launch);
    make_cache(&server, "hub", json!({"upstream": upstream.url, "public": true, "mirrorsUnqualified": true})).await;
    let _ca = crate::clients::DockerCa::install_for(&server, &mirror);

    // `docker pull mirrored:1.0` is docker.io/library/mirrored:1.0: asked of the mirror first,
    // anonymously; Docker Hub itself is not reachable from here.
    let pulled = Command::new("docker").args(["pull", "mirrored:1.0"]).output().unwrap();
    let _ = Command::new("docker").args(["rmi", "mirrored:1.0"]).output();
    assert!(pulled.status.success(), "docker pull through the mirror: {}{}", stdout(&pulled), String::from_utf8_lossy(&pulled.stderr));
    assert!(stdout(&pulled).contains(&image), "the upstream's image: {}", stdout(&pulled));
    assert_eq!(digest_at(&server.http, &client(), "hub/library/mirrored", "1.0").await.as_deref(), Some(image.as_str()), "cached");
}

#[tokio::test]
async fn a_first_pull_streams_while_it_stores_and_the_storing_outlives_a_client_that_leaves() {
    if !Distribution::available() {
        return;
    }
    let mut upstream = Distribution::start();
    let (server, _temp) = server_for_caches();
    upstream.push_image("library/big", "1.0", 80, 24 << 20).await;
    make_cache(&server, "hub", json!({"upstream": upstream.url})).await;
    let admin = client();
    let manifest: Value =
        admin.get(server.url("/v2/hub/library/big/manifests/1.0")).header("accept", ACCEPT).send().await.unwrap().json().await.unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let config = manifest["config"]["digest"].as_str().unwrap().to_owned();

    // A client that reads the first bytes of the 24 MiB layer and leaves.
    let mut response = admin.get(server.url(&format!("/v2/hub/library/big/blobs/{layer}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(24 << 20), "the upstream's length, promised before the bytes");
    assert!(response.chunk().await.unwrap().is_some());
    drop(response);
    // The layer is stored all the same.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !server.stored_blobs().await.contains(&layer) {
        assert!(std::time::Instant::now() < deadline, "the layer was not stored after its client left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Pulls at once of a blob not cached yet: each gets it whole.
    let pulls = (0..4).map(|_| {
        let (admin, url) = (admin.clone(), server.url(&format!("/v2/hub/library/big/blobs/{config}")));
        async move { admin.get(url).send().await.unwrap().bytes().await.unwrap() }
    });
    for bytes in futures_util::future::join_all(pulls).await {
        assert_eq!(digest(&bytes), config);
    }
    // Without the upstream, both are served from the cache.
    upstream.stop();
    for d in [&layer, &config] {
        let bytes = admin.get(server.url(&format!("/v2/hub/library/big/blobs/{d}"))).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(&digest(&bytes), d, "served from the cache");
    }
}
