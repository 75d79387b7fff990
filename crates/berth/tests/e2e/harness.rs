//! One harness for every end-to-end test: starts `berth serve` on free ports in a
//! temporary directory, waits until it listens, and always stops it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

/// Where a server's log goes: beside its data directory (which is the server's own,
/// private, and holds nothing the harness writes).
pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.with_extension("log")
}

/// Whether servers keep their blobs in S3: `BERTH_TEST_STORAGE=s3` runs every server of
/// the suite on one `s3s-fs` (started by the first server that needs it), each in a
/// bucket of its own, or the one of its cluster (the `--storage-dir` replicas share
/// becomes a bucket).
pub fn s3_storage() -> bool {
    std::env::var("BERTH_TEST_STORAGE").is_ok_and(|kind| kind == "s3")
}

/// For the few tests about the filesystem backend itself (a full disk, a directory made
/// unreadable, restoring blobs into a directory): true, with a note, when the suite runs
/// on S3, where they have no meaning.
pub fn filesystem_only(test: &str) -> bool {
    if s3_storage() {
        eprintln!("{test}: about the filesystem backend; not run with BERTH_TEST_STORAGE=s3");
    }
    s3_storage()
}

/// The suite's S3 server, in S3 mode.
fn s3_server() -> &'static berth_storage::testing::S3Server {
    static SERVER: std::sync::OnceLock<berth_storage::testing::S3Server> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| {
        berth_storage::testing::S3Server::start()
            .expect("BERTH_TEST_STORAGE=s3 needs s3s-fs (cargo install s3s-fs --version 0.14.1 --features binary --locked)")
    })
}

/// A bucket name derived from a path: the same directory always gives the same bucket.
fn bucket_for(path: &Path) -> String {
    format!("b{}", &hex::encode(Sha256::digest(path.to_string_lossy().as_bytes()))[..16])
}

/// How to start a server beyond the defaults.
#[derive(Default)]
pub struct Launch<'a> {
    /// Extra arguments to `serve`.
    pub extra: &'a [&'a str],
    /// The umask the server starts with (the harness's own otherwise).
    pub umask: Option<u32>,
    /// Extra environment variables.
    pub env: &'a [(&'a str, &'a str)],
    /// The command and its arguments in place of `serve` (`join --existing … --token …`).
    pub command: &'a [&'a str],
    /// The HTTPS listen address (a free port otherwise).
    pub https_listen: Option<&'a str>,
}

/// A running server.
pub struct Server {
    child: Option<Child>,
    /// Plain-HTTP base URL, e.g. `http://127.0.0.1:41521`.
    pub http: String,
    /// HTTPS base URL.
    pub https: String,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Where its blobs are.
    pub storage: berth_services::StorageConfig,
    _temp: Option<tempfile::TempDir>,
}

impl Server {
    /// A server on a fresh data directory.
    pub fn start() -> Server {
        let temp = tempfile::tempdir().unwrap();
        let mut server = Server::start_in(&temp.path().join("data"), &[]);
        server._temp = Some(temp);
        server
    }

    /// A server on `data_dir` with extra arguments to `serve`.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        Server::launch(data_dir, &Launch { extra, ..Launch::default() })
    }

    /// A server on `data_dir`, started as `launch` says.
    pub fn launch(data_dir: &Path, launch: &Launch) -> Server {
        std::fs::create_dir_all(data_dir.parent().unwrap()).unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path(data_dir)).unwrap();
        let mut command = match launch.umask {
            // The shell sets the umask the server inherits, then becomes the server.
            Some(umask) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("umask {umask:03o} && exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_berth")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_berth")),
        };
        let subcommand: &[&str] = if launch.command.is_empty() { &["serve"] } else { launch.command };
        let storage_dir = launch.extra.iter().position(|a| *a == "--storage-dir").map(|i| PathBuf::from(launch.extra[i + 1]));
        let mut extra: Vec<&str> = launch.extra.to_vec();
        let storage = if s3_storage() {
            let bucket = bucket_for(storage_dir.as_deref().unwrap_or(data_dir));
            if let Some(i) = extra.iter().position(|a| *a == "--storage-dir") {
                extra.drain(i..i + 2);
            }
            let server = s3_server();
            server.create_bucket(&bucket).unwrap();
            command
                .env("BERTH_STORAGE_KIND", "s3")
                .env("BERTH_S3_BUCKET", &bucket)
                .env("BERTH_S3_ENDPOINT", &server.endpoint)
                .env("AWS_ACCESS_KEY_ID", berth_storage::testing::ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", berth_storage::testing::SECRET_KEY)
                .env("AWS_REGION", "us-east-1");
            berth_services::StorageConfig::S3 { options: server.bucket_options(&bucket, ""), spill: data_dir.with_extension("spill") }
        } else {
            berth_services::StorageConfig::Fs { root: storage_dir.unwrap_or_else(|| data_dir.join("storage")) }
        };
        command
            .args(subcommand)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--https-listen", launch.https_listen.unwrap_or("127.0.0.1:0"), "--http-listen", "127.0.0.1:0"])
            .args(&extra)
            .env("BERTH_LOG", "info")
            .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD);
        for (key, value) in launch.env {
            command.env(key, value);
        }
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut http, mut https, mut serving) = (None, None, false);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !serving {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(log_path(data_dir)).unwrap_or_default();
                    panic!("berth did not start serving within 60 s; log:\n{log}");
                }
            };
            if let Some(url) = line.strip_prefix("berth: listening on ") {
                if url.starts_with("https://") { https = Some(url.to_owned()) } else { http = Some(url.to_owned()) }
            }
            serving = line.ends_with(" is serving") && http.is_some() && https.is_some();
        }
        Server { child: Some(child), http: http.unwrap(), https: https.unwrap(), data_dir: data_dir.to_owned(), storage, _temp: None }
    }

    /// A server already running at `http` (plain HTTP), that this value does not own.
    pub fn detached(http: &str) -> Server {
        let storage = berth_services::StorageConfig::Fs { root: PathBuf::new() };
        Server { child: None, http: http.to_owned(), https: String::new(), data_dir: PathBuf::new(), storage, _temp: None }
    }

    /// `http://host:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http)
    }

    /// `host:port` of the HTTPS listener, for image references.
    pub fn https_host(&self) -> String {
        self.https.trim_start_matches("https://").to_owned()
    }

    /// `localhost:<https port>`, the name Berth's certificate covers.
    pub fn https_localhost(&self) -> String {
        format!("localhost:{}", self.https_host().rsplit(':').next().unwrap())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits for a clean exit (at most 40 s); returns whether it exited with success.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else { return true };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Server {
    /// The digests of the blobs in the server's storage, read from the backend itself.
    pub async fn stored_blobs(&self) -> std::collections::HashSet<String> {
        use berth_storage::BlobStore as _;
        let storage = berth_storage::Storage::open(&self.storage, 0).unwrap();
        let listed: Vec<berth_storage::StoredBlob> = futures_util::TryStreamExt::try_collect(storage.list_blobs()).await.unwrap();
        listed.into_iter().map(|blob| blob.digest.to_string()).collect()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(log_path(&self.data_dir)).unwrap_or_default()
    }

    /// The server's log once `wanted` holds for it (lines are written by a background
    /// thread, so a line may come a moment after the answer), or after 10 s as it is.
    pub fn log_when(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if wanted(&log) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The password every test server's `admin` account gets.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// `Authorization: Basic` for `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// An HTTP client that authenticates as `user` (Basic) on every request.
pub fn client_as(user: &str, password: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, basic(user, password).parse().unwrap());
    reqwest::Client::builder().timeout(Duration::from_secs(300)).default_headers(headers).build().unwrap()
}

/// An HTTP client that authenticates as the administrator on every request.
pub fn client() -> reqwest::Client {
    client_as("admin", ADMIN_PASSWORD)
}

/// An HTTP client that sends no credentials.
pub fn anonymous() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `n` pseudo-random bytes (deterministic per seed).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Creates the organization `name` unless an account of that name exists: repositories
/// live in the namespace of a user or an organization.
pub async fn org(server: &Server, name: &str) {
    let response =
        client().post(server.url("/api/v0/accounts")).json(&serde_json::json!({"name": name, "isOrg": true})).send().await.unwrap();
    let status = response.status().as_u16();
    assert!(status == 201 || status == 409, "creating org {name}: {status} {}", response.text().await.unwrap());
}

/// The organization a repository name lives in, created if needed.
pub async fn namespace_of(server: &Server, repo: &str) {
    org(server, repo.split('/').next().unwrap()).await;
}

/// Creates an access token of `user` named `name` (as the user); its secret and id.
pub async fn access_token(server: &Server, user: &str, password: &str, name: &str) -> (String, String) {
    let response = client_as(user, password)
        .post(server.url(&format!("/api/v0/accounts/{user}/tokens")))
        .json(&serde_json::json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let token: serde_json::Value = response.json().await.unwrap();
    (token["token"].as_str().unwrap().to_owned(), token["id"].as_str().unwrap().to_owned())
}

/// Pushes `bytes` as a blob of `repo` in one request; returns its digest.
pub async fn push_blob(server: &Server, repo: &str, bytes: &[u8]) -> String {
    namespace_of(server, repo).await;
    let d = digest(bytes);
    let response = client().post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={d}"))).body(bytes.to_vec()).send().await.unwrap();
    assert_eq!(response.status(), 201, "push blob: {}", response.text().await.unwrap());
    d
}

/// An OCI image manifest over a config and layers (digest, size).
pub fn image_manifest(config: (&str, usize), layers: &[(&str, usize)], extra: &str) -> String {
    let layers: Vec<String> = layers
        .iter()
        .map(|(d, s)| format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":{s}}}"#))
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{}]{extra}}}"#,
        config.0,
        config.1,
        layers.join(",")
    )
}

/// Pushes a small image (config + one layer) to `repo:reference`; returns the manifest digest.
pub async fn push_image(server: &Server, repo: &str, reference: &str, seed: u64) -> String {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#);
    let layer = random_bytes(1000 + seed as usize % 100, seed);
    let config_digest = push_blob(server, repo, config.as_bytes()).await;
    let layer_digest = push_blob(server, repo, &layer).await;
    let manifest = image_manifest((&config_digest, config.len()), &[(&layer_digest, layer.len())], "");
    put_manifest(server, repo, reference, "application/vnd.oci.image.manifest.v1+json", &manifest).await
}

/// PUTs a manifest and expects `201`; returns its digest.
pub async fn put_manifest(server: &Server, repo: &str, reference: &str, media_type: &str, body: &str) -> String {
    namespace_of(server, repo).await;
    let response = client()
        .put(server.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("content-type", media_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "put manifest: {}", response.text().await.unwrap());
    let d = digest(body.as_bytes());
    assert_eq!(response.headers()["docker-content-digest"], d.as_str());
    d
}

/// Asserts an OCI error response: status and the first error's code.
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status(), status, "expected {status} {code}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body
}

/// Real-client tests skip when their client is missing, unless BERTH_REQUIRE_CLIENTS=1
/// (set by the project's test script and CI), where a missing client fails the test.
pub fn client_available(cmd: &str, probe: &[&str]) -> bool {
    let ok = Command::new(cmd).args(probe).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("BERTH_REQUIRE_CLIENTS").is_ok_and(|v| v == "1") {
            panic!("{cmd} is required (BERTH_REQUIRE_CLIENTS=1) but `{cmd} {}` failed", probe.join(" "));
        }
        eprintln!("skipping: {cmd} is not available here");
    }
    ok
}

/// Sends raw bytes over one connection (for requests a well-behaved client library
/// would not make) and returns the whole answer.
pub fn raw_request(base: &str, head: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// Opens the web UI's sign-in form with `http`: the form's CSRF cookie (`name=value`, to
/// send back as a `Cookie` header) and the token its hidden field carries.
pub async fn login_form(http: &reqwest::Client, https: &str) -> (String, String) {
    let page = http.get(format!("{https}/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    let csrf = html.split(r#"name="csrf" value=""#).nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned();
    (cookie, csrf)
}

/// Signs `user` in to the web UI through its form and returns the page at `path` (an
/// HTTP 200 is asserted).
pub async fn ui_page(server: &Server, user: &str, password: &str, path: &str) -> String {
    let http = reqwest::Client::builder().danger_accept_invalid_certs(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let (form_cookie, csrf) = login_form(&http, &server.https).await;
    let signed_in = http
        .post(format!("{}/login", server.https))
        .header("cookie", form_cookie)
        .form(&[("username", user), ("password", password), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "{user} signs in");
    let session = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = http.get(format!("{}{path}", server.https)).header("cookie", session).send().await.unwrap();
    assert_eq!(page.status(), 200, "GET {path}");
    page.text().await.unwrap()
}

/// GETs the JSON at `path` (as admin) until its `field` is set, within 15 s; that field.
pub async fn wait_for_field(server: &Server, path: &str, field: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let body: serde_json::Value = client().get(server.url(path)).send().await.unwrap().json().await.unwrap();
        if !body[field].is_null() {
            return body[field].clone();
        }
        assert!(std::time::Instant::now() < deadline, "{path}: {field} never set: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
