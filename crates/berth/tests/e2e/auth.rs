//! Authentication and authorization over HTTP: the Docker token flow, DTR's roles on
//! every kind of registry operation, access tokens, and bad credentials.

use serde_json::json;

use crate::harness::*;

const PASSWORD: &str = "correct horse battery";

async fn api(server: &Server, method: reqwest::Method, path: &str, body: serde_json::Value) -> serde_json::Value {
    let response = client().request(method.clone(), server.url(path)).json(&body).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// acme (org) with teams readers / writers / admins and owner erin; users alice (no
/// team), bob (reader), carol (writer), dave (team admin); acme/app private with grants.
async fn organisation(server: &Server) -> String {
    use reqwest::Method;
    for user in ["alice", "bob", "carol", "dave", "erin"] {
        api(server, Method::POST, "/api/v0/accounts", json!({"name": user, "password": PASSWORD})).await;
    }
    api(server, Method::POST, "/api/v0/accounts", json!({"name": "acme", "isOrg": true})).await;
    for (team, user, level) in [("readers", "bob", "read-only"), ("writers", "carol", "read-write"), ("admins", "dave", "admin")] {
        api(server, Method::POST, "/api/v0/accounts/acme/teams", json!({"name": team})).await;
        api(server, Method::PUT, &format!("/api/v0/accounts/acme/teams/{team}/members/{user}"), json!({})).await;
        api(server, Method::PUT, &format!("/api/v0/repositories/acme/app/teamAccess/{team}"), json!({"accessLevel": level})).await;
    }
    api(server, Method::PUT, "/api/v0/accounts/acme/teams/owners/members/erin", json!({})).await;
    push_image(server, "acme/app", "v1", 1).await
}

#[tokio::test]
async fn the_docker_token_flow() {
    let server = Server::start();
    push_image(&server, "acme/app", "v1", 1).await;
    let anon = anonymous();
    let response = anon.get(server.url("/v2/")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let host = server.http.trim_start_matches("http://");
    assert_eq!(response.headers()["www-authenticate"], format!("Bearer realm=\"http://{host}/auth/token\",service=\"berth\"").as_str());
    expect_error(response, 401, "UNAUTHORIZED").await;

    // Over HTTPS the realm is https.
    let ca = std::fs::read(server.data_dir.join("tls/ca.crt")).unwrap();
    let tls = reqwest::Client::builder().tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()]).build().unwrap();
    let response = tls.get(format!("{}/v2/acme/app/manifests/v1", server.https)).send().await.unwrap();
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer realm=\"https://") && challenge.contains("scope=\"repository:acme/app:pull\""), "{challenge}");

    // An anonymous token opens /v2/ but not a private repository.
    let token: serde_json::Value =
        anon.get(server.url("/auth/token?service=berth&scope=repository:acme/app:pull")).send().await.unwrap().json().await.unwrap();
    assert_eq!(token["expires_in"], 300);
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    assert_eq!(anon.get(server.url("/v2/")).header("authorization", &bearer).send().await.unwrap().status(), 200);
    let denied = anon.get(server.url("/v2/acme/app/manifests/v1")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    assert!(denied.headers()["www-authenticate"].to_str().unwrap().contains("error=\"insufficient_scope\""));

    // The admin's token carries what was asked for, and works. `docker login` asks for an
    // offline token on this route; none is given, so docker keeps the credential itself.
    let token: serde_json::Value = client()
        .get(server.url("/auth/token?service=berth&scope=repository:acme/app:pull,push&offline_token=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    assert_eq!(anon.get(server.url("/v2/acme/app/manifests/v1")).header("authorization", &bearer).send().await.unwrap().status(), 200);
    assert!(token.get("refresh_token").is_none(), "{token}");

    // The OAuth2 flows: a password grant asking for offline access, then the refresh-token grant.
    let form = [
        ("grant_type", "password"),
        ("username", "admin"),
        ("password", ADMIN_PASSWORD),
        ("access_type", "offline"),
        ("client_id", "docker"),
        ("service", "berth"),
    ];
    let posted: serde_json::Value = anon.post(server.url("/auth/token")).form(&form).send().await.unwrap().json().await.unwrap();
    assert!(posted["access_token"].is_string() && posted["refresh_token"].is_string(), "{posted}");
    let refresh = posted["refresh_token"].as_str().unwrap().to_owned();
    let form =
        [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("scope", "repository:acme/app:pull"), ("service", "berth")];
    let refreshed = anon.post(server.url("/auth/token")).form(&form).send().await.unwrap();
    assert_eq!(refreshed.status(), 200);
    let form = [("grant_type", "password"), ("username", "admin"), ("password", "wrong")];
    assert_eq!(anon.post(server.url("/auth/token")).form(&form).send().await.unwrap().status(), 401);
    // A refresh token is not an access token.
    let misuse = anon.get(server.url("/v2/")).header("authorization", format!("Bearer {refresh}")).send().await.unwrap();
    assert_eq!(misuse.status(), 401);
}

/// What a caller may do to acme/app, by operation: [pull, push, delete tag, change settings].
#[tokio::test]
async fn roles_on_a_private_org_repository() {
    let server = Server::start();
    organisation(&server).await;
    let expectations: [(&str, [bool; 4]); 7] = [
        ("anonymous", [false, false, false, false]),
        ("alice", [false, false, false, false]),
        ("bob", [true, false, false, false]),
        ("carol", [true, true, true, false]),
        ("dave", [true, true, true, true]),
        ("erin", [true, true, true, true]),
        ("admin", [true, true, true, true]),
    ];
    for (i, (who, [pull, push, delete, settings])) in expectations.iter().enumerate() {
        let c = match *who {
            "anonymous" => anonymous(),
            "admin" => client(),
            user => client_as(user, PASSWORD),
        };
        let refused = if *who == "anonymous" { 401 } else { 403 };
        let got = c.get(server.url("/v2/acme/app/manifests/v1")).send().await.unwrap().status().as_u16();
        assert_eq!(got, if *pull { 200 } else { refused }, "{who} pull");
        let blob = format!("blob of {who}");
        let got = c
            .post(server.url(&format!("/v2/acme/app/blobs/uploads/?digest={}", digest(blob.as_bytes()))))
            .body(blob)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(got, if *push { 201 } else { refused }, "{who} push");
        let tag = format!("t{i}");
        let manifest = client().get(server.url("/v2/acme/app/manifests/v1")).send().await.unwrap().text().await.unwrap();
        put_manifest(&server, "acme/app", &tag, "application/vnd.oci.image.manifest.v1+json", &manifest).await;
        let got = c.delete(server.url(&format!("/v2/acme/app/manifests/{tag}"))).send().await.unwrap().status().as_u16();
        assert_eq!(got, if *delete { 202 } else { refused }, "{who} delete");
        let got = c
            .patch(server.url("/api/v0/repositories/acme/app"))
            .json(&json!({"shortDescription": who}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let api_refused = if *who == "anonymous" { 401 } else { 403 };
        assert_eq!(got, if *settings { 200 } else { api_refused }, "{who} settings");
    }
}

#[tokio::test]
async fn private_blobs_stay_private_and_the_catalog_is_filtered() {
    let server = Server::start();
    organisation(&server).await;
    let secret = push_blob(&server, "acme/app", b"private layer").await;
    let alice = client_as("alice", PASSWORD);
    // Alice owns her namespace, and may create repositories there on push.
    let own = format!("/v2/alice/mine/blobs/uploads/?digest={}", digest(b"mine"));
    assert_eq!(alice.post(server.url(&own)).body("mine").send().await.unwrap().status(), 201);
    // She cannot reach acme's blob through her own repository, nor push into acme.
    expect_error(alice.get(server.url(&format!("/v2/alice/mine/blobs/{secret}"))).send().await.unwrap(), 404, "BLOB_UNKNOWN").await;
    let mount = format!("/v2/alice/mine/blobs/uploads/?mount={secret}&from=acme/app");
    assert_eq!(alice.post(server.url(&mount)).send().await.unwrap().status(), 202, "no mount from a repository she cannot read");
    expect_error(alice.post(server.url("/v2/acme/new/blobs/uploads/")).send().await.unwrap(), 403, "DENIED").await;

    let catalog: serde_json::Value = alice.get(server.url("/v2/_catalog")).send().await.unwrap().json().await.unwrap();
    assert_eq!(catalog["repositories"], json!(["alice/mine"]));
    let bob: serde_json::Value = client_as("bob", PASSWORD).get(server.url("/v2/_catalog")).send().await.unwrap().json().await.unwrap();
    assert_eq!(bob["repositories"], json!(["acme/app"]));
    assert_eq!(anonymous().get(server.url("/v2/_catalog")).send().await.unwrap().status(), 401);

    // Made public, acme/app is readable by everyone, anonymous callers included.
    api(&server, reqwest::Method::PATCH, "/api/v0/repositories/acme/app", json!({"visibility": "public"})).await;
    assert_eq!(alice.get(server.url("/v2/acme/app/manifests/v1")).send().await.unwrap().status(), 200);
    let token: serde_json::Value = anonymous()
        .get(server.url("/auth/token?service=berth&scope=repository:acme/app:pull,push"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    assert_eq!(
        anonymous().get(server.url("/v2/acme/app/manifests/v1")).header("authorization", &bearer).send().await.unwrap().status(),
        200
    );
    let push = anonymous().post(server.url("/v2/acme/app/blobs/uploads/")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(push.status(), 401, "the anonymous token carries pull only");
}

#[tokio::test]
async fn access_tokens_act_for_their_user_within_their_limits() {
    let server = Server::start();
    organisation(&server).await;
    let carol = client_as("carol", PASSWORD);
    let created = carol.post(server.url("/api/v0/accounts/carol/tokens")).json(&json!({"name": "ci"})).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let with_token = client_as("carol", &token);
    assert_eq!(with_token.get(server.url("/v2/acme/app/manifests/v1")).send().await.unwrap().status(), 200);
    assert_eq!(client_as("bob", &token).get(server.url("/v2/")).send().await.unwrap().status(), 401, "only for its own user");
    let listed: serde_json::Value = carol.get(server.url("/api/v0/accounts/carol/tokens")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["tokens"][0]["name"], "ci");
    assert!(listed["tokens"][0]["lastUsed"].is_u64(), "{listed}");
    assert!(listed["tokens"][0].get("token").is_none(), "the secret is shown once");
    let id = created["id"].as_str().unwrap();
    assert_eq!(carol.delete(server.url(&format!("/api/v0/accounts/carol/tokens/{id}"))).send().await.unwrap().status(), 204);
    assert_eq!(with_token.get(server.url("/v2/")).send().await.unwrap().status(), 401, "revoked");

    // Restricted to pulls of another repository: nothing here.
    let limited: serde_json::Value = carol
        .post(server.url("/api/v0/accounts/carol/tokens"))
        .json(&json!({"name": "narrow", "repositories": ["acme/other"], "actions": ["pull"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let narrow = client_as("carol", limited["token"].as_str().unwrap());
    assert_eq!(narrow.get(server.url("/v2/acme/app/manifests/v1")).send().await.unwrap().status(), 403);
    // A token cannot be made already expired; one that expires stops working.
    let past = carol.post(server.url("/api/v0/accounts/carol/tokens")).json(&json!({"name": "old", "expiresAt": 1})).send().await.unwrap();
    assert_eq!(past.status(), 400);
    let soon = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 2;
    let expiring: serde_json::Value = carol
        .post(server.url("/api/v0/accounts/carol/tokens"))
        .json(&json!({"name": "soon", "expiresAt": soon}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expiring = client_as("carol", expiring["token"].as_str().unwrap());
    assert_eq!(expiring.get(server.url("/v2/")).send().await.unwrap().status(), 200);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(expiring.get(server.url("/v2/")).send().await.unwrap().status(), 401, "expired");
    // Someone else's tokens are not yours to make.
    assert_eq!(carol.post(server.url("/api/v0/accounts/bob/tokens")).json(&json!({"name": "x"})).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn immutable_tags_neither_move_nor_go() {
    let server = Server::start();
    let first = push_image(&server, "ns/app", "v1", 1).await;
    api(&server, reqwest::Method::PATCH, "/api/v0/repositories/ns/app", json!({"immutableTags": true})).await;
    let same = client().get(server.url(&format!("/v2/ns/app/manifests/{first}"))).send().await.unwrap().text().await.unwrap();
    put_manifest(&server, "ns/app", "v1", "application/vnd.oci.image.manifest.v1+json", &same).await;
    let config = push_blob(&server, "ns/app", b"{}").await;
    let other = image_manifest((&config, 2), &[], "");
    let response = client()
        .put(server.url("/v2/ns/app/manifests/v1"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(other)
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 403, "DENIED").await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("immutable"), "{body}");
    let still = client().head(server.url("/v2/ns/app/manifests/v1")).send().await.unwrap();
    assert_eq!(still.headers()["docker-content-digest"], first.as_str());

    // Nor go: not by tag, not with the manifest it points at, not through the API.
    for path in ["/v2/ns/app/manifests/v1".to_owned(), format!("/v2/ns/app/manifests/{first}")] {
        let body = expect_error(client().delete(server.url(&path)).send().await.unwrap(), 403, "DENIED").await;
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("tag v1 cannot be deleted"), "{body}");
    }
    let refused = client().delete(server.url("/api/v0/repositories/ns/app/tags/v1")).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["errors"][0]["code"], "TAG_IMMUTABLE");
    assert_eq!(client().head(server.url("/v2/ns/app/manifests/v1")).send().await.unwrap().status(), 200);
    // Once the setting is off, the tag goes.
    api(&server, reqwest::Method::PATCH, "/api/v0/repositories/ns/app", json!({"immutableTags": false})).await;
    assert_eq!(client().delete(server.url("/v2/ns/app/manifests/v1")).send().await.unwrap().status(), 202);
}

#[tokio::test]
async fn bad_credentials_all_look_the_same() {
    let server = Server::start();
    organisation(&server).await;
    let long = "p".repeat(20_000);
    let cases: Vec<(&str, String)> = vec![
        ("wrong password", basic("alice", "nope")),
        ("unknown user", basic("nobody", "nope")),
        ("very long password", basic("alice", &long)),
        ("not base64", "Basic !!!not-base64!!!".into()),
        ("no colon", format!("Basic {}", "YWxpY2U=")),
        ("garbage bearer", "Bearer garbage".into()),
        ("forged bearer", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.".into()),
        ("unknown scheme", "Digest username=alice".into()),
    ];
    let mut messages = std::collections::HashSet::new();
    for (what, header) in cases {
        let response = anonymous().get(server.url("/v2/acme/app/tags/list")).header("authorization", header).send().await.unwrap();
        assert!(response.headers().contains_key("www-authenticate"), "{what}");
        let body = expect_error(response, 401, "UNAUTHORIZED").await;
        messages.insert(body["errors"][0]["message"].as_str().unwrap().to_owned());
    }
    assert_eq!(messages.len(), 1, "one message for every failure: {messages:?}");
    // Headers over the configured limit are refused before anything else.
    let huge = basic("alice", &"p".repeat(100_000));
    let response = anonymous().get(server.url("/v2/")).header("authorization", huge).send().await.unwrap();
    assert_eq!(response.status(), 431);
    // The API answers NOT_AUTHENTICATED the same way.
    let response = client_as("alice", "nope").get(server.url("/api/v0/accounts/alice")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "NOT_AUTHENTICATED");
}

#[tokio::test]
async fn failed_logins_are_limited_per_account_and_source() {
    let server = Server::start();
    api(&server, reqwest::Method::POST, "/api/v0/accounts", json!({"name": "alice", "password": PASSWORD})).await;
    for _ in 0..10 {
        let response = client_as("alice", "guess").get(server.url("/v2/")).send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
    // Now even the right password waits, for this account from this address.
    let response = client_as("alice", PASSWORD).get(server.url("/v2/")).send().await.unwrap();
    expect_error(response, 429, "TOOMANYREQUESTS").await;
    let token = client_as("alice", PASSWORD).get(server.url("/auth/token?service=berth")).send().await.unwrap();
    assert_eq!(token.status(), 429);
    // Another account from the same address is not locked (until the address itself has
    // failed too often, whatever the accounts).
    assert_eq!(client().get(server.url("/v2/")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn api_listings_effective_access_and_repository_deletion() {
    let server = Server::start();
    organisation(&server).await;
    for name in ["one", "two", "three", "four"] {
        api(&server, reqwest::Method::POST, "/api/v0/repositories/acme", json!({"name": name})).await;
    }
    // Paged with start/limit, Link and X-Total-Count.
    let mut next = Some("/api/v0/repositories?limit=2".to_owned());
    let mut seen = Vec::new();
    while let Some(path) = next.take() {
        let response = client().get(server.url(&path)).send().await.unwrap();
        assert_eq!(response.headers()["x-total-count"], "5");
        next = response.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_owned()
        });
        let body: serde_json::Value = response.json().await.unwrap();
        seen.extend(
            body["repositories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| format!("{}/{}", r["namespace"].as_str().unwrap(), r["name"].as_str().unwrap())),
        );
    }
    assert_eq!(seen, ["acme/app", "acme/four", "acme/one", "acme/three", "acme/two"]);
    // Bob sees only what he may pull.
    let bob: serde_json::Value =
        client_as("bob", PASSWORD).get(server.url("/api/v0/repositories/acme")).send().await.unwrap().json().await.unwrap();
    assert_eq!(bob["repositories"].as_array().unwrap().len(), 1);
    let accounts = client().get(server.url("/api/v0/accounts?limit=3")).send().await.unwrap();
    assert_eq!(accounts.headers()["x-total-count"], "7");
    let accounts: serde_json::Value = accounts.json().await.unwrap();
    assert_eq!(accounts["accounts"][0]["name"], "acme");
    assert_eq!(accounts["accounts"][0]["isOrg"], true);

    // Effective access, for oneself or by an admin.
    let access: serde_json::Value = client_as("bob", PASSWORD)
        .get(server.url("/api/v0/accounts/bob/repositoryAccess/acme/app"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(access["accessLevel"], "read-only");
    let access: serde_json::Value =
        client().get(server.url("/api/v0/accounts/erin/repositoryAccess/acme/app")).send().await.unwrap().json().await.unwrap();
    assert_eq!(access["accessLevel"], "admin");
    let access: serde_json::Value =
        client().get(server.url("/api/v0/accounts/alice/repositoryAccess/acme/app")).send().await.unwrap().json().await.unwrap();
    assert_eq!(access["accessLevel"], serde_json::Value::Null);
    assert_eq!(
        client_as("bob", PASSWORD).get(server.url("/api/v0/accounts/carol/repositoryAccess/acme/app")).send().await.unwrap().status(),
        403
    );

    let teams: serde_json::Value =
        client_as("dave", PASSWORD).get(server.url("/api/v0/repositories/acme/app/teamAccess")).send().await.unwrap().json().await.unwrap();
    assert_eq!(teams["teamAccessList"].as_array().unwrap().len(), 3, "{teams}");
    assert_eq!(
        client_as("carol", PASSWORD).get(server.url("/api/v0/repositories/acme/app/teamAccess")).send().await.unwrap().status(),
        403
    );

    // Deleting a repository takes everything in it.
    assert_eq!(client_as("carol", PASSWORD).delete(server.url("/api/v0/repositories/acme/app")).send().await.unwrap().status(), 403);
    assert_eq!(client_as("dave", PASSWORD).delete(server.url("/api/v0/repositories/acme/app")).send().await.unwrap().status(), 204);
    expect_error(client().get(server.url("/v2/acme/app/tags/list")).send().await.unwrap(), 404, "NAME_UNKNOWN").await;
    expect_error(client().get(server.url("/v2/acme/app/manifests/v1")).send().await.unwrap(), 404, "NAME_UNKNOWN").await;
    let gone = client().get(server.url("/api/v0/repositories/acme/app")).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    let body: serde_json::Value = gone.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "NO_SUCH_REPOSITORY");
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let server = Server::start();
    let response = anonymous().get(server.url("/api/v0/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v0/accounts", "post"),
        ("/api/v0/accounts", "get"),
        ("/api/v0/accounts/{name}", "patch"),
        ("/api/v0/accounts/{org}/teams/{team}/members/{user}", "put"),
        ("/api/v0/repositories", "get"),
        ("/api/v0/repositories/{ns}/{repo}", "delete"),
        ("/api/v0/repositories/{ns}/{repo}/teamAccess/{team}", "put"),
        ("/api/v0/repositoryNamespaces/{ns}/teamAccess/{team}", "put"),
        ("/api/v0/accounts/{user}/repositoryAccess/{ns}/{repo}", "get"),
        ("/api/v0/accounts/{user}/tokens", "post"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not documented");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas["NewAccount"]["properties"].get("isOrg").is_some(), "{}", schemas["NewAccount"]);
    assert!(schemas["AccessLevel"]["properties"].get("accessLevel").is_some());
}
