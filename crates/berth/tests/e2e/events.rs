//! The audit log over HTTP and from the command line: a whole session of actions with
//! who (user, token), what, when, from where and the result; filters, paging by `Link`,
//! what each user may see, and the JSON-lines export.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;
use crate::webhooks::{api, api_as, push_untagged, server_for_hooks};

const PASSWORD: &str = "correct horse battery";

/// Every page of `path` (a query included), following `Link: <…>; rel="next"`.
async fn all_pages(http: &reqwest::Client, server: &Server, path: &str) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut next = Some(path.to_owned());
    let mut pages = 0;
    while let Some(path) = next.take() {
        let response = http.get(server.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        next = response.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with("rel=\"next\""), "{l}");
            l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_owned()
        });
        let page: Value = response.json().await.unwrap();
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        pages += 1;
        assert!(pages < 1000, "paging does not end");
    }
    (events, pages)
}

/// The events of the `user=` filter, waiting until `wanted` holds (pulls are written a moment later).
async fn events_until(server: &Server, query: &str, wanted: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (events, _) = all_pages(&client(), server, &format!("/api/v0/events?{query}")).await;
        if wanted(&events) || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn kinds(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

fn find<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events.iter().find(|e| e["type"] == kind).unwrap_or_else(|| panic!("no {kind} in {:?}", kinds(events)))
}

#[tokio::test]
async fn a_session_is_recorded_with_who_what_where_and_result() {
    let (server, _temp) = server_for_hooks("");
    let started = time::OffsetDateTime::now_utc();
    api(&server, Method::POST, "/api/v0/accounts", json!({"name": "alice", "password": PASSWORD})).await;
    api(&server, Method::POST, "/api/v0/accounts", json!({"name": "bob", "password": PASSWORD})).await;
    org(&server, "audit").await;
    api(&server, Method::POST, "/api/v0/accounts/audit/teams", json!({"name": "devs"})).await;
    api(&server, Method::PUT, "/api/v0/accounts/audit/teams/devs/members/alice", json!({})).await;
    api(&server, Method::PUT, "/api/v0/repositories/audit/app/teamAccess/devs", json!({"accessLevel": "read-write"})).await;
    let (token, token_id) = access_token(&server, "alice", PASSWORD, "ci").await;
    let alice = client_as("alice", &token);

    // alice pushes with her token, pulls twice, then pushes over a tag made immutable (refused).
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_digest = digest(config);
    let up =
        alice.post(server.url(&format!("/v2/audit/app/blobs/uploads/?digest={config_digest}"))).body(config.to_vec()).send().await.unwrap();
    assert_eq!(up.status(), 201);
    let manifest = image_manifest((&config_digest, config.len()), &[], "");
    let put = |body: String| {
        alice
            .put(server.url("/v2/audit/app/manifests/v1"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(body)
            .send()
    };
    assert_eq!(put(manifest.clone()).await.unwrap().status(), 201);
    for _ in 0..2 {
        let response = alice
            .get(server.url("/v2/audit/app/manifests/v1"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    api(&server, Method::PATCH, "/api/v0/repositories/audit/app", json!({"immutableTags": true})).await;
    let refused = put(image_manifest((&config_digest, config.len()), &[], r#","annotations":{"again":"yes"}"#)).await.unwrap();
    assert_eq!(refused.status(), 403, "an immutable tag refuses a new manifest");
    api_as(&client_as("alice", PASSWORD), &server, Method::DELETE, &format!("/api/v0/accounts/alice/tokens/{token_id}"), Value::Null).await;

    // Her events, newest first, with her token where she used it and the caller's address.
    let events = events_until(&server, "user=alice", |e| e.iter().any(|e| e["type"] == "TAG_PULL")).await;
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert!(events.iter().all(|e| e["user"] == "alice" && e["sourceAddress"] == "127.0.0.1"), "{events:?}");
    let pushes: Vec<&Value> = events.iter().filter(|e| e["type"] == "TAG_PUSH").collect();
    assert_eq!(pushes.len(), 2, "{:?}", kinds(&events));
    assert_eq!(pushes[0]["result"], "TAG_IMMUTABLE", "the refused push is recorded as refused");
    assert_eq!(pushes[1]["result"], "ok");
    assert_eq!(pushes[1]["token"], token_id.as_str());
    assert_eq!(pushes[1]["repository"], "audit/app");
    assert_eq!(pushes[1]["object"], "v1");
    assert_eq!(pushes[1]["digest"], digest(manifest.as_bytes()));
    let pull = find(&events, "TAG_PULL");
    assert_eq!(pull["count"], 2, "two pulls within a flush are one event counted twice");
    assert_eq!(pull["token"], token_id.as_str());
    let created = find(&events, "TOKEN_CREATE");
    assert_eq!(created["details"]["name"], "ci");
    assert!(created.get("token").is_none() || created["token"].is_null(), "made with her password, not a token");
    assert_eq!(find(&events, "TOKEN_REVOKE")["details"]["token"], token_id.as_str());
    assert!(!serde_json::to_string(&events).unwrap().contains(&token), "a token's secret is never logged");

    // The administrator's actions, in order.
    let admin = events_until(&server, "user=admin", |_| true).await;
    let mut admin_kinds = kinds(&admin);
    admin_kinds.reverse();
    let expected = ["ACCOUNT_CREATE", "ACCOUNT_CREATE", "ACCOUNT_CREATE", "TEAM_CREATE", "TEAM_MEMBER_ADD", "GRANT_UPDATE", "REPO_UPDATED"];
    assert_eq!(admin_kinds, expected);
    let grant = find(&admin, "GRANT_UPDATE");
    assert_eq!(
        (grant["repository"].as_str(), grant["object"].as_str(), grant["details"]["level"].as_str()),
        (Some("audit/app"), Some("audit/devs"), Some("read-write"))
    );
    let accounts: Vec<&str> = admin.iter().filter(|e| e["type"] == "ACCOUNT_CREATE").map(|e| e["object"].as_str().unwrap()).collect();
    assert_eq!(accounts, ["audit", "bob", "alice"]);
    assert!(!serde_json::to_string(&admin).unwrap().contains(PASSWORD), "no password is logged");

    // Filters: type, repository, time.
    let (pushes, _) = all_pages(&client(), &server, "/api/v0/events?type=tag_push").await;
    assert_eq!(kinds(&pushes), ["TAG_PUSH", "TAG_PUSH"]);
    let (repo, _) = all_pages(&client(), &server, "/api/v0/events?repository=audit/app").await;
    assert!(repo.iter().all(|e| e["repository"] == "audit/app"));
    assert_eq!(repo.len(), 5, "grant, push, pull, update, refused push: {:?}", kinds(&repo));
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + 1;
    let (none, _) = all_pages(&client(), &server, &format!("/api/v0/events?since={now}")).await;
    assert!(none.is_empty());
    let since = started.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (everything, _) = all_pages(&client(), &server, &format!("/api/v0/events?since={since}&until={now}")).await;
    assert!(everything.len() >= admin.len() + events.len());
    let response = client().get(server.url("/api/v0/events?since=yesterday")).send().await.unwrap();
    expect_error(response, 400, "INVALID_INPUT").await;
    let response = client().get(server.url("/api/v0/events?colour=blue")).send().await.unwrap();
    expect_error(response, 400, "INVALID_INPUT").await;

    // Paging: pages of 2 give the same events as one page, none twice.
    let (one_page, pages) = all_pages(&client(), &server, "/api/v0/events?limit=1000").await;
    assert_eq!(pages, 1);
    let (paged, pages) = all_pages(&client(), &server, "/api/v0/events?limit=2").await;
    assert_eq!(pages, one_page.len().div_ceil(2));
    assert_eq!(paged, one_page);
    let (paged, _) = all_pages(&client(), &server, "/api/v0/events?user=alice&limit=1").await;
    assert_eq!(paged.len(), events.len());

    // The export: the same events, one JSON object per line.
    let response = client().get(server.url("/api/v0/events/export")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let exported: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(exported, one_page, "the export holds what the list held");
}

#[tokio::test]
async fn each_user_sees_only_what_they_may_read() {
    let (server, _temp) = server_for_hooks("");
    for user in ["alice", "bob"] {
        api(&server, Method::POST, "/api/v0/accounts", json!({"name": user, "password": PASSWORD})).await;
    }
    org(&server, "corp").await;
    api(&server, Method::POST, "/api/v0/repositories/corp", json!({"name": "secret", "visibility": "private"})).await;
    api(&server, Method::POST, "/api/v0/repositories/corp", json!({"name": "open", "visibility": "public"})).await;
    api(&server, Method::POST, "/api/v0/accounts/corp/teams", json!({"name": "devs"})).await;
    api(&server, Method::PUT, "/api/v0/accounts/corp/teams/devs/members/alice", json!({})).await;
    api(&server, Method::PUT, "/api/v0/repositories/corp/secret/teamAccess/devs", json!({"accessLevel": "read-only"})).await;
    push_image(&server, "corp/secret", "v1", 1).await;
    push_untagged(&server, "corp/open", 2).await;
    access_token(&server, "bob", PASSWORD, "laptop").await;

    let alice = client_as("alice", PASSWORD);
    let bob = client_as("bob", PASSWORD);
    let (seen_by_admin, _) = all_pages(&client(), &server, "/api/v0/events").await;
    let (seen_by_alice, _) = all_pages(&alice, &server, "/api/v0/events").await;
    let (seen_by_bob, _) = all_pages(&bob, &server, "/api/v0/events").await;
    let repositories = |events: &[Value]| {
        let mut r: Vec<String> = events.iter().filter_map(|e| e["repository"].as_str().map(str::to_owned)).collect();
        r.sort();
        r.dedup();
        r
    };
    assert_eq!(repositories(&seen_by_admin), ["corp/open", "corp/secret"]);
    assert_eq!(repositories(&seen_by_alice), ["corp/open", "corp/secret"], "alice reads corp/secret through her team");
    assert_eq!(repositories(&seen_by_bob), ["corp/open"], "bob cannot read corp/secret, so he does not see its events");
    // Account events: one's own only; administrators all.
    assert!(seen_by_bob.iter().any(|e| e["type"] == "TOKEN_CREATE"), "bob sees his own token");
    assert!(seen_by_alice.iter().all(|e| e["type"] != "TOKEN_CREATE"), "alice does not see bob's token");
    assert!(seen_by_alice.iter().all(|e| e["type"] != "ACCOUNT_CREATE" || e["object"] == "alice"));
    assert!(seen_by_admin.len() > seen_by_alice.len());
    // A filter on a repository one cannot read finds nothing, the same as on one with no events.
    let (filtered, _) = all_pages(&bob, &server, "/api/v0/events?repository=corp/secret").await;
    assert!(filtered.is_empty());
    let text = bob.get(server.url("/api/v0/events/export")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("corp/secret"), "nor does the export show it");
    let response = anonymous().get(server.url("/api/v0/events")).send().await.unwrap();
    assert_eq!(response.status(), 401);

    // An administrator's token limited to pulling corp/open reads as that token, not as the
    // administrator: corp/open's events only, no account events, and it manages no webhook.
    let narrow = client()
        .post(server.url("/api/v0/accounts/admin/tokens"))
        .json(&json!({"name": "narrow", "repositories": ["corp/open"], "actions": ["pull"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(narrow.status(), 201);
    let narrow: Value = narrow.json().await.unwrap();
    let narrow = client_as("admin", narrow["token"].as_str().unwrap());
    let (seen_by_token, _) = all_pages(&narrow, &server, "/api/v0/events").await;
    assert!(!seen_by_token.is_empty());
    assert!(seen_by_token.iter().all(|e| e["repository"] == "corp/open"), "{seen_by_token:?}");
    let hook = json!({"type": "TAG_PUSH", "key": "corp/open", "endpoint": "https://hooks.example/x"});
    let response = narrow.post(server.url("/api/v0/webhooks")).json(&hook).send().await.unwrap();
    expect_error(response, 403, "NOT_AUTHORIZED").await;
}

fn berth(server: &Server, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("BERTH_URL", &server.http)
        .env("BERTH_PASSWORD", ADMIN_PASSWORD)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "berth {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// Two threads: the receiver answers while the test waits for the blocking `berth` commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_events_from_the_command_line() {
    let (server, _temp) = server_for_hooks("");
    let receiver = crate::receiver::Receiver::plain().await;
    org(&server, "cli").await;
    let secret = berth(&server, &["webhook", "add", "TAG_PUSH", "cli/app", &receiver.url]);
    let secret = secret.trim();
    assert_eq!(secret.len(), 64, "add prints the secret: {secret}");
    let listed: Value = serde_json::from_str(&berth(&server, &["webhook", "list", "--json"])).unwrap();
    let id = listed["webhooks"][0]["id"].as_str().unwrap().to_owned();
    let table = berth(&server, &["webhook", "list"]);
    assert!(table.contains(&id) && table.contains("TAG_PUSH") && table.contains("cli/app"), "{table}");

    // `berth events --follow` prints events as they come.
    let mut follow = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["events", "--follow", "--type", "TAG_PUSH", "--json"])
        .env("BERTH_URL", &server.http)
        .env("BERTH_PASSWORD", ADMIN_PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let digest = push_image(&server, "cli/app", "v1", 1).await;
    let line = rx.recv_timeout(Duration::from_secs(15)).expect("berth events --follow printed the push");
    let _ = follow.kill();
    let _ = follow.wait();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["type"], "TAG_PUSH");
    assert_eq!(event["digest"], digest.as_str());

    let received = receiver.wait_for_type("TAG_PUSH").await;
    assert!(crate::receiver::signature_valid(secret, &received), "the printed secret signs the deliveries");
    let deadline = Instant::now() + Duration::from_secs(15);
    let deliveries = loop {
        let table = berth(&server, &["webhook", "deliveries", &id]);
        if table.contains("delivered") || Instant::now() > deadline {
            break table;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(deliveries.contains("delivered") && deliveries.contains("200"), "{deliveries}");
    let test = berth(&server, &["webhook", "test", &id]);
    assert!(test.contains("200"), "{test}");

    let events = berth(&server, &["events", "--repository", "cli/app"]);
    assert!(events.contains("TAG_PUSH") && events.contains("admin") && events.contains("v1"), "{events}");
    let events: Value = serde_json::from_str(&berth(&server, &["events", "--by", "admin", "--type", "WEBHOOK_CREATE", "--json"])).unwrap();
    assert_eq!(events["events"][0]["object"], id.as_str());

    berth(&server, &["webhook", "remove", &id]);
    let listed: Value = serde_json::from_str(&berth(&server, &["webhook", "list", "--json"])).unwrap();
    assert_eq!(listed["webhooks"], json!([]));
}
