//! The server's life: HTTPS with the generated CA, uploads that survive a restart,
//! purge of abandoned uploads, graceful shutdown, and `berth config check`.

use std::process::Command;
use std::time::Duration;

use crate::harness::*;

#[tokio::test]
async fn https_with_the_generated_ca() {
    let server = Server::start();
    let ca = std::fs::read(server.data_dir.join("tls/ca.crt")).unwrap();
    let c = reqwest::Client::builder().tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()]).build().unwrap();
    let port = server.https_host().rsplit(':').next().unwrap().to_owned();
    for host in ["localhost", "127.0.0.1"] {
        let response = c.get(format!("https://{host}:{port}/_ping")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{host}");
    }
    // A client that does not trust the CA is refused.
    let untrusting = reqwest::Client::builder().tls_certs_only([]).build().unwrap();
    assert!(untrusting.get(format!("{}/v2/", server.https)).send().await.is_err());
}

#[tokio::test]
async fn an_upload_continues_after_a_restart_and_data_persists() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let mut server = Server::start_in(&dir, &[]);
    org(&server, "ns").await;
    let image = push_image(&server, "ns/app", "v1", 9).await;
    let body = random_bytes(300_000, 8);
    let c = client();
    let start = c.post(server.url("/v2/ns/app/blobs/uploads/")).send().await.unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let first = c.patch(server.url(&location)).header("content-range", "0-99999").body(body[..100_000].to_vec()).send().await.unwrap();
    assert_eq!(first.status(), 202);
    assert!(server.stop(), "clean exit on SIGTERM");

    let server = Server::start_in(&dir, &[]);
    let status = c.get(server.url(&location)).send().await.unwrap();
    assert_eq!(status.headers()["range"], "0-99999");
    let rest = c
        .patch(server.url(&location))
        .header("content-range", format!("100000-{}", body.len() - 1))
        .body(body[100_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 202);
    let done = c.put(server.url(&format!("{location}?digest={}", digest(&body)))).send().await.unwrap();
    assert_eq!(done.status(), 201);
    let manifest = c.get(server.url("/v2/ns/app/manifests/v1")).send().await.unwrap();
    assert_eq!(manifest.headers()["docker-content-digest"], image.as_str());
}

#[tokio::test]
async fn abandoned_uploads_are_purged() {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("berth.toml");
    std::fs::write(&config, "[limits]\nupload_idle_expiry_secs = 1\n").unwrap();
    let server = Server::start_in(&temp.path().join("data"), &["--config", config.to_str().unwrap()]);
    org(&server, "ns").await;
    let c = client();
    let start = c.post(server.url("/v2/ns/app/blobs/uploads/")).send().await.unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let mut purged = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if c.get(server.url(&location)).send().await.unwrap().status() == 404 {
            purged = true;
            break;
        }
    }
    assert!(purged, "an upload idle past the expiry is purged");
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish() {
    let mut server = Server::start();
    org(&server, "ns").await;
    let c = client();
    let start = c.post(server.url("/v2/ns/app/blobs/uploads/")).send().await.unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let body = random_bytes(64 * 1024, 4);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let request = tokio::spawn(
        c.patch(server.url(&location)).header("content-length", body.len().to_string()).body(reqwest::Body::wrap_stream(stream)).send(),
    );
    tx.send(Ok(body[..1000].to_vec())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.pid();
    Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(Ok(body[1000..].to_vec())).await.unwrap();
    drop(tx);
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), 202, "the request in flight completes");
    assert_eq!(response.headers()["range"], format!("0-{}", body.len() - 1).as_str());
    assert!(server.stop(), "exits cleanly");
}

/// `berth config check` in `dir`, with extra environment variables and arguments.
fn config_check_in(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command.current_dir(dir).args(["config", "check"]).args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn config_check() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    // No file: the defaults, as TOML that parses back.
    let (code, shown, said) = config_check_in(dir, &[], &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("./berth.toml does not exist"), "{said}");
    let parsed: toml::Table = toml::from_str(&shown).unwrap();
    assert_eq!(parsed["https_listen"].as_str(), Some("0.0.0.0:5443"));
    assert_eq!(parsed["limits"]["min_password_length"].as_integer(), Some(8));

    // ./berth.toml by default, with the environment applied as `serve` applies it, and
    // secrets redacted.
    std::fs::write(
        dir.join("berth.toml"),
        "data_dir = \"/srv/berth\"\nhttps_listen = \"127.0.0.1:5443\"\n[limits]\nmax_manifest_size = 1048576\n\
         [storage]\nkind = \"s3\"\nbucket = \"blobs\"\nsecret_access_key = \"s3cret-key\"\n",
    )
    .unwrap();
    let (code, shown, said) = config_check_in(dir, &[("BERTH_HTTPS_LISTEN", "127.0.0.1:7443")], &[]);
    assert_eq!(code, Some(0), "{said}");
    let parsed: toml::Table = toml::from_str(&shown).unwrap();
    assert_eq!(parsed["data_dir"].as_str(), Some("/srv/berth"));
    assert_eq!(parsed["https_listen"].as_str(), Some("127.0.0.1:7443"), "the environment wins over the file");
    assert_eq!(parsed["storage"]["bucket"].as_str(), Some("blobs"));
    assert!(!shown.contains("s3cret") && shown.contains("<redacted>"), "{shown}");

    // Every problem at once: values, then the files it names.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "log_format = \"xml\"\n[limits]\nmin_password_length = 4\n").unwrap();
    let (code, _, said) = config_check_in(dir, &[], &[bad.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(said.contains("log_format") && said.contains("min_password_length"), "{said}");
    let not_a_cert = dir.join("cert.pem");
    std::fs::write(&not_a_cert, "hello").unwrap();
    let files = dir.join("files.toml");
    std::fs::write(&files, format!("[tls]\ncert = {:?}\nkey = \"/nonexistent/key.pem\"\n", not_a_cert.to_str().unwrap())).unwrap();
    let (code, shown, said) = config_check_in(dir, &[], &[files.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("tls.cert") && said.contains("no PEM CERTIFICATE"), "{said}");
    assert!(said.contains("tls.key /nonexistent/key.pem"), "{said}");
    assert!(shown.contains("[tls]"), "the settings are still shown: {shown}");

    // Not TOML for this schema: the parser's message names the field.
    for (name, text, field) in
        [("syntax.toml", "https_listen = \"nowhere\"\n", "https_listen"), ("unknown.toml", "colour = \"blue\"\n", "colour")]
    {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let (code, _, said) = config_check_in(dir, &[], &[file.to_str().unwrap()]);
        assert_eq!(code, Some(2));
        assert!(said.contains(field), "{said}");
    }
}

#[test]
fn environment_variables_configure_serve() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("from-env");
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .env("BERTH_DATA_DIR", &dir)
        .env("BERTH_HTTPS_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let lines: Vec<String> = lines.map(Result::unwrap).take_while(|l| !l.ends_with(" is serving")).collect();
    let _ = child.kill();
    let _ = child.wait();
    // Without BERTH_ADMIN_PASSWORD, a password is generated and shown once.
    let shown = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(shown("berth: created the administrator account: user \"admin\", password \""), 1, "{lines:?}");
    assert!(lines.contains(&format!("berth: CA certificate at {}", dir.join("tls/ca.crt").display())), "{lines:?}");
    assert_eq!(shown("berth: listening on https://127.0.0.1:"), 1, "{lines:?}");
    assert!(dir.join("meta.redb").exists() && dir.join("tls/ca.crt").exists());
}

/// Relative data and storage directories are taken from the working directory.
#[test]
fn relative_directories_work() {
    let temp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .current_dir(temp.path())
        .args(["serve", "--data-dir", "data", "--storage-dir", "blobs", "--https-listen", "127.0.0.1:0"])
        .env("BERTH_ADMIN_PASSWORD", "relative-password-1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serving = std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok).any(|l| l.ends_with(" is serving"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(serving, "berth did not start with relative directories");
    assert!(temp.path().join("blobs/blobs").is_dir() && temp.path().join("data/meta.redb").exists());
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_is_refused_naming_the_first() {
    let first = Server::start();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--https-listen", "127.0.0.1:0", "--data-dir"])
        .arg(&first.data_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    let expected = format!("is in use by another Berth (process {})", first.pid());
    assert!(said.contains(&expected), "{said}");
    assert_eq!(said.lines().count(), 1, "one line: {said}");
    // Started the same way again, on the same port: the port is taken, and the reason named.
    let same_port = first.https.trim_start_matches("https://").to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--https-listen", &same_port, "--data-dir"])
        .arg(&first.data_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&expected), "{said}");
    assert_eq!(client().get(first.url("/_ping")).send().await.unwrap().status(), 200, "the first one goes on");
}

#[test]
fn a_start_on_a_taken_port_creates_and_prints_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let out =
        Command::new(env!("CARGO_BIN_EXE_berth")).args(["serve", "--https-listen", &address, "--data-dir"]).arg(&data).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("listening on {address}")) && said.contains("in use"), "{said}");
    assert_eq!(said.lines().count(), 1, "one line: {said}");
    assert!(out.stdout.is_empty(), "no password or address printed: {}", String::from_utf8_lossy(&out.stdout));
    assert!(!data.exists(), "nothing created");
    // The next start, on a free port, serves.
    drop(taken);
    let mut server = Server::start_in(&data, &[]);
    assert!(server.stop());
}

#[test]
fn bash_completes_the_commands() {
    let script = Command::new(env!("CARGO_BIN_EXE_berth")).args(["completions", "bash"]).output().unwrap();
    assert!(script.status.success());
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("berth.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    // Bash loads the script and completes `berth con` and `berth config ch` as a user's TAB would.
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let probe = format!(
            "source {script}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT={point}; _berth berth \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script = file.display(),
            words = words.join(" "),
            cword = words.len() - 1,
            point = line.len(),
        );
        let out = Command::new("bash").arg("-c").arg(probe).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(complete("berth con"), ["config"]);
    assert_eq!(complete("berth config ch"), ["check"]);
    assert!(complete("berth serve --data").contains(&"--data-dir".to_owned()));
}
