//! The administration commands, run as a user would, against a running server.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::harness::*;

fn berth(server: &Server, args: &[&str], stdin: &str) -> Output {
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

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn users_orgs_teams_grants_and_tokens_from_the_command_line() {
    let server = Server::start();
    ok(berth(&server, &["user", "add", "alice"], "alice's first password\n"));
    ok(berth(&server, &["org", "add", "acme"], ""));
    ok(berth(&server, &["team", "add", "acme", "devs"], ""));
    ok(berth(&server, &["team", "member", "add", "acme", "devs", "alice"], ""));
    ok(berth(&server, &["grant", "acme", "devs", "read-write"], ""));
    let listed = ok(berth(&server, &["user", "list"], ""));
    assert!(listed.contains("alice\tuser") && listed.contains("acme\torg") && listed.contains("admin\tadmin"), "{listed}");

    // The grant works: alice may push to acme/*.
    let alice = client_as("alice", "alice's first password");
    let push = alice.post(server.url(&format!("/v2/acme/app/blobs/uploads/?digest={}", digest(b"x")))).body("x").send().await.unwrap();
    assert_eq!(push.status(), 201);

    // A pull-only token, shown once, listed, then revoked.
    let token = ok(berth(&server, &["token", "create", "alice", "ci", "--action", "pull"], "")).trim().to_owned();
    assert!(token.starts_with("berth_"), "{token}");
    assert_eq!(client_as("alice", &token).get(server.url("/v2/acme/app/tags/list")).send().await.unwrap().status(), 200);
    let push = client_as("alice", &token).post(server.url("/v2/acme/app/blobs/uploads/")).send().await.unwrap();
    assert_eq!(push.status(), 403, "the token is pull-only");
    let tokens = ok(berth(&server, &["token", "list", "alice"], ""));
    let id = tokens.split('\t').next().unwrap().to_owned();
    assert!(tokens.contains("\tci\trepositories: all\tactions: pull\texpires: never\tlast used: "), "{tokens}");
    // An expiry given as a duration; a duration without a unit is refused before any request.
    ok(berth(&server, &["token", "create", "alice", "month", "--repository", "acme/app", "--expires-in", "30d"], ""));
    let tokens = ok(berth(&server, &["token", "list", "alice"], ""));
    let month = tokens.lines().find(|l| l.contains("\tmonth\t")).unwrap_or_else(|| panic!("{tokens}"));
    let expires = month.split("expires: ").nth(1).unwrap().split('\t').next().unwrap();
    let expires = time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339).unwrap();
    let days = (expires - time::OffsetDateTime::now_utc()).whole_hours() as f64 / 24.0;
    assert!((29.9..=30.0).contains(&days), "{month}");
    assert!(month.contains("repositories: acme/app\tactions: all"), "{month}");
    let bad = berth(&server, &["token", "create", "alice", "x", "--expires-in", "30"], "");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("a number and a unit"));
    ok(berth(&server, &["token", "revoke", "alice", &id], ""));
    assert_eq!(client_as("alice", &token).get(server.url("/v2/")).send().await.unwrap().status(), 401);

    ok(berth(&server, &["user", "passwd", "alice"], "a new password\n"));
    assert_eq!(client_as("alice", "a new password").get(server.url("/v2/")).send().await.unwrap().status(), 200);

    // Refusals come back as the server's error, with exit code 1.
    let again = berth(&server, &["org", "add", "acme"], "");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("ACCOUNT_EXISTS"));
    let mut wrong = Command::new(env!("CARGO_BIN_EXE_berth"));
    wrong.args(["user", "list"]).env("BERTH_URL", &server.http).env("BERTH_PASSWORD", "wrong");
    let out = wrong.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOT_AUTHENTICATED"));

    // Over HTTPS, trusting Berth's CA.
    let ca = server.data_dir.join("tls/ca.crt");
    let url = format!("https://{}", server.https_localhost());
    let out = berth(&server, &["user", "list", "--server", &url, "--cacert", ca.to_str().unwrap()], "");
    assert!(ok(out).contains("alice"));
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
        .args(["--user", "eve", "gc"])
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
