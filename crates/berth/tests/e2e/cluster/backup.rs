//! `berth backup` while pushes run, and `berth restore` into a new data directory: the
//! restored registry holds exactly the backup's state (its metadata backed up again is
//! byte for byte the backup's), every push acknowledged before the backup began, and
//! working credentials; a truncated, altered or wrongly keyed backup is refused and
//! leaves nothing behind.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

fn berth(server: &Server) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.env("BERTH_URL", &server.http).env("BERTH_PASSWORD", ADMIN_PASSWORD).env("BERTH_USER", "admin");
    c
}

fn backup_to(server: &Server, file: &Path, include_blobs: bool) {
    let out = std::fs::File::create(file).unwrap();
    let mut command = berth(server);
    command.arg("backup");
    if include_blobs {
        command.arg("--include-blobs");
    }
    let result = command.stdout(out).stderr(Stdio::piped()).output().unwrap();
    assert!(result.status.success(), "backup: {}", String::from_utf8_lossy(&result.stderr));
    assert!(String::from_utf8_lossy(&result.stderr).contains("100.0%"), "a progress bar: {}", String::from_utf8_lossy(&result.stderr));
}

/// `berth restore` of `file` into `data` (blobs into `storage`); its output.
fn restore(file: &Path, data: &Path, storage: &Path, master_key: Option<&Path>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command.arg("restore").arg("--data-dir").arg(data).arg("--storage-dir").arg(storage);
    if let Some(key) = master_key {
        command.arg("--master-key-file").arg(key);
    }
    command.stdin(std::fs::File::open(file).unwrap()).output().unwrap()
}

/// One file of a tar archive.
fn extract(archive: &Path, member: &str, into: &Path) -> Vec<u8> {
    std::fs::create_dir_all(into).unwrap();
    let out = Command::new("tar").arg("-xf").arg(archive).arg("-C").arg(into).arg(member).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(into.join(member)).unwrap()
}

async fn api(server: &Server, method: reqwest::Method, path: &str, body: Value) {
    let response = client().request(method, server.url(path)).json(&body).send().await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_while_pushing_then_restore_exactly() {
    if filesystem_only("backup_while_pushing_then_restore_exactly") {
        return;
    }
    let _one = exclusive().await;
    let cluster = Cluster::start(3, false).await;
    let leader = cluster.leader().await;
    let main = cluster.server(leader);
    use reqwest::Method;
    // Accounts, a team and a grant, repository settings, a namespace policy, an access
    // token, trust keys, and images.
    api(main, Method::POST, "/api/v0/accounts", serde_json::json!({"name": "acme", "isOrg": true})).await;
    api(main, Method::POST, "/api/v0/accounts", serde_json::json!({"name": "dave", "password": "dave-password-1"})).await;
    api(main, Method::POST, "/api/v0/accounts/acme/teams", serde_json::json!({"name": "devs"})).await;
    api(main, Method::PUT, "/api/v0/accounts/acme/teams/devs/members/dave", serde_json::json!({})).await;
    api(main, Method::POST, "/api/v0/repositories/acme", serde_json::json!({"name": "app", "shortDescription": "the app"})).await;
    api(main, Method::PUT, "/api/v0/repositories/acme/app/teamAccess/devs", serde_json::json!({"accessLevel": "read-write"})).await;
    api(main, Method::PUT, "/api/v0/repositoryNamespaces/acme/signingPolicy", serde_json::json!({"signedPullsOnly": false})).await;
    let (token, _) = access_token(main, "dave", "dave-password-1", "ci").await;
    let gun = format!("{}/acme/app", main.https_localhost());
    for key in ["timestamp.key", "snapshot.key"] {
        let response = client().get(main.url(&format!("/v2/{gun}/_trust/tuf/{key}"))).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let mut before = Vec::new();
    for n in 0..5 {
        let (status, manifest) = try_push(main, "acme/app", &format!("v{n}"), 50 + n).await;
        assert_eq!(status, 201);
        before.push((format!("v{n}"), manifest));
    }

    // Pushes go on through another replica while the backup is taken from a third.
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let (server, stop) = (Server::detached(&cluster.server((leader + 1) % 3).http), stop.clone());
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let (status, manifest) = try_push(&server, "acme/app", &format!("during{n}"), 500 + n).await;
                if status == 201 {
                    acknowledged.push((format!("during{n}"), manifest, std::time::Instant::now()));
                }
                n += 1;
            }
            acknowledged
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("backup.tar");
    let backup_from = cluster.server((leader + 2) % 3);
    let backup_started = std::time::Instant::now();
    backup_to(backup_from, &archive, true);
    stop.store(true, Ordering::Relaxed);
    let during = pusher.await.unwrap();
    assert!(!during.is_empty(), "pushes went on");
    // Every push acknowledged before the backup began must be in it.
    let mut acknowledged_before = before.clone();
    acknowledged_before.extend(during.iter().filter(|d| d.2 < backup_started).map(|d| (d.0.clone(), d.1.clone())));
    assert!(acknowledged_before.len() > before.len(), "pushes were acknowledged while the backup was asked for");

    // Refused: truncated, altered, wrongly keyed; nothing is left behind.
    let master_key = cluster.nodes[0].data.join("master.key");
    let bytes = std::fs::read(&archive).unwrap();
    let truncated = work.path().join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() - 4096]).unwrap();
    let target = work.path().join("restored");
    let storage = work.path().join("restored-blobs");
    let out = restore(&truncated, &target, &storage, Some(&master_key));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!target.join("meta.redb").exists(), "nothing half-restored");
    let mut altered = bytes.clone();
    let at = altered.len() - 2000;
    altered[at] ^= 0xff;
    let altered_file = work.path().join("altered.tar");
    std::fs::write(&altered_file, &altered).unwrap();
    let out = restore(&altered_file, &target, &storage, Some(&master_key));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!target.join("meta.redb").exists());
    let other_key = work.path().join("other.key");
    std::fs::write(&other_key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    let out = restore(&archive, &target, &storage, Some(&other_key));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("master key"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!target.join("meta.redb").exists());

    // Restored: a new one-member cluster with the backup's state.
    let out = restore(&archive, &target, &storage, Some(&master_key));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let restored =
        Server::launch(&target, &Launch { extra: &["--storage-dir", storage.to_str().unwrap()], env: QUIET, ..Launch::default() });
    for (tag, manifest) in &acknowledged_before {
        assert_eq!(try_resolve(&restored, "acme/app", tag).await, Ok(Some(manifest.clone())), "{tag}");
        let body: Value =
            client().get(restored.url(&format!("/v2/acme/app/manifests/{manifest}"))).send().await.unwrap().json().await.unwrap();
        let layer = body["layers"][0]["digest"].as_str().unwrap();
        let blob = client().get(restored.url(&format!("/v2/acme/app/blobs/{layer}"))).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(digest(&blob), layer, "blobs are restored");
    }
    // Every tag it holds is one the cluster acknowledged or was writing, with the same manifest.
    let tags: Value = client().get(restored.url("/v2/acme/app/tags/list")).send().await.unwrap().json().await.unwrap();
    for tag in tags["tags"].as_array().unwrap() {
        let tag = tag.as_str().unwrap();
        let original = try_resolve(cluster.server(leader), "acme/app", tag).await.unwrap();
        assert_eq!(try_resolve(&restored, "acme/app", tag).await.unwrap(), original, "{tag}");
    }
    // Credentials work: the password, the access token, and tokens signed with the restored key.
    let read = client_as("dave", "dave-password-1").get(restored.url("/v2/acme/app/tags/list")).send().await.unwrap();
    assert_eq!(read.status(), 200);
    let read = client_as("dave", &token).get(restored.url("/v2/acme/app/tags/list")).send().await.unwrap();
    assert_eq!(read.status(), 200);
    let status: Value = client().get(restored.url("/api/v0/meta/cluster_status")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["members"].as_array().unwrap().len(), 1);
    assert_ne!(status["cluster"], cluster.status(leader).await["cluster"], "a restore founds a new cluster");

    // The restored metadata, backed up again, is the backup's, byte for byte: every
    // account, grant, repository, tag, manifest, trust key and setting.
    let again = work.path().join("again.tar");
    backup_to(&restored, &again, false);
    let first = extract(&archive, "metadata.bin", &work.path().join("x1"));
    let second = extract(&again, "metadata.bin", &work.path().join("x2"));
    assert!(first == second, "the restored metadata differs from the backup's ({} and {} bytes)", first.len(), second.len());
    let manifest: Value = serde_json::from_slice(&extract(&archive, "MANIFEST.json", &work.path().join("x1"))).unwrap();
    assert_eq!(manifest["format"], "berth-backup 1");
    assert!(manifest["files"].as_array().unwrap().len() > 2, "blobs are listed: {manifest}");
    assert!(manifest.to_string().find("BEGIN PRIVATE KEY").is_none());
    assert!(!String::from_utf8_lossy(&first).contains("PRIVATE KEY"), "keys stay sealed in a backup");
}
