//! When the server itself fails: a full disk, a broken store. The client gets a clear
//! error without internal detail, the server keeps running, nothing acknowledged is lost.

use std::process::Command;

use crate::harness::*;

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(std::env::var("BERTH_REQUIRE_CLIENTS").as_deref() != Ok("1"), "BERTH_REQUIRE_CLIENTS=1, but a tmpfs cannot be mounted");
            eprintln!("skipping: cannot mount a tmpfs here");
            return None;
        }
        Some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[tokio::test]
async fn a_full_disk_is_reported_and_loses_nothing() {
    if filesystem_only("a_full_disk_is_reported_and_loses_nothing") {
        return;
    }
    let Some(disk) = SmallDisk::mount("24m") else { return };
    let mut server = Server::start_in(&disk.dir.path().join("data"), &[]);
    org(&server, "ns").await;
    let image = push_image(&server, "ns/app", "v1", 1).await;
    let c = client();

    let start = c.post(server.url("/v2/ns/big/blobs/uploads/")).send().await.unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let huge = random_bytes(40 << 20, 2);
    let response = c.put(server.url(&format!("{location}?digest={}", digest(&huge)))).body(huge).send().await.unwrap();
    let body = expect_error(response, 507, "UNKNOWN").await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("full"), "{body}");

    // Still serving, and what was acknowledged is intact.
    assert_eq!(c.get(server.url("/_ping")).send().await.unwrap().status(), 200);
    let got = c.get(server.url("/v2/ns/app/manifests/v1")).send().await.unwrap();
    assert_eq!(got.headers()["docker-content-digest"], image.as_str());
    // Cancelling the failed upload frees its space; pushes work again.
    assert_eq!(c.delete(server.url(&location)).send().await.unwrap().status(), 204);
    push_image(&server, "ns/app", "v2", 3).await;
    assert!(server.stop());
    drop(server);
}

#[tokio::test]
async fn internal_errors_are_generic_and_logged_with_the_request_id() {
    if filesystem_only("internal_errors_are_generic_and_logged_with_the_request_id") {
        return;
    }
    let server = Server::start();
    org(&server, "ns").await;
    std::fs::rename(server.data_dir.join("storage/uploads"), server.data_dir.join("storage/moved")).unwrap();
    let response = client().post(server.url("/v2/ns/app/blobs/uploads/")).send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = expect_error(response, 500, "UNKNOWN").await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains(server.data_dir.to_str().unwrap()) && !message.contains("No such file"), "{message}");
    let logged = |log: &str| log.lines().any(|l| l.contains(&id) && l.contains("internal error"));
    let log = server.log_when(logged);
    assert!(logged(&log), "request id {id} not in the log:\n{log}");
    assert_eq!(client().get(server.url("/v2/")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_configured_certificate_is_used() {
    let first = Server::start();
    let tls = first.data_dir.join("tls");
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let cert = tls.join("server.crt");
    let key = tls.join("server.key");
    let server = Server::start_in(&dir, &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    assert!(!dir.join("tls").exists(), "nothing is generated when a certificate is configured");
    let ca = std::fs::read(tls.join("ca.crt")).unwrap();
    let c = reqwest::Client::builder().tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()]).build().unwrap();
    assert_eq!(c.get(format!("{}/_ping", server.https)).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn unknown_api_operations_answer_the_error_envelope() {
    let server = Server::start();
    for (method, path, status, code) in [
        (reqwest::Method::GET, "/api/v0/no/such/thing", 404, "NOT_FOUND"),
        (reqwest::Method::GET, "/enzi/v0/nothing", 404, "NOT_FOUND"),
        (reqwest::Method::POST, "/api/v0/meta/cluster_status", 405, "METHOD_NOT_ALLOWED"),
    ] {
        let response = client().request(method.clone(), server.url(path)).send().await.unwrap();
        let body = expect_error(response, status, code).await;
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(path), "{method} {path}: {body}");
    }
}
