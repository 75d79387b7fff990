//! One trust collection per repository, secrets at rest, namespaces (items 4, 6 and 9).

use reqwest::Method;
use serde_json::json;

use super::*;

/// 4. One trust collection per repository: trust data only under the registry's own
/// names, for repositories that exist, and never a second collection for one repository.
#[tokio::test]
async fn one_trust_collection_per_repository() {
    let server = Server::start();
    push_image(&server, "acme/app", "v1", 1).await;
    let port = server.https_localhost().rsplit(':').next().unwrap().to_owned();
    let key = |gun: String| client().get(server.url(&format!("/v2/{gun}/_trust/tuf/timestamp.key"))).send();
    // The first GUN (a server key asked for) binds the repository's collection.
    let first = key(format!("localhost:{port}/acme/app")).await.unwrap();
    assert_eq!(first.status(), 200);
    expect_error(key(format!("127.0.0.1:{port}/acme/app")).await.unwrap(), 409, "INVALID_GUN").await;
    expect_error(key("evil.example.com/acme/app".into()).await.unwrap(), 400, "INVALID_GUN").await;
    expect_error(key("localhost:1/acme/app".into()).await.unwrap(), 400, "INVALID_GUN").await;
    expect_error(key(format!("localhost:{port}/acme/missing")).await.unwrap(), 404, "NAME_UNKNOWN").await;
    // No data can be uploaded under the refused names either.
    let part = "--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"root\"\r\n\r\n{}\r\n--b--\r\n";
    let update = client()
        .post(server.url(&format!("/v2/127.0.0.1:{port}/acme/app/_trust/tuf/")))
        .header("content-type", "multipart/form-data; boundary=b")
        .body(part);
    expect_error(update.send().await.unwrap(), 409, "INVALID_GUN").await;
    expect_error(
        client().get(server.url(&format!("/v2/127.0.0.1:{port}/acme/app/_trust/tuf/root.json"))).send().await.unwrap(),
        404,
        "METADATA_NOT_FOUND",
    )
    .await;

    // With an external URL, only its host names the registry.
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("berth.toml");
    std::fs::write(&file, "external_url = \"https://registry.example.com\"\n").unwrap();
    let named = Server::start_in(&temp.path().join("data"), &["--config", file.to_str().unwrap()]);
    push_image(&named, "acme/app", "v1", 1).await;
    let key = |gun: &str| client().get(named.url(&format!("/v2/{gun}/_trust/tuf/timestamp.key"))).send();
    expect_error(
        key(&format!("localhost:{}/acme/app", named.https_localhost().rsplit(':').next().unwrap())).await.unwrap(),
        400,
        "INVALID_GUN",
    )
    .await;
    assert_eq!(key("registry.example.com/acme/app").await.unwrap().status(), 200);
}

/// 6. Secrets at rest: the data directory is private whatever the umask, the keys in the
/// metadata are sealed (a copy of `meta.redb` alone opens nothing), and no secret is logged.
#[tokio::test]
async fn secrets_stay_secret_at_rest_and_in_the_logs() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::launch(&data, &Launch { umask: Some(0o000), env: &[("BERTH_LOG", "debug")], ..Launch::default() });
    user(&server, "alice").await;
    push_image(&server, "alice/app", "v1", 1).await;
    let gun = format!("{}/alice/app", server.https_localhost());
    assert_eq!(client().get(server.url(&format!("/v2/{gun}/_trust/tuf/timestamp.key"))).send().await.unwrap().status(), 200);
    let (secret_token, _) = token(&server, "alice", PASSWORD, json!({"name": "ci"})).await;
    assert_eq!(call(&server, "alice", &secret_token, Method::GET, "/v2/alice/app/tags/list", None).await.0, 200);
    let bearer_token = jwt(&server, "alice", PASSWORD, "repository:alice/app:pull").await;
    assert_eq!(bearer(&server, &bearer_token, Method::GET, "/v2/alice/app/tags/list", None).await, 200);
    assert_eq!(call(&server, "alice", "a wrong guess at it", Method::GET, "/v2/", None).await.0, 401);

    // Every directory 0700, every file 0600, though the server was started with umask 000.
    use std::os::unix::fs::PermissionsExt as _;
    fn walk(path: &std::path::Path, found: &mut Vec<(String, u32)>) {
        let meta = std::fs::symlink_metadata(path).unwrap();
        found.push((path.display().to_string(), meta.permissions().mode() & 0o777));
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                walk(&entry.unwrap().path(), found);
            }
        }
    }
    let mut found = Vec::new();
    walk(&data, &mut found);
    assert!(found.len() > 8, "{found:?}");
    for (path, mode) in &found {
        let wanted = if std::path::Path::new(path).is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*mode, wanted, "{path} is {mode:o}");
    }

    // No private key in the clear in the metadata (PKCS#8 Ed25519, as stored base64).
    let meta = std::fs::read(data.join("meta.redb")).unwrap();
    let clear_key = b"MC4CAQAwBQYDK2VwBCIEI";
    assert!(!meta.windows(clear_key.len()).any(|w| w == clear_key), "a private key is stored in the clear");
    let master = std::fs::read_to_string(data.join("master.key")).unwrap();
    assert_not_logged(&server, &[PASSWORD, ADMIN_PASSWORD, "a wrong guess at it", &secret_token, &bearer_token, master.trim()]);
    let mut server = server;
    assert!(server.stop());

    // A copy of the metadata alone: the server refuses to start, saying why; with the
    // master key given, it starts.
    let copy = temp.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(data.join("meta.redb"), copy.join("meta.redb")).unwrap();
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--https-listen", "127.0.0.1:0", "--data-dir"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("master key"), "{said}");
    std::fs::remove_file(copy.join("master.key")).unwrap();
    let restored = Server::launch(&copy, &Launch { env: &[("BERTH_MASTER_KEY", master.trim())], ..Launch::default() });
    assert_eq!(call(&restored, "alice", PASSWORD, Method::GET, "/v2/alice/app/tags/list", None).await.0, 200);
}

/// 9. Repositories live in accounts' namespaces; accounts are not made over, nor deleted
/// from under, repositories; passwords have a minimum length.
#[tokio::test]
async fn namespaces_belong_to_accounts() {
    let server = Server::start();
    let admin = client();
    expect_error(admin.post(server.url("/v2/demo/app/blobs/uploads/")).send().await.unwrap(), 404, "NAME_UNKNOWN").await;
    let d = digest(b"layer");
    expect_error(
        admin.post(server.url(&format!("/v2/demo/app/blobs/uploads/?digest={d}"))).body("layer").send().await.unwrap(),
        404,
        "NAME_UNKNOWN",
    )
    .await;
    let (status, body) =
        call(&server, "admin", ADMIN_PASSWORD, Method::POST, "/api/v0/repositories/demo", Some(json!({"name": "app"}))).await;
    assert_eq!(status, 404, "{body}");
    // Once the organization exists, its namespace takes pushes; it cannot be deleted from under them.
    org(&server, "demo").await;
    push_image(&server, "demo/app", "v1", 1).await;
    let (status, body) = call(&server, "admin", ADMIN_PASSWORD, Method::DELETE, "/api/v0/accounts/demo", None).await;
    assert_eq!((status, body["errors"][0]["code"].as_str()), (409, Some("NAMESPACE_IN_USE")), "{body}");
    assert_eq!(call(&server, "admin", ADMIN_PASSWORD, Method::DELETE, "/api/v0/repositories/demo/app", None).await.0, 204);
    assert_eq!(call(&server, "admin", ADMIN_PASSWORD, Method::DELETE, "/api/v0/accounts/demo", None).await.0, 204);
    // The last administrator stays.
    let (status, body) = call(&server, "admin", ADMIN_PASSWORD, Method::DELETE, "/api/v0/accounts/admin", None).await;
    assert_eq!((status, body["errors"][0]["code"].as_str()), (409, Some("LAST_ADMINISTRATOR")), "{body}");
    // Passwords of fewer than eight characters are refused, when made and when changed.
    let (status, body) =
        call(&server, "admin", ADMIN_PASSWORD, Method::POST, "/api/v0/accounts", Some(json!({"name": "carol", "password": "short"}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("at least 8"), "{body}");
    user(&server, "carol").await;
    assert_eq!(
        call(&server, "carol", PASSWORD, Method::PATCH, "/api/v0/accounts/carol", Some(json!({"password": "1234567"}))).await.0,
        400
    );
}
