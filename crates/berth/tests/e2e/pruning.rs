//! Pruning policies and tag limits, through the API and the command line: rules on names,
//! push and pull times, the newest kept, a dry run that lists exactly what the run
//! removes, signed and immutable tags kept unless the policy says so, every removal an
//! audited tag deletion, the schedule, and only repository admins in charge.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;
use crate::webhooks::{api, api_as};

const POLICIES: &str = "/api/v0/repositories/acme/app/pruningPolicies";

/// A server whose pulls are written each second, and whose schedule runs every `every` seconds.
fn server(every: u64) -> (Server, tempfile::TempDir) {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("berth.toml");
    std::fs::write(&config, format!("[events]\npull_flush_secs = 1\n[policies]\npruning_interval_secs = {every}\n")).unwrap();
    let server = Server::start_in(&temp.path().join("data"), &["--config", config.to_str().unwrap()]);
    (server, temp)
}

/// The repository's tags, sorted.
async fn tags(server: &Server, repo: &str) -> Vec<String> {
    let response = client().get(server.url(&format!("/v2/{repo}/tags/list"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let mut tags: Vec<String> =
        body["tags"].as_array().map(|t| t.iter().map(|t| t.as_str().unwrap().to_owned()).collect()).unwrap_or_default();
    tags.sort();
    tags
}

/// Pushes each tag (a distinct image each) a second apart, so that their ages order them.
async fn push_in_order(server: &Server, repo: &str, names: &[&str], seed: u64) {
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        push_image(server, repo, name, seed + i as u64).await;
    }
}

/// Makes a policy; its id.
async fn policy(server: &Server, body: Value) -> String {
    api(server, Method::POST, POLICIES, body).await["id"].as_str().unwrap().to_owned()
}

/// Runs a policy (dry or not); the tag names it lists, in its order.
async fn run(server: &Server, id: &str, dry: bool) -> Vec<String> {
    let result = api(server, Method::POST, &format!("{POLICIES}/{id}/run?dryRun={dry}"), Value::Null).await;
    assert_eq!(result["dryRun"], dry);
    result["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn policies_remove_what_their_dry_run_lists_keeping_the_newest() {
    let (server, _temp) = server(0);
    org(&server, "acme").await;
    push_in_order(&server, "acme/app", &["dev-1", "dev-2", "dev-3", "dev-4"], 10).await;
    push_image(&server, "acme/app", "v1.0", 20).await;
    push_image(&server, "acme/app", "release-2", 21).await;

    let id = policy(&server, json!({"rules": [{"field": "tag", "operator": "sw", "values": ["dev-"]}], "keepNewest": 1})).await;
    let listed = api(&server, Method::GET, POLICIES, Value::Null).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["createdBy"], "admin");
    assert_eq!(listed[0]["enabled"], true, "enabled unless said otherwise");
    assert_eq!(listed[0]["lastRun"], Value::Null);

    // The dry run lists the matching tags but the newest, newest first, and removes nothing.
    let dry = run(&server, &id, true).await;
    assert_eq!(dry, ["dev-3", "dev-2", "dev-1"]);
    assert_eq!(tags(&server, "acme/app").await.len(), 6);
    // The run removes exactly those.
    assert_eq!(run(&server, &id, false).await, dry);
    assert_eq!(tags(&server, "acme/app").await, ["dev-4", "release-2", "v1.0"]);
    let stored = api(&server, Method::GET, &format!("{POLICIES}/{id}"), Value::Null).await;
    assert_eq!(stored["lastRun"]["pruned"], 3, "{stored}");
    // The manifests stay (a pull by digest still works); garbage collection takes them later.
    assert_eq!(run(&server, &id, false).await, Vec::<String>::new(), "a second run finds nothing");
    let last_run = api(&server, Method::GET, &format!("{POLICIES}/{id}"), Value::Null).await["lastRun"].clone();
    assert_eq!(last_run["pruned"], 0, "{last_run}");

    // Each removal is a tag deletion in the audit log, saying which policy did it.
    let events = api(&server, Method::GET, "/api/v0/events?type=TAG_DELETE&repository=acme/app", Value::Null).await;
    let pruned: Vec<&Value> =
        events["events"].as_array().unwrap().iter().filter(|e| e["details"]["pruned"]["policy"] == id.as_str()).collect();
    let mut names: Vec<&str> = pruned.iter().map(|e| e["object"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["dev-1", "dev-2", "dev-3"], "{events}");
    assert!(pruned.iter().all(|e| e["user"] == "admin" && e["digest"].as_str().unwrap().starts_with("sha256:")));

    // Regular expressions name whole tags; rules all hold; a changed policy keeps its history.
    let changed = api(
        &server,
        Method::PUT,
        &format!("{POLICIES}/{id}"),
        json!({"rules": [{"field": "tag", "operator": "matches", "values": ["v[0-9]+\\.[0-9]+|release-.*"]},
                         {"field": "tag", "operator": "neq", "values": ["release-2"]}], "enabled": false}),
    )
    .await;
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["lastRun"], last_run, "a change keeps the policy's last run");
    assert_eq!(run(&server, &id, true).await, ["v1.0"]);

    // Deleted, it is gone.
    let response = client().delete(server.url(&format!("{POLICIES}/{id}"))).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let response = client().post(server.url(&format!("{POLICIES}/{id}/run"))).send().await.unwrap();
    expect_error(response, 404, "NO_SUCH_POLICY").await;
}

#[tokio::test]
async fn age_and_last_pull_rules_count_from_the_tags_own_times() {
    let (server, _temp) = server(0);
    org(&server, "acme").await;
    push_image(&server, "acme/app", "old", 1).await;
    push_image(&server, "acme/app", "old-pulled", 2).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    push_image(&server, "acme/app", "new", 3).await;
    let pulled = client()
        .get(server.url("/v2/acme/app/manifests/old-pulled"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), 200);

    let aged = policy(&server, json!({"rules": [{"field": "pushed", "operator": "olderThan", "values": ["2s"]}]})).await;
    let mut dry = run(&server, &aged, true).await;
    dry.sort();
    assert_eq!(dry, ["old", "old-pulled"]);
    // Pulls are written within a second; until then, and after, `old` is the one not pulled.
    let unpulled = policy(&server, json!({"rules": [{"field": "pulled", "operator": "olderThan", "values": ["2s"]}]})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while run(&server, &unpulled, true).await != ["old"] {
        assert!(Instant::now() < deadline, "the pull of old-pulled was never recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(run(&server, &unpulled, false).await, ["old"]);
    assert_eq!(tags(&server, "acme/app").await, ["new", "old-pulled"]);
}

#[tokio::test]
async fn rules_that_cannot_hold_and_callers_who_may_not_are_refused() {
    let (server, _temp) = server(0);
    org(&server, "acme").await;
    push_image(&server, "acme/app", "v1", 1).await;
    for (rule, why) in [
        (json!({"field": "tag", "operator": "like", "values": ["x"]}), "operator"),
        (json!({"field": "tag", "operator": "matches", "values": ["(unclosed"]}), "regular expression"),
        (json!({"field": "pushed", "operator": "olderThan", "values": ["soon"]}), "duration"),
        (json!({"field": "size", "operator": "eq", "values": ["1"]}), "field"),
        (json!({"field": "tag", "operator": "eq", "values": []}), "at least one value"),
    ] {
        let response = client().post(server.url(POLICIES)).json(&json!({"rules": [rule]})).send().await.unwrap();
        let body = expect_error(response, 400, "INVALID_INPUT").await;
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(why), "{body}");
    }
    let typo = client().post(server.url(POLICIES)).json(&json!({"rules": [], "keepNewst": 3})).send().await.unwrap();
    assert!(typo.status().is_client_error(), "an unknown field is refused, not ignored: {}", typo.status());
    assert_eq!(api(&server, Method::GET, POLICIES, Value::Null).await, json!([]), "nothing was stored");
    let response = client().get(server.url("/api/v0/repositories/acme/nothing/pruningPolicies")).send().await.unwrap();
    expect_error(response, 404, "NO_SUCH_REPOSITORY").await;

    // A user who may push, but is not the repository's admin, neither sees nor makes policies.
    api(&server, Method::POST, "/api/v0/accounts", json!({"name": "dev", "password": "dev-password-1"})).await;
    api(&server, Method::POST, "/api/v0/accounts/acme/teams", json!({"name": "devs"})).await;
    api(&server, Method::PUT, "/api/v0/accounts/acme/teams/devs/members/dev", json!({})).await;
    api(&server, Method::PUT, "/api/v0/repositories/acme/app/teamAccess/devs", json!({"accessLevel": "read-write"})).await;
    let dev = client_as("dev", "dev-password-1");
    let id = policy(&server, json!({"rules": [{"field": "tag", "operator": "eq", "values": ["v1"]}]})).await;
    for (method, path) in [
        (Method::GET, POLICIES.to_owned()),
        (Method::POST, POLICIES.to_owned()),
        (Method::POST, format!("{POLICIES}/{id}/run")),
        (Method::DELETE, format!("{POLICIES}/{id}")),
    ] {
        let response = dev.request(method.clone(), server.url(&path)).json(&json!({"rules": []})).send().await.unwrap();
        expect_error(response, 403, "NOT_AUTHORIZED").await;
        let response = anonymous().request(method, server.url(&path)).json(&json!({"rules": []})).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
    assert_eq!(tags(&server, "acme/app").await, ["v1"]);
    // As repository admin, the same user may.
    api(&server, Method::PUT, "/api/v0/repositories/acme/app/teamAccess/devs", json!({"accessLevel": "admin"})).await;
    assert_eq!(api_as(&dev, &server, Method::GET, POLICIES, Value::Null).await.as_array().unwrap().len(), 1);

    // A repository deleted and made again starts without the old policies.
    api(&server, Method::DELETE, "/api/v0/repositories/acme/app", Value::Null).await;
    push_image(&server, "acme/app", "v1", 1).await;
    assert_eq!(api(&server, Method::GET, POLICIES, Value::Null).await, json!([]));
}

#[tokio::test]
async fn signed_and_immutable_tags_stay_unless_the_policy_says_so() {
    if !client_available("notary", &["version"]) {
        return;
    }
    let (server, _temp) = server(0);
    org(&server, "acme").await;
    push_image(&server, "acme/app", "dev-signed", 1).await;
    push_image(&server, "acme/app", "dev-plain", 2).await;
    let gun = format!("{}/acme/app", server.https_localhost());
    let trust = tempfile::tempdir().unwrap();
    let target = trust.path().join("target");
    std::fs::write(&target, b"the signed content").unwrap();
    let notary = || crate::trust::notary(&server, &trust.path().join("trust"));
    crate::clients::run(notary().args(["init", &gun, "-p"]));
    crate::clients::run(notary().args(["add", &gun, "dev-signed", target.to_str().unwrap()]));
    crate::clients::run(notary().args(["publish", &gun]));

    let dev = json!([{"field": "tag", "operator": "sw", "values": ["dev-"]}]);
    let keeps_signed = policy(&server, json!({"rules": dev})).await;
    assert_eq!(run(&server, &keeps_signed, true).await, ["dev-plain"]);
    let prunes_signed = policy(&server, json!({"rules": dev, "pruneSigned": true})).await;
    let mut both = run(&server, &prunes_signed, true).await;
    both.sort();
    assert_eq!(both, ["dev-plain", "dev-signed"]);

    api(&server, Method::PATCH, "/api/v0/repositories/acme/app", json!({"immutableTags": true})).await;
    assert_eq!(run(&server, &keeps_signed, false).await, Vec::<String>::new(), "immutable tags stay");
    let prunes_immutable = policy(&server, json!({"rules": dev, "pruneImmutable": true})).await;
    assert_eq!(run(&server, &prunes_immutable, false).await, ["dev-plain"]);
    assert_eq!(tags(&server, "acme/app").await, ["dev-signed"]);
}

#[tokio::test]
async fn a_tag_limit_prunes_the_oldest_tags_on_push() {
    let (server, _temp) = server(0);
    org(&server, "acme").await;
    push_in_order(&server, "acme/app", &["t1", "t2"], 1).await;
    let repo = api(&server, Method::PATCH, "/api/v0/repositories/acme/app", json!({"tagLimit": 3})).await;
    assert_eq!(repo["tagLimit"], 3);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    push_in_order(&server, "acme/app", &["t3", "t4", "t5"], 3).await;
    assert_eq!(tags(&server, "acme/app").await, ["t3", "t4", "t5"]);
    // Moving an existing tag adds none: nothing goes.
    push_image(&server, "acme/app", "t3", 99).await;
    assert_eq!(tags(&server, "acme/app").await, ["t3", "t4", "t5"]);
    let events = api(&server, Method::GET, "/api/v0/events?type=TAG_DELETE&repository=acme/app", Value::Null).await;
    let limited: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["pruned"]["tagLimit"] == true)
        .map(|e| e["object"].as_str().unwrap())
        .collect();
    assert_eq!(limited.len(), 2, "{events}");
    api(&server, Method::PATCH, "/api/v0/repositories/acme/app", json!({"tagLimit": 0})).await;
    push_image(&server, "acme/app", "t6", 6).await;
    assert_eq!(tags(&server, "acme/app").await.len(), 4, "no limit any more");
}

#[tokio::test]
async fn the_schedule_runs_enabled_policies_made_from_the_command_line() {
    use crate::cli::{berth, json as cli_json, ok};
    let (server, _temp) = server(1);
    org(&server, "acme").await;
    for (i, tag) in ["tmp-1", "tmp-2", "keep", "ci-1"].iter().enumerate() {
        push_image(&server, "acme/app", tag, i as u64).await;
    }
    let bad = berth(&server, &["pruning", "add", "acme/app", "--rule", "tag"], "");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("FIELD OPERATOR VALUE"), "{}", String::from_utf8_lossy(&bad.stderr));
    let disabled = cli_json(berth(&server, &["pruning", "add", "acme/app", "--rule", "tag eq ci-1", "--disabled", "--json"], ""));
    let made = ok(berth(&server, &["pruning", "add", "acme/app", "--rule", "tag sw tmp-", "--keep-newest", "0"], ""));
    assert!(made.starts_with("pruning policy ") && made.contains("tag sw tmp-"), "{made}");

    // The schedule (every second here) runs the enabled policy, not the disabled one.
    let deadline = Instant::now() + Duration::from_secs(15);
    while tags(&server, "acme/app").await != ["ci-1", "keep"] {
        assert!(Instant::now() < deadline, "the schedule did not prune: {:?}", tags(&server, "acme/app").await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let listed = ok(berth(&server, &["pruning", "list", "acme/app"], ""));
    assert_eq!(listed.lines().count(), 3, "a header and two policies: {listed}");
    let events = api(&server, Method::GET, "/api/v0/events?type=TAG_DELETE&repository=acme/app", Value::Null).await;
    assert!(events["events"].as_array().unwrap().iter().all(|e| e["job"] == "pruning"), "{events}");

    // On demand, the disabled one runs, dry first.
    let id = disabled["id"].as_str().unwrap();
    let dry = berth(&server, &["pruning", "run", "acme/app", id, "--dry-run"], "");
    let note = String::from_utf8_lossy(&dry.stderr).into_owned();
    assert!(ok(dry).contains("ci-1") && note.contains("would remove 1 tags"), "{note}");
    assert_eq!(tags(&server, "acme/app").await, ["ci-1", "keep"]);
    ok(berth(&server, &["pruning", "run", "acme/app", id], ""));
    assert_eq!(tags(&server, "acme/app").await, ["keep"]);
    ok(berth(&server, &["pruning", "remove", "acme/app", id], ""));
    let changed = ok(berth(&server, &["repo", "change", "acme/app", "--tag-limit", "5"], ""));
    assert!(changed.contains("tag limit") && changed.contains('5'), "{changed}");

    // A policy acts for its maker: once they no longer administer the repository, its
    // scheduled runs are refused, remove nothing, and say why.
    api(&server, Method::POST, "/api/v0/accounts", json!({"name": "ex", "password": "ex-password-12"})).await;
    api(&server, Method::POST, "/api/v0/accounts/acme/teams", json!({"name": "keepers"})).await;
    api(&server, Method::PUT, "/api/v0/accounts/acme/teams/keepers/members/ex", json!({})).await;
    api(&server, Method::PUT, "/api/v0/repositories/acme/app/teamAccess/keepers", json!({"accessLevel": "admin"})).await;
    let ex = client_as("ex", "ex-password-12");
    let rules = json!([{"field": "tag", "operator": "sw", "values": ["old-"]}]);
    let made = api_as(&ex, &server, Method::POST, POLICIES, json!({"rules": rules})).await;
    api(&server, Method::DELETE, "/api/v0/repositories/acme/app/teamAccess/keepers", Value::Null).await;
    push_image(&server, "acme/app", "old-1", 9).await;
    let path = format!("{POLICIES}/{}", made["id"].as_str().unwrap());
    let last = wait_for_field(&server, &path, "lastRun").await;
    assert_eq!(last["error"], "ex no longer administers acme/app", "{last}");
    assert_eq!(last["pruned"], 0);
    assert!(tags(&server, "acme/app").await.contains(&"old-1".to_owned()));
}
