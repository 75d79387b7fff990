//! The registry tried as an attacker would, through its public interfaces: a restricted
//! token against every management endpoint, refresh tokens after revocation, a second
//! trust collection, a copy of the metadata, guessed passwords from one address and from
//! many, slow and numerous connections, names that read as hosts, forged headers. One
//! test per invariant of `../shared/docs/security.md` as issue 9 numbers them.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

const PASSWORD: &str = "a long enough passphrase";

/// Sends `method path` with Basic `user:secret`; the status and the JSON body (or Null).
async fn call(server: &Server, user: &str, secret: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client_as(user, secret).request(method, server.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Sends `method path` with a bearer token.
async fn bearer(server: &Server, token: &str, method: Method, path: &str, body: Option<Value>) -> u16 {
    let mut request = anonymous().request(method, server.url(path)).header("authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn user(server: &Server, name: &str) {
    let (status, body) =
        call(server, "admin", ADMIN_PASSWORD, Method::POST, "/api/v0/accounts", Some(json!({"name": name, "password": PASSWORD}))).await;
    assert_eq!(status, 201, "{body}");
}

/// An access token of `user` made with `secret`, limited as `spec` says.
async fn token(server: &Server, user: &str, secret: &str, spec: Value) -> (String, String) {
    let (status, body) = call(server, user, secret, Method::POST, &format!("/api/v0/accounts/{user}/tokens"), Some(spec)).await;
    assert_eq!(status, 201, "{body}");
    (body["token"].as_str().unwrap().to_owned(), body["id"].as_str().unwrap().to_owned())
}

/// A bearer token from `GET /auth/token` for `scope`, obtained with Basic `user:secret`.
async fn jwt(server: &Server, user: &str, secret: &str, scope: &str) -> String {
    let response = client_as(user, secret).get(server.url(&format!("/auth/token?service=berth&scope={scope}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

/// The `access` claim of a JWT, as (name, actions) pairs.
fn granted(token: &str) -> Vec<(String, Vec<String>)> {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["actions"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_owned()).collect(),
            )
        })
        .collect()
}

/// The grants `granted` should find: (repository, actions).
fn grants(name: &str, actions: &[&str]) -> Vec<(String, Vec<String>)> {
    vec![(name.to_owned(), actions.iter().map(|a| a.to_string()).collect())]
}

/// Reads an HTTP answer from `stream` until its body names `code` (or the peer closes).
fn read_answer(stream: &mut std::net::TcpStream, code: &str) -> String {
    use std::io::Read;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        if String::from_utf8_lossy(&answer).contains(code) {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A client whose connections come from `source` (any 127/8 address reaches the server).
fn client_from(source: &str, user: &str, secret: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, basic(user, secret).parse().unwrap());
    let source: IpAddr = source.parse().unwrap();
    reqwest::Client::builder().local_address(source).timeout(Duration::from_secs(120)).default_headers(headers).build().unwrap()
}

/// Asserts that none of `secrets` appears in the server's log.
fn assert_not_logged(server: &Server, secrets: &[&str]) {
    let log = server.log();
    assert!(!log.is_empty());
    for secret in secrets {
        assert!(!log.contains(secret), "a secret was logged: {}…", &secret[..secret.len().min(12)]);
    }
}

/// 1. A restricted access token, or a bearer token, grants nothing outside its
/// repositories and actions on any interface; management needs the full credential.
#[tokio::test]
async fn restricted_and_bearer_credentials_do_only_what_they_say() {
    let server = Server::start();
    user(&server, "alice").await;
    push_image(&server, "alice/app", "v1", 1).await;
    push_image(&server, "alice/other", "v1", 2).await;
    let (narrow, _) = token(&server, "alice", PASSWORD, json!({"name": "ci", "repositories": ["alice/app"], "actions": ["pull"]})).await;

    // The registry: pulls of alice/app only.
    assert_eq!(call(&server, "alice", &narrow, Method::GET, "/v2/alice/app/manifests/v1", None).await.0, 200);
    assert_eq!(call(&server, "alice", &narrow, Method::GET, "/v2/alice/other/manifests/v1", None).await.0, 403);
    assert_eq!(call(&server, "alice", &narrow, Method::POST, "/v2/alice/app/blobs/uploads/", None).await.0, 403);
    assert_eq!(call(&server, "alice", &narrow, Method::DELETE, "/v2/alice/app/manifests/v1", None).await.0, 403);
    assert_eq!(call(&server, "alice", &narrow, Method::GET, "/v2/_catalog", None).await.1["repositories"], json!(["alice/app"]));

    // Management, on /api/v0 and /enzi/v0: nothing at all, not even for the token's own user.
    let management: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::POST, "/api/v0/accounts/alice/tokens", Some(json!({"name": "wider"}))),
        (Method::PATCH, "/api/v0/accounts/alice", Some(json!({"password": "taken over by the token"}))),
        (Method::GET, "/api/v0/accounts", None),
        (Method::GET, "/api/v0/accounts/alice", None),
        (Method::GET, "/api/v0/accounts/alice/tokens", None),
        (Method::GET, "/enzi/v0/accounts", None),
        (Method::POST, "/enzi/v0/accounts/alice/tokens", Some(json!({"name": "wider"}))),
        (Method::PATCH, "/api/v0/repositories/alice/app", Some(json!({"visibility": "public"}))),
        (Method::DELETE, "/api/v0/repositories/alice/app", None),
        (Method::PUT, "/api/v0/repositoryNamespaces/alice/signingPolicy", Some(json!({"signedPullsOnly": false}))),
        (Method::POST, "/api/v0/repositories/alice", Some(json!({"name": "new"}))),
        (Method::GET, "/api/v0/repositories/alice/app/teamAccess", None),
        (Method::GET, "/api/v0/accounts/alice/repositoryAccess/alice/app", None),
    ];
    for (method, path, body) in &management {
        let (status, answer) = call(&server, "alice", &narrow, method.clone(), path, body.clone()).await;
        assert_eq!(status, 403, "{method} {path} with a restricted token: {answer}");
    }
    // Reads within its scope still answer; outside it, nothing exists.
    assert_eq!(call(&server, "alice", &narrow, Method::GET, "/api/v0/repositories/alice/app", None).await.0, 200);
    assert_eq!(call(&server, "alice", &narrow, Method::GET, "/api/v0/repositories/alice/other", None).await.0, 404);
    let listed = call(&server, "alice", &narrow, Method::GET, "/api/v0/repositories", None).await.1;
    assert_eq!(listed["repositories"].as_array().unwrap().len(), 1, "{listed}");

    // /auth/token narrows to the token's limits; the trust service's admin routes refuse it.
    assert_eq!(granted(&jwt(&server, "alice", &narrow, "repository:alice/app:pull,push,delete,*").await), grants("alice/app", &["pull"]));
    assert_eq!(granted(&jwt(&server, "alice", &narrow, "repository:alice/other:pull").await), grants("alice/other", &[]));
    let gun = format!("{}/alice/app", server.https_localhost());
    assert_eq!(call(&server, "alice", &narrow, Method::DELETE, &format!("/v2/{gun}/_trust/tuf/"), None).await.0, 403);
    assert_eq!(call(&server, "alice", &narrow, Method::POST, &format!("/v2/{gun}/_trust/tuf/timestamp.key"), None).await.0, 403);

    // An administrator's restricted token makes no administrators.
    let (admin_narrow, _) = token(&server, "admin", ADMIN_PASSWORD, json!({"name": "ci", "repositories": ["alice/app"]})).await;
    let mallory = json!({"name": "mallory", "password": PASSWORD, "isAdmin": true});
    assert_eq!(call(&server, "admin", &admin_narrow, Method::POST, "/api/v0/accounts", Some(mallory.clone())).await.0, 403);
    assert_eq!(call(&server, "admin", &admin_narrow, Method::PATCH, "/api/v0/accounts/alice", Some(json!({"isAdmin": true}))).await.0, 403);

    // A bearer token for repository:alice/app:pull, even one obtained with the password,
    // acts on /api/v0 only for that.
    let pull_only = jwt(&server, "alice", PASSWORD, "repository:alice/app:pull").await;
    assert_eq!(bearer(&server, &pull_only, Method::GET, "/api/v0/repositories/alice/app", None).await, 200);
    assert_eq!(bearer(&server, &pull_only, Method::GET, "/api/v0/repositories/alice/other", None).await, 404);
    assert_eq!(
        bearer(&server, &pull_only, Method::PATCH, "/api/v0/repositories/alice/app", Some(json!({"visibility": "public"}))).await,
        403
    );
    for (method, path, body) in management {
        assert_eq!(bearer(&server, &pull_only, method.clone(), path, body).await, 403, "{method} {path} with a bearer token");
    }
    let admin_jwt = jwt(&server, "admin", ADMIN_PASSWORD, "repository:alice/app:*").await;
    assert_eq!(bearer(&server, &admin_jwt, Method::POST, "/api/v0/accounts", Some(mallory)).await, 403);

    // The password, or a token without limits, manages.
    let (full, _) = token(&server, "alice", PASSWORD, json!({"name": "laptop"})).await;
    assert_eq!(call(&server, "alice", &full, Method::POST, "/api/v0/accounts/alice/tokens", Some(json!({"name": "another"}))).await.0, 201);
    assert_not_logged(&server, &[PASSWORD, ADMIN_PASSWORD, &narrow, &full, &admin_narrow, &pull_only, &admin_jwt]);
}

/// 2 and 3. Refresh and bearer tokens carry the limits of the credential they came from,
/// never widen, and die with it: revocation, expiry, a password change, deactivation,
/// each at the next request.
#[tokio::test]
async fn derived_credentials_die_with_their_source_at_the_next_request() {
    let server = Server::start();
    user(&server, "alice").await;
    push_image(&server, "alice/app", "v1", 1).await;
    let (narrow, narrow_id) =
        token(&server, "alice", PASSWORD, json!({"name": "ci", "repositories": ["alice/app"], "actions": ["pull"]})).await;
    let refresh_with = |secret: &str| {
        let form =
            [("grant_type", "password"), ("username", "alice"), ("password", secret), ("access_type", "offline"), ("service", "berth")];
        anonymous().post(server.url("/auth/token")).form(&form).send()
    };
    let refreshed = |refresh: String, scope: &'static str| {
        let form = [
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh),
            ("scope", scope.to_owned()),
            ("service", "berth".to_owned()),
        ];
        anonymous().post(server.url("/auth/token")).form(&form).send()
    };

    // Obtained with the restricted token: the refresh token keeps its limits.
    let answer: Value = refresh_with(&narrow).await.unwrap().json().await.unwrap();
    let refresh = answer["refresh_token"].as_str().unwrap().to_owned();
    let wider: Value = refreshed(refresh.clone(), "repository:alice/app:pull,push,delete").await.unwrap().json().await.unwrap();
    let access = wider["access_token"].as_str().unwrap().to_owned();
    assert_eq!(granted(&access), grants("alice/app", &["pull"]));
    assert!(wider.get("refresh_token").is_none(), "a refresh grant makes no new refresh token");
    assert_eq!(bearer(&server, &access, Method::GET, "/v2/alice/app/manifests/v1", None).await, 200);
    // Revoked: the token, its refresh token and the bearer token made from it all stop.
    assert_eq!(call(&server, "alice", PASSWORD, Method::DELETE, &format!("/api/v0/accounts/alice/tokens/{narrow_id}"), None).await.0, 204);
    assert_eq!(call(&server, "alice", &narrow, Method::GET, "/v2/", None).await.0, 401);
    assert_eq!(refreshed(refresh, "repository:alice/app:pull").await.unwrap().status(), 401);
    assert_eq!(bearer(&server, &access, Method::GET, "/v2/alice/app/manifests/v1", None).await, 401);

    // Obtained with the password: a password change ends it, and the old password, at once
    // (the login cache does not serve it).
    assert_eq!(call(&server, "alice", PASSWORD, Method::GET, "/v2/", None).await.0, 200);
    let answer: Value = refresh_with(PASSWORD).await.unwrap().json().await.unwrap();
    let (refresh, access) = (answer["refresh_token"].as_str().unwrap().to_owned(), answer["access_token"].as_str().unwrap().to_owned());
    assert_eq!(bearer(&server, &access, Method::GET, "/v2/", None).await, 200);
    let changed = "a different long passphrase";
    assert_eq!(call(&server, "alice", PASSWORD, Method::PATCH, "/api/v0/accounts/alice", Some(json!({"password": changed}))).await.0, 200);
    assert_eq!(call(&server, "alice", PASSWORD, Method::GET, "/v2/", None).await.0, 401, "the old password, at the next request");
    assert_eq!(refreshed(refresh, "repository:alice/app:pull").await.unwrap().status(), 401);
    assert_eq!(bearer(&server, &access, Method::GET, "/v2/", None).await, 401);
    assert_eq!(call(&server, "alice", changed, Method::GET, "/v2/", None).await.0, 200);

    // Deactivated: the password, tokens and everything derived from them stop at once.
    let (laptop, _) = token(&server, "alice", changed, json!({"name": "laptop"})).await;
    let answer: Value = refresh_with(changed).await.unwrap().json().await.unwrap();
    let refresh = answer["refresh_token"].as_str().unwrap().to_owned();
    let access = jwt(&server, "alice", &laptop, "repository:alice/app:pull").await;
    assert_eq!(
        call(&server, "admin", ADMIN_PASSWORD, Method::PATCH, "/api/v0/accounts/alice", Some(json!({"isActive": false}))).await.0,
        200
    );
    assert_eq!(call(&server, "alice", changed, Method::GET, "/v2/", None).await.0, 401);
    assert_eq!(call(&server, "alice", &laptop, Method::GET, "/v2/", None).await.0, 401);
    assert_eq!(refreshed(refresh, "repository:alice/app:pull").await.unwrap().status(), 401);
    assert_eq!(bearer(&server, &access, Method::GET, "/v2/alice/app/manifests/v1", None).await, 401);
    assert_not_logged(&server, &[PASSWORD, changed, &narrow, &laptop, &access]);
}

/// 2. After `docker login` with a restricted token, docker keeps the token itself (no
/// identity token), which podman reads from the same `config.json`; the token's limits
/// hold for docker's pushes, and its revocation ends them.
#[tokio::test]
async fn docker_login_keeps_no_identity_token_and_podman_shares_the_login() {
    use crate::clients::{DockerCa, ca_dir, docker_login, random_files, run};
    if !client_available("docker", &["info"]) || !client_available("podman", &["--version"]) {
        return;
    }
    let server = Server::start();
    user(&server, "dev").await;
    let (ci, ci_id) =
        token(&server, "dev", PASSWORD, json!({"name": "ci", "repositories": ["dev/app"], "actions": ["pull", "push"]})).await;
    let host = server.https_localhost();
    let _ca = DockerCa::install_for(&server, &host);
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("docker");
    std::fs::create_dir_all(&config).unwrap();
    let docker = || {
        let mut c = std::process::Command::new("/usr/bin/docker");
        c.env("DOCKER_CONFIG", &config);
        c
    };
    let files = temp.path().join("rootfs");
    random_files(&files, 1, 700);
    let tar = temp.path().join("rootfs.tar");
    run(std::process::Command::new("tar").arg("-C").arg(&files).arg("-cf").arg(&tar).arg("."));
    let (mine, outside) = (format!("{host}/dev/app:1"), format!("{host}/dev/other:1"));
    run(docker().arg("import").arg(&tar).arg(&mine));
    run(docker().args(["tag", &mine, &outside]));

    assert!(docker_login(&docker, "dev", &ci, &host));
    let saved = std::fs::read_to_string(config.join("config.json")).unwrap();
    assert!(!saved.contains("identitytoken"), "{saved}");
    run(docker().args(["push", &mine]));
    assert!(!docker().args(["push", &outside]).output().unwrap().status.success(), "outside the token's repositories");

    // podman, with docker's config.json as its auth file: logged in already, and pushes.
    let certs = ca_dir(&server, temp.path());
    let podman = || {
        let mut c = std::process::Command::new("podman");
        c.arg("--storage-driver").arg("vfs").arg("--root").arg(temp.path().join("root")).arg("--runroot").arg(temp.path().join("run"));
        c.env("HOME", temp.path());
        c
    };
    let auth_file = config.join("config.json");
    run(podman().args(["login", "--authfile"]).arg(&auth_file).arg("--cert-dir").arg(&certs).arg(&host));
    let second = format!("{host}/dev/app:2");
    run(podman().arg("import").arg(&tar).arg(&second));
    run(podman().args(["push", "--authfile"]).arg(&auth_file).arg("--cert-dir").arg(&certs).arg(&second));

    // Revoked: docker's saved login stops working.
    assert_eq!(call(&server, "dev", PASSWORD, Method::DELETE, &format!("/api/v0/accounts/dev/tokens/{ci_id}"), None).await.0, 204);
    assert!(!docker().args(["push", &mine]).output().unwrap().status.success(), "after revocation");
    let _ = docker().args(["rmi", &mine, &outside]).output();
}

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

/// 7. No lock-out, no race: failures count per source and per account and source; another
/// address is never locked out, access tokens never are, and concurrent guesses check at
/// most the limit.
#[tokio::test]
async fn guessing_locks_out_the_guesser_only() {
    let server = Server::start();
    user(&server, "alice").await;
    let (alice_token, _) = token(&server, "alice", PASSWORD, json!({"name": "ci"})).await;
    for _ in 0..12 {
        let status = client_from("127.0.0.2", "alice", "guess").get(server.url("/v2/")).send().await.unwrap().status().as_u16();
        assert!(status == 401 || status == 429);
    }
    // The guessing address is refused even the right password…
    assert_eq!(client_from("127.0.0.2", "alice", PASSWORD).get(server.url("/v2/")).send().await.unwrap().status(), 429);
    // …but alice, from anywhere else, logs in, and her token works from everywhere.
    assert_eq!(client_from("127.0.0.3", "alice", PASSWORD).get(server.url("/v2/")).send().await.unwrap().status(), 200);
    assert_eq!(client_from("127.0.0.2", "alice", &alice_token).get(server.url("/v2/")).send().await.unwrap().status(), 200);

    // Forty concurrent wrong guesses from one address: at most ten are checked (401), the
    // rest refused unchecked (429).
    user(&server, "bob").await;
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let url = server.url("/v2/");
            tokio::spawn(
                async move { client_from("127.0.0.4", "bob", &format!("guess {i}")).get(url).send().await.unwrap().status().as_u16() },
            )
        })
        .collect();
    let mut checked = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            401 => checked += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!((1..=10).contains(&checked), "{checked} guesses were checked");
    assert_eq!(client_from("127.0.0.5", "bob", PASSWORD).get(server.url("/v2/")).send().await.unwrap().status(), 200);
}

/// 8. Bounded clients: a stalled body is cut, connections are capped with a clear
/// refusal, `/auth/token` caps its body and scopes, password checks run bounded.
#[tokio::test]
async fn stalled_bodies_are_cut_and_connections_are_capped() {
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("berth.toml");
    std::fs::write(&file, "[limits]\nbody_idle_timeout_secs = 2\nmax_connections = 8\n").unwrap();
    let server = Server::start_in(&temp.path().join("data"), &["--config", file.to_str().unwrap()]);
    org(&server, "ns").await;
    let start = client().post(server.url("/v2/ns/app/blobs/uploads/")).send().await.unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();

    // A chunked PATCH that sends five bytes, then nothing: cut after the idle time, and
    // what arrived is kept.
    use std::io::Write;
    let address = server.http.trim_start_matches("http://").to_owned();
    let mut stalled = std::net::TcpStream::connect(&address).unwrap();
    stalled.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        basic("admin", ADMIN_PASSWORD)
    );
    stalled.write_all(head.as_bytes()).unwrap();
    let answer = read_answer(&mut stalled, "BLOB_UPLOAD_INVALID");
    drop(stalled);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("BLOB_UPLOAD_INVALID"), "{answer}");
    let status = client().get(server.url(&location)).send().await.unwrap();
    assert_eq!(status.headers()["range"], "0-4");

    // /auth/token: at most 64 scopes, and a small form.
    let scopes: String = (0..65).map(|i| format!("&scope=repository:ns/r{i}:pull")).collect();
    assert_eq!(client().get(server.url(&format!("/auth/token?service=berth{scopes}"))).send().await.unwrap().status(), 400);
    let big = format!("grant_type=password&username=admin&password={}", "x".repeat(20_000));
    assert_eq!(
        anonymous()
            .post(server.url("/auth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big)
            .send()
            .await
            .unwrap()
            .status(),
        413
    );

    // Eight idle connections fill the cap: the ninth is told so, then closed.
    let idle: Vec<_> = (0..8).map(|_| std::net::TcpStream::connect(&address).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let refused = anonymous().get(server.url("/v2/")).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.text().await.unwrap().contains("TOOMANYREQUESTS"));
    drop(idle);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client().get(server.url("/v2/")).send().await.unwrap().status(), 200, "served again once they close");
}

/// 8. Fifty clients trickling bodies delay nobody else, and two hundred concurrent logins
/// with wrong passwords keep the server's memory under 64 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_clients_and_login_storms_do_not_starve_the_server() {
    let server = Server::start();
    let manifest = push_image(&server, "ns/app", "v1", 1).await;
    let address = server.http.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..50 {
        let start = client().post(server.url("/v2/ns/app/blobs/uploads/")).send().await.unwrap();
        let location = start.headers()["location"].to_str().unwrap().to_owned();
        let (address, auth) = (address.clone(), basic("admin", ADMIN_PASSWORD));
        slow.push(std::thread::spawn(move || {
            use std::io::Write;
            let mut stream = std::net::TcpStream::connect(&address).unwrap();
            let head =
                format!("PATCH {location} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n");
            stream.write_all(head.as_bytes()).unwrap();
            for _ in 0..10 {
                if stream.write_all(b"1\r\nx\r\n").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(400));
            }
        }));
    }
    // Meanwhile, others are served as usual.
    let c = client();
    for i in 0..20 {
        let pull =
            tokio::time::timeout(Duration::from_secs(10), c.get(server.url(&format!("/v2/ns/app/manifests/{manifest}"))).send()).await;
        assert_eq!(pull.expect("a pull waited behind slow clients").unwrap().status(), 200, "pull {i}");
    }
    let push = tokio::time::timeout(Duration::from_secs(30), push_image(&server, "ns/app", "v2", 2)).await;
    assert!(push.is_ok(), "a push waited behind slow clients");
    for thread in slow {
        thread.join().unwrap();
    }
    let hwm = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status.lines().find(|l| l.starts_with("VmHWM:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    eprintln!("peak RSS after 50 slow clients: {} MiB", hwm(server.pid()) / 1024);

    // Two hundred logins with wrong passwords at once, from two hundred addresses (so that
    // the per-address limit does not stop them before the hashing).
    let storm: Vec<_> = (0..200)
        .map(|i| {
            let url = server.url("/v2/");
            tokio::spawn(async move {
                let source = format!("127.0.{}.{}", 10 + i / 200, 1 + i % 200);
                client_from(&source, &format!("user{i}"), "not the password").get(url).send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    for login in storm {
        let status = login.await.unwrap();
        assert!(status == 401 || status == 503, "{status}");
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let peak_kib: u64 = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    eprintln!("peak RSS after 50 slow clients and 200 concurrent logins: {} MiB", peak_kib / 1024);
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
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

/// 10. Small things: the challenge's realm is never the raw `Host`, and keeps its port
/// over HTTP/2; range arithmetic cannot overflow; names that read as hosts are refused;
/// an unreachable directory is `503` everywhere; `config check` redacts; the access log
/// names the user and the source.
#[tokio::test]
async fn headers_ranges_names_directories_and_logs() {
    let server = Server::start();
    let address = server.http.trim_start_matches("http://").to_owned();
    let realm_for = |host: &str| {
        let answer = raw_request(&server.http, &format!("GET /v2/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"), b"");
        answer.lines().find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:")).unwrap_or_default().to_owned()
    };
    let forged = realm_for("evil\",error=\"x");
    assert!(!forged.contains("evil") && forged.contains(&format!("realm=\"http://{address}/auth/token\"")), "{forged}");
    assert!(realm_for("registry.example.com:5000").contains("realm=\"http://registry.example.com:5000/auth/token\""));
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let response = h2.get(server.url("/v2/")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains(&format!("realm=\"http://{address}/auth/token\"")), "over HTTP/2 the realm keeps its port: {challenge}");

    // A Content-Range whose length does not fit 64 bits: 416, with where the upload stands.
    org(&server, "ns").await;
    let start = client().post(server.url("/v2/ns/app/blobs/uploads/")).send().await.unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let patch = client().patch(server.url(&location)).header("content-range", "0-18446744073709551615").body("x").send().await.unwrap();
    assert_eq!(patch.status(), 416);
    assert_eq!(patch.headers()["range"], "0-0");

    // Account names that docker would read as a registry host.
    for name in ["evil.com", "localhost", "host:5000", "john.doe"] {
        let (status, body) =
            call(&server, "admin", ADMIN_PASSWORD, Method::POST, "/api/v0/accounts", Some(json!({"name": name, "isOrg": true}))).await;
        assert_eq!(status, 400, "{name}: {body}");
    }

    // The access log names the user and the source address.
    user(&server, "alice").await;
    assert_eq!(call(&server, "alice", PASSWORD, Method::GET, "/v2/", None).await.0, 200);
    let log = server.log_when(|l| l.lines().any(|line| line.contains("access") && line.contains("alice")));
    let line = log.lines().find(|line| line.contains("access") && line.contains("alice")).unwrap();
    assert!(line.contains("source=127.0.0.1"), "{line}");

    // A directory that cannot be reached: 503 on every interface, never 401.
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("berth.toml");
    let ldap = "[ldap]\nurl = \"ldap://127.0.0.1:9\"\nuser_base_dn = \"ou=people,dc=example,dc=org\"\nbind_password = \"the-bind-secret\"\ntimeout_secs = 2\nsync_interval_secs = 0\n";
    std::fs::write(&file, ldap).unwrap();
    let directed = Server::start_in(&temp.path().join("data"), &["--config", file.to_str().unwrap()]);
    let someone = client_as("someone", "their directory password");
    assert_eq!(someone.get(directed.url("/v2/")).send().await.unwrap().status(), 503);
    assert_eq!(someone.get(directed.url("/auth/token?service=berth")).send().await.unwrap().status(), 503);
    assert_eq!(someone.get(directed.url("/api/v0/repositories")).send().await.unwrap().status(), 503);
    assert_eq!(client().get(directed.url("/v2/")).send().await.unwrap().status(), 200, "local accounts still log in");
    // `config check` shows the settings, never the bind password.
    let checked = std::process::Command::new(env!("CARGO_BIN_EXE_berth")).args(["config", "check"]).arg(&file).output().unwrap();
    assert!(checked.status.success());
    let shown = String::from_utf8_lossy(&checked.stdout);
    assert!(shown.contains("127.0.0.1:9") && !shown.contains("the-bind-secret"), "{shown}");
    assert_not_logged(&directed, &["the-bind-secret", "their directory password"]);
}
