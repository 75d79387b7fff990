//! Credentials do only what they say, and die with their source (items 1, 2 and 3).

use reqwest::Method;
use serde_json::{Value, json};

use super::*;

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
