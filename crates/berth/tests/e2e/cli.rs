//! The administration commands, run as a user would, against a running server.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::harness::*;

pub(crate) fn berth(server: &Server, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("BERTH_URL", &server.http)
        .env("BERTH_PASSWORD", ADMIN_PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        eprintln!("berth {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    out
}

pub(crate) fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `--json` output, parsed.
pub(crate) fn json(out: Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).unwrap()
}

/// A table's rows (after its header), split into cells.
fn rows(table: &str) -> Vec<Vec<String>> {
    table.lines().skip(1).map(|l| l.split_whitespace().map(str::to_owned).collect()).collect()
}

#[tokio::test]
async fn users_orgs_teams_grants_and_tokens_from_the_command_line() {
    let server = Server::start();
    assert_eq!(
        ok(berth(&server, &["user", "add", "alice", "--full-name", "Alice"], "alice's first password\n")).trim(),
        "user alice created"
    );
    ok(berth(&server, &["org", "add", "acme"], ""));
    ok(berth(&server, &["team", "add", "acme", "devs", "--description", "developers"], ""));
    ok(berth(&server, &["team", "add", "acme", "ops"], ""));
    assert_eq!(ok(berth(&server, &["team", "member", "add", "acme", "devs", "alice"], "")).trim(), "alice is a member of acme/devs");
    assert_eq!(ok(berth(&server, &["grant", "set", "acme", "devs", "read-write"], "")).trim(), "acme/devs has read-write access to acme");

    // Tables for people, the API's JSON for scripts.
    let users = ok(berth(&server, &["user", "list"], ""));
    assert!(users.starts_with("NAME "), "{users}");
    assert_eq!(rows(&users), [vec!["admin", "Administrator", "admin", "yes"], vec!["alice", "Alice", "user", "yes"]], "{users}");
    let listed = json(berth(&server, &["user", "list", "--json"], ""));
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed[1]["fullName"], "Alice");
    assert_eq!(rows(&ok(berth(&server, &["org", "list"], ""))), [vec!["acme"]]);
    let org = ok(berth(&server, &["org", "show", "acme"], ""));
    assert!(org.contains("teams      devs, ops, owners"), "{org}");
    let team = ok(berth(&server, &["team", "show", "acme", "devs"], ""));
    assert!(team.contains("members      alice") && team.contains("description  developers"), "{team}");
    assert_eq!(rows(&ok(berth(&server, &["team", "member", "list", "acme", "devs"], ""))), [vec!["alice"]]);
    assert_eq!(rows(&ok(berth(&server, &["grant", "list", "acme"], ""))), [vec!["acme/devs", "read-write"]]);

    // The grant works: alice may push to acme/*.
    let alice = client_as("alice", "alice's first password");
    let push = alice.post(server.url(&format!("/v2/acme/app/blobs/uploads/?digest={}", digest(b"x")))).body("x").send().await.unwrap();
    assert_eq!(push.status(), 201);

    // Repositories and their settings; a grant on one repository.
    assert_eq!(
        ok(berth(&server, &["repo", "create", "acme/web", "--public", "--description", "the site"], "")).trim(),
        "public repository acme/web created"
    );
    let repos = ok(berth(&server, &["repo", "list", "acme"], ""));
    assert_eq!(rows(&repos), [vec!["acme/app", "private"], vec!["acme/web", "public", "the", "site"]], "{repos}");
    let changed = ok(berth(&server, &["repo", "change", "acme/web", "--immutable-tags", "yes", "--visibility", "private"], ""));
    assert!(changed.contains("visibility         private") && changed.contains("immutable tags     yes"), "{changed}");
    ok(berth(&server, &["grant", "set", "acme/web", "ops", "admin"], ""));
    assert_eq!(rows(&ok(berth(&server, &["grant", "list", "acme/web"], ""))), [vec!["acme/ops", "admin"]]);
    ok(berth(&server, &["grant", "revoke", "acme/web", "ops"], ""));
    assert!(rows(&ok(berth(&server, &["grant", "list", "acme/web"], ""))).is_empty());

    // Tags: listed with their signed state, deleted.
    push_image(&server, "acme/app", "v1", 3).await;
    let tags = ok(berth(&server, &["tag", "list", "acme/app"], ""));
    assert_eq!(rows(&tags).len(), 1, "{tags}");
    assert!(rows(&tags)[0][0] == "v1" && rows(&tags)[0][2] == "no", "{tags}");
    assert!(ok(berth(&server, &["tag", "show", "acme/app:v1"], "")).contains("signed  no"));
    ok(berth(&server, &["tag", "delete", "acme/app:v1"], ""));
    assert!(rows(&ok(berth(&server, &["tag", "list", "acme/app"], ""))).is_empty());

    // Quotas and signing policies.
    let quota = ok(berth(&server, &["quota", "set", "acme", "10GiB"], ""));
    assert!(quota.contains("limit      10.0 GiB"), "{quota}");
    assert_eq!(json(berth(&server, &["quota", "show", "acme", "--json"], ""))["limitBytes"], 10u64 << 30);
    assert!(ok(berth(&server, &["quota", "set", "acme", "none"], "")).contains("limit      none"));
    let policy = ok(berth(&server, &["signing", "set", "acme", "--signed-pulls-only", "yes"], ""));
    assert!(policy.contains("signed pulls only  yes"), "{policy}");

    // A pull-only token, shown once, listed, then revoked.
    let created = berth(&server, &["token", "create", "alice", "ci", "--action", "pull"], "");
    assert!(String::from_utf8_lossy(&created.stderr).contains("shown only this once"));
    let token = ok(created).trim().to_owned();
    assert!(token.starts_with("berth_"), "{token}");
    ok(berth(&server, &["signing", "set", "acme", "--signed-pulls-only", "no"], ""));
    assert_eq!(client_as("alice", &token).get(server.url("/v2/acme/app/tags/list")).send().await.unwrap().status(), 200);
    let push = client_as("alice", &token).post(server.url("/v2/acme/app/blobs/uploads/")).send().await.unwrap();
    assert_eq!(push.status(), 403, "the token is pull-only");
    let tokens = ok(berth(&server, &["token", "list", "alice"], ""));
    let row = &rows(&tokens)[0];
    assert_eq!(row[1..5], ["ci", "all", "pull", "never"], "{tokens}");
    assert!(row[5].starts_with("20"), "used just now: {tokens}");
    let id = row[0].clone();
    // An expiry given as a duration; a duration without a unit is refused before any request.
    ok(berth(&server, &["token", "create", "alice", "month", "--repository", "acme/app", "--expires-in", "30d"], ""));
    let listed = json(berth(&server, &["token", "list", "alice", "--json"], ""));
    let month = listed["tokens"].as_array().unwrap().iter().find(|t| t["name"] == "month").unwrap().clone();
    let days = (month["expiresAt"].as_u64().unwrap() - month["createdAt"].as_u64().unwrap()) as f64 / 86_400.0;
    assert!((29.99..=30.01).contains(&days), "{month}");
    assert_eq!(month["repositories"], serde_json::json!(["acme/app"]));
    let bad = berth(&server, &["token", "create", "alice", "x", "--expires-in", "30"], "");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("a number and a unit"));
    ok(berth(&server, &["token", "revoke", "alice", &id], ""));
    assert_eq!(client_as("alice", &token).get(server.url("/v2/")).send().await.unwrap().status(), 401);

    ok(berth(&server, &["user", "passwd", "alice"], "a new password\n"));
    assert_eq!(client_as("alice", "a new password").get(server.url("/v2/")).send().await.unwrap().status(), 200);
    let changed = ok(berth(&server, &["user", "change", "alice", "--active", "no"], ""));
    assert!(changed.contains("active     no"), "{changed}");
    assert_eq!(client_as("alice", "a new password").get(server.url("/v2/")).send().await.unwrap().status(), 401);

    // Removing: a member, a team (with its grants), a repository, a user.
    ok(berth(&server, &["team", "member", "remove", "acme", "devs", "alice"], ""));
    assert!(rows(&ok(berth(&server, &["team", "member", "list", "acme", "devs"], ""))).is_empty());
    ok(berth(&server, &["team", "delete", "acme", "devs"], ""));
    assert!(rows(&ok(berth(&server, &["grant", "list", "acme"], ""))).is_empty(), "the team's grant went with it");
    ok(berth(&server, &["repo", "delete", "acme/web"], ""));
    ok(berth(&server, &["user", "delete", "alice"], ""));
    assert_eq!(rows(&ok(berth(&server, &["user", "list"], ""))).len(), 1);

    // Refusals come back as the server's error, with exit code 1; bad usage is 2; an
    // unreachable server is 3.
    let again = berth(&server, &["org", "add", "acme"], "");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("ACCOUNT_EXISTS"));
    let owners = berth(&server, &["team", "delete", "acme", "owners"], "");
    assert_eq!(owners.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&owners.stderr).contains("OWNERS_TEAM"));
    let mut wrong = Command::new(env!("CARGO_BIN_EXE_berth"));
    wrong.args(["user", "list"]).env("BERTH_URL", &server.http).env("BERTH_PASSWORD", "wrong");
    let out = wrong.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOT_AUTHENTICATED"));
    let no_password = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["user", "list"])
        .env("BERTH_URL", &server.http)
        .env_remove("BERTH_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(no_password.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_password.stderr).contains("BERTH_PASSWORD"));
    assert_eq!(berth(&server, &["repo", "show", "no-slash"], "").status.code(), Some(2));
    // Names that would steer the request elsewhere are refused before anything is sent;
    // a user is not deleted as an organization.
    for steering in ["..", "acme?x=1", "acme#x"] {
        assert_eq!(berth(&server, &["org", "delete", steering], "").status.code(), Some(2), "{steering}");
    }
    assert_eq!(berth(&server, &["org", "delete", "admin"], "").status.code(), Some(2));
    assert_eq!(rows(&ok(berth(&server, &["org", "list"], ""))), [vec!["acme"]], "acme is still there");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let unreachable = berth(&server, &["user", "list", "--server", &format!("http://{closed}")], "");
    assert_eq!(unreachable.status.code(), Some(3), "{}", String::from_utf8_lossy(&unreachable.stderr));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach"));

    // Over HTTPS, trusting Berth's CA.
    let ca = server.data_dir.join("tls/ca.crt");
    let url = format!("https://{}", server.https_localhost());
    let out = berth(&server, &["user", "list", "--server", &url, "--cacert", ca.to_str().unwrap()], "");
    assert!(ok(out).contains("admin"));

    // Client options belong to the client commands, not to `serve`.
    let help = Command::new(env!("CARGO_BIN_EXE_berth")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(!help.contains("--cacert") && !help.contains("--server ") && help.contains("[env: BERTH_DATA_DIR="), "{help}");
}

#[tokio::test]
async fn garbage_collection_from_the_command_line() {
    let server = Server::start();
    push_image(&server, "acme/app", "v1", 1).await;
    push_blob(&server, "acme/app", &random_bytes(3000, 5)).await;
    let dry = ok(berth(&server, &["gc", "--dry-run", "--grace-seconds", "0"], ""));
    assert!(dry.starts_with("would delete 1 of 3 blobs"), "{dry}");
    let kept = ok(berth(&server, &["gc"], ""));
    assert!(kept.starts_with("deleted 0 of 3 blobs"), "the default grace period keeps new blobs: {kept}");
    let run = ok(berth(&server, &["gc", "--grace-seconds", "0"], ""));
    assert!(run.starts_with("deleted 1 of 3 blobs"), "{run}");
    let eve = client().post(server.url("/api/v0/accounts")).json(&serde_json::json!({"name": "eve", "password": "eve-password-1"}));
    assert_eq!(eve.send().await.unwrap().status(), 201);
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["gc", "--user", "eve"])
        .env("BERTH_URL", &server.http)
        .env("BERTH_PASSWORD", "eve-password-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success() && stderr.contains("NOT_AUTHORIZED"), "{stderr}");
}
