//! Guessing, slow and numerous clients, headers and small things (items 7, 8 and 10).

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::*;

/// 7. No lock-out, no race: failures count per source and per account and source; another
/// address is never locked out, access tokens never are, concurrent guesses check at
/// most the limit, and concurrent right passwords all get in.
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

    // Sixty-four concurrent logins with the right password from one address (CI jobs
    // behind one NAT, as one robot account): all get in, ten checks at a time; the room
    // the limit leaves is waited for, not refused.
    user(&server, "robot").await;
    let logins: Vec<_> = (0..64)
        .map(|_| {
            let url = server.url("/v2/");
            tokio::spawn(async move { client_from("127.0.0.6", "robot", PASSWORD).get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    for login in logins {
        assert_eq!(login.await.unwrap(), 200, "a right password is never refused for others' checks in flight");
    }
}

/// 8. Bounded clients: a stalled body is cut, `/auth/token` caps its body and scopes.
#[tokio::test]
async fn stalled_bodies_are_cut_and_token_requests_are_bounded() {
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("berth.toml");
    std::fs::write(&file, "[limits]\nbody_idle_timeout_secs = 2\n").unwrap();
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
}

/// 8. Connections are capped with a clear refusal, and served again once they close.
#[tokio::test]
async fn connections_are_capped_with_a_clear_refusal() {
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("berth.toml");
    std::fs::write(&file, "[limits]\nmax_connections = 8\n").unwrap();
    // Connection ends are logged at debug level, so a failure shows what the server saw.
    let extra = ["--config", file.to_str().unwrap()];
    let launch = Launch { extra: &extra, env: &[("BERTH_LOG", "info,berth::serve=debug")], ..Launch::default() };
    let server = Server::launch(&temp.path().join("data"), &launch);
    let address = server.http.trim_start_matches("http://").to_owned();

    // Connections fill the cap (eight), each kept open after one request, and the next one
    // is told so, then closed. Each connection is its own probe: no connection of the
    // test's closes while the cap is filled, so the count is exact.
    let mut held = Vec::new();
    let refusal = loop {
        let (stream, answer) = one_request(&address);
        if answer.starts_with("HTTP/1.1 503") {
            break answer;
        }
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        held.push(stream);
        assert!(held.len() <= 8, "{} connections served: the cap of 8 does not hold; log:\n{}", held.len(), server.log());
    };
    assert_eq!(held.len(), 8, "refused after {} connections", held.len());
    assert!(refusal.contains("TOOMANYREQUESTS"), "{refusal}");
    assert!(server.log_when(|log| log.contains("max_connections reached")).contains("max_connections reached"), "the refusal is logged");
    drop(held);
    let mut status = 0;
    for _ in 0..100 {
        status = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
            .get(server.url("/v2/"))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "served again once they close");
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

/// Opens a connection and sends one request on it (`GET /v2/`, kept alive); the
/// connection and what the server answered (to the end when it closes, else the first read).
fn one_request(address: &str) -> (std::net::TcpStream, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /v2/ HTTP/1.1\r\nHost: berth\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
        // A response kept alive ends with its declared body; a refusal is read to its close.
        let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end].lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
            if !text.starts_with("http/1.1 503") && length.is_some_and(|length| answer.len() >= end + 4 + length) {
                break;
            }
        }
    }
    (stream, String::from_utf8_lossy(&answer).into_owned())
}
