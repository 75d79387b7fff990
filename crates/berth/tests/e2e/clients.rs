//! Real clients against a running Berth: docker (every CLI present), skopeo and podman.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::*;

pub(crate) fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs `cmd` with `input` on its standard input; its output.
pub(crate) fn with_stdin(mut cmd: Command, input: &str) -> Output {
    use std::io::Write;
    let mut child =
        cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// `docker login -u <user> --password-stdin <host>` with `docker`'s configuration; whether it succeeded.
pub(crate) fn docker_login(docker: &dyn Fn() -> Command, user: &str, secret: &str, host: &str) -> bool {
    let mut login = docker();
    login.args(["login", "-u", user, "--password-stdin", host]);
    let out = with_stdin(login, secret);
    if !out.status.success() {
        eprintln!("docker login: {}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A directory holding only Berth's CA, as skopeo's and podman's `--cert-dir` expect.
pub(crate) fn ca_dir(server: &Server, temp: &Path) -> PathBuf {
    let dir = temp.join("certs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(server.data_dir.join("tls/ca.crt"), dir.join("ca.crt")).unwrap();
    dir
}

/// Writes `count` files of random content into `dir`.
pub(crate) fn random_files(dir: &Path, count: usize, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        std::fs::write(dir.join(format!("file{i}")), random_bytes(50_000 + i * 1000, seed + i as u64)).unwrap();
    }
}

/// Berth's CA installed where the docker daemon and CLI look for a registry's CA
/// (`/etc/docker/certs.d/<host:port>/ca.crt`), removed again on drop.
pub(crate) struct DockerCa(PathBuf);

impl DockerCa {
    pub(crate) fn install(server: &Server) -> DockerCa {
        DockerCa::install_for(server, &server.https_host())
    }

    /// The same for `host` (`localhost:<port>`).
    pub(crate) fn install_for(server: &Server, host: &str) -> DockerCa {
        let dir = PathBuf::from("/etc/docker/certs.d").join(host);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(server.data_dir.join("tls/ca.crt"), dir.join("ca.crt")).unwrap();
        DockerCa(dir)
    }
}

impl Drop for DockerCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The docker CLIs on this machine: Debian's 20.10 and a newer one, when present.
pub(crate) fn docker_clis() -> Vec<&'static str> {
    ["/usr/bin/docker", "/usr/local/bin/docker"].into_iter().filter(|p| Path::new(p).exists()).collect()
}

#[tokio::test]
async fn docker_push_and_pull_a_multi_layer_image_and_a_manifest_list() {
    if !client_available("docker", &["info"]) {
        return;
    }
    let server = Server::start();
    org(&server, "e2e").await;
    let host = server.https_host();
    let _ca = DockerCa::install(&server);
    let temp = tempfile::tempdir().unwrap();
    let context = temp.path().join("context");
    random_files(&context, 3, 100);
    std::fs::write(context.join("Dockerfile"), "FROM scratch\nCOPY file0 /a\nCOPY file1 /b\nCOPY file2 /c\n").unwrap();
    let config = temp.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let mut pushed = Vec::new();
    for (i, cli) in docker_clis().into_iter().enumerate() {
        let docker = || {
            let mut c = Command::new(cli);
            c.env("DOCKER_CONFIG", &config).env("DOCKER_BUILDKIT", "0");
            c
        };
        assert!(docker_login(&docker, "admin", ADMIN_PASSWORD, &host));
        let reference = format!("{host}/e2e/multi:cli{i}");
        run(docker().args(["build", "-q", "-t", &reference]).arg(&context));
        let id = stdout(&run(docker().args(["image", "inspect", "-f", "{{.Id}}", &reference])));
        run(docker().args(["push", &reference]));
        run(docker().args(["rmi", &reference]));
        run(docker().args(["pull", &reference]));
        assert_eq!(stdout(&run(docker().args(["image", "inspect", "-f", "{{.Id}}", &reference]))), id, "{cli}: pulled image differs");
        let manifest: serde_json::Value = client()
            .get(server.url(&format!("/v2/e2e/multi/manifests/cli{i}")))
            .header("accept", "application/vnd.docker.distribution.manifest.v2+json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 3, "{manifest}");
        pushed.push((cli, reference));
    }
    // A manifest list made and pushed by `docker manifest`. For a loopback ("insecure")
    // registry the CLI speaks only plain HTTP, so this goes to Berth's HTTP listener.
    let (cli, _) = pushed.last().unwrap().clone();
    let http_host = server.http.trim_start_matches("http://").to_owned();
    let image = format!("{http_host}/e2e/multi:plain");
    let list = format!("{http_host}/e2e/multi:list");
    let docker = || {
        let mut c = Command::new(cli);
        c.env("DOCKER_CONFIG", &config);
        c
    };
    assert!(docker_login(&docker, "admin", ADMIN_PASSWORD, &http_host));
    run(docker().args(["tag", &pushed[0].1, &image]));
    run(docker().args(["push", &image]));
    run(docker().args(["manifest", "create", "--insecure", &list, &image]));
    run(docker().args(["manifest", "push", "--insecure", &list]));
    let response = client().get(server.url("/v2/e2e/multi/manifests/list")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/vnd.docker.distribution.manifest.list.v2+json");
    let list: serde_json::Value = response.json().await.unwrap();
    let child = list["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let image_digest = client().head(server.url("/v2/e2e/multi/manifests/plain")).send().await.unwrap();
    assert_eq!(image_digest.headers()["docker-content-digest"], child.as_str());
    for (_, reference) in &pushed {
        let _ = docker().args(["rmi", reference]).output();
    }
    let _ = docker().args(["rmi", &image]).output();
}

/// A server, a temporary home, Berth's CA as a `--cert-dir`, and `localhost:<port>`.
pub(crate) struct SkopeoEnv {
    pub(crate) server: Server,
    pub(crate) temp: tempfile::TempDir,
    pub(crate) certs: PathBuf,
    pub(crate) host: String,
}

impl SkopeoEnv {
    pub(crate) fn start() -> SkopeoEnv {
        let server = Server::start();
        let temp = tempfile::tempdir().unwrap();
        let certs = ca_dir(&server, temp.path());
        let host = server.https_localhost();
        SkopeoEnv { server, temp, certs, host }
    }

    /// `skopeo`, with its own home directory.
    pub(crate) fn skopeo(&self) -> Command {
        let mut c = Command::new("skopeo");
        c.env("HOME", self.temp.path());
        c
    }
}

/// Writes an OCI image layout with one image of two tar layers, tagged `v1`.
pub(crate) fn oci_layout(dir: &Path, temp: &Path) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let write_blob = |bytes: &[u8]| {
        let d = digest(bytes);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), bytes).unwrap();
        (d, bytes.len())
    };
    let (mut layers, mut diff_ids) = (Vec::new(), Vec::new());
    for i in 0..2 {
        let files = temp.join(format!("layer{i}"));
        random_files(&files, 2, 200 + i);
        let tar = temp.join(format!("layer{i}.tar"));
        run(Command::new("tar").arg("-C").arg(&files).arg("-cf").arg(&tar).arg("."));
        diff_ids.push(digest(&std::fs::read(&tar).unwrap()));
        run(Command::new("gzip").arg("-n").arg(&tar));
        layers.push(write_blob(&std::fs::read(tar.with_extension("tar.gz")).unwrap()));
    }
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}","{}"]}},"config":{{}}}}"#,
        diff_ids[0], diff_ids[1]
    );
    let config = write_blob(config.as_bytes());
    let manifest = image_manifest((&config.0, config.1), &[(&layers[0].0, layers[0].1), (&layers[1].0, layers[1].1)], "");
    let manifest = write_blob(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}}]}}"#,
        manifest.0, manifest.1
    );
    std::fs::write(dir.join("index.json"), index).unwrap();
}

#[tokio::test]
async fn skopeo_copy_inspect_list_tags_and_delete() {
    if !client_available("skopeo", &["--version"]) {
        return;
    }
    let env = SkopeoEnv::start();
    org(&env.server, "sk").await;
    let (server, certs, host) = (&env.server, &env.certs, &env.host);
    let layout = env.temp.path().join("layout");
    oci_layout(&layout, env.temp.path());
    let skopeo = || env.skopeo();
    // OCI layout -> Berth, proving the certificate chain with Berth's CA.
    let creds = format!("admin:{ADMIN_PASSWORD}");
    run(skopeo()
        .args(["copy", "--dest-creds", &creds, "--dest-cert-dir"])
        .arg(certs)
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{host}/sk/app:v1")));
    let inspect =
        run(skopeo().args(["inspect", "--raw", "--creds", &creds, "--cert-dir"]).arg(certs).arg(format!("docker://{host}/sk/app:v1")));
    let original = std::fs::read_to_string(layout.join("index.json")).unwrap();
    let index: serde_json::Value = serde_json::from_str(&original).unwrap();
    assert_eq!(digest(&inspect.stdout), index["manifests"][0]["digest"].as_str().unwrap(), "manifest bytes preserved");
    // Berth -> another Berth repository, and Berth -> OCI layout.
    run(skopeo()
        .args(["copy", "--src-creds", &creds, "--dest-creds", &creds, "--src-cert-dir"])
        .arg(certs)
        .arg("--dest-cert-dir")
        .arg(certs)
        .arg(format!("docker://{host}/sk/app:v1"))
        .arg(format!("docker://{host}/sk/copy:v2")));
    let back = env.temp.path().join("back");
    run(skopeo()
        .args(["copy", "--src-creds", &creds, "--src-cert-dir"])
        .arg(certs)
        .arg(format!("docker://{host}/sk/copy:v2"))
        .arg(format!("oci:{}:v2", back.display())));
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(back.join("blobs/sha256").join(&name).exists(), "blob {name:?} missing after the round trip");
    }
    let tags =
        stdout(&run(skopeo().args(["list-tags", "--creds", &creds, "--cert-dir"]).arg(certs).arg(format!("docker://{host}/sk/app"))));
    let tags: serde_json::Value = serde_json::from_str(&tags).unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["v1"]));
    run(skopeo().args(["delete", "--creds", &creds, "--cert-dir"]).arg(certs).arg(format!("docker://{host}/sk/copy:v2")));
    assert_eq!(client().get(server.url("/v2/sk/copy/manifests/v2")).send().await.unwrap().status(), 404);
    assert_eq!(client().get(server.url("/v2/sk/app/manifests/v1")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn podman_push_and_pull() {
    if !client_available("podman", &["--version"]) {
        return;
    }
    let server = Server::start();
    org(&server, "pod").await;
    let temp = tempfile::tempdir().unwrap();
    let certs = ca_dir(&server, temp.path());
    let reference = format!("{}/pod/app:1", server.https_localhost());
    let files = temp.path().join("rootfs");
    random_files(&files, 3, 300);
    let tar = temp.path().join("rootfs.tar");
    run(Command::new("tar").arg("-C").arg(&files).arg("-cf").arg(&tar).arg("."));
    let podman = || {
        let mut c = Command::new("podman");
        c.arg("--storage-driver").arg("vfs").arg("--root").arg(temp.path().join("root")).arg("--runroot").arg(temp.path().join("run"));
        c.env("HOME", temp.path());
        c
    };
    run(podman().arg("import").arg(&tar).arg(&reference));
    let id = stdout(&run(podman().args(["image", "inspect", "-f", "{{.Id}}", &reference])));
    let creds = format!("admin:{ADMIN_PASSWORD}");
    run(podman().args(["push", "--creds", &creds, "--cert-dir"]).arg(&certs).arg(&reference));
    run(podman().args(["rmi", &reference]));
    run(podman().args(["pull", "--creds", &creds, "--cert-dir"]).arg(&certs).arg(&reference));
    assert_eq!(stdout(&run(podman().args(["image", "inspect", "-f", "{{.Id}}", &reference]))), id);
}

/// A failing command's combined output (for asserting what the client says).
fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} should have failed");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn docker_login_with_an_access_token_and_refusals() {
    if !client_available("docker", &["info"]) {
        return;
    }
    let server = Server::start();
    let host = server.https_host();
    let _ca = DockerCa::install(&server);
    let admin = client();
    let created = admin
        .post(server.url("/api/v0/accounts"))
        .json(&serde_json::json!({"name": "dev", "password": "dev password here"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    push_image(&server, "other/private", "v1", 5).await;
    let (token, _) = access_token(&server, "dev", "dev password here", "laptop").await;

    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let docker = || {
        let mut c = Command::new("/usr/bin/docker");
        c.env("DOCKER_CONFIG", &config);
        c
    };
    let files = temp.path().join("rootfs");
    random_files(&files, 2, 400);
    let tar = temp.path().join("rootfs.tar");
    run(Command::new("tar").arg("-C").arg(&files).arg("-cf").arg(&tar).arg("."));
    let mine = format!("{host}/dev/app:1");
    let theirs = format!("{host}/other/private:stolen");
    run(docker().arg("import").arg(&tar).arg(&mine));
    run(docker().args(["tag", &mine, &theirs]));

    assert!(!docker_login(&docker, "dev", "not the password", &host), "login with a wrong password must fail");
    // The access token logs in; the user's own namespace takes the push, another's refuses it.
    assert!(docker_login(&docker, "dev", &token, &host));
    run(docker().args(["push", &mine]));
    let said = fails(docker().args(["push", &theirs]));
    assert!(said.contains("denied") || said.contains("unauthorized") || said.contains("authentication required"), "{said}");
    let said = fails(docker().args(["pull", &format!("{host}/other/private:v1")]));
    assert!(said.contains("denied") || said.contains("unauthorized") || said.contains("not found"), "{said}");
    run(docker().args(["logout", &host]));
    let said = fails(docker().args(["push", &mine]));
    assert!(said.contains("unauthorized") || said.contains("authentication required") || said.contains("denied"), "{said}");
    let _ = docker().args(["rmi", &mine, &theirs]).output();
}

#[tokio::test]
async fn skopeo_refused_with_wrong_or_insufficient_credentials() {
    if !client_available("skopeo", &["--version"]) {
        return;
    }
    let env = SkopeoEnv::start();
    let (server, certs, host) = (&env.server, &env.certs, &env.host);
    push_image(server, "team/app", "v1", 6).await;
    let created = client()
        .post(server.url("/api/v0/accounts"))
        .json(&serde_json::json!({"name": "viewer", "password": "viewer password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let skopeo = || env.skopeo();
    let said =
        fails(skopeo().args(["inspect", "--creds", "admin:wrong", "--cert-dir"]).arg(certs).arg(format!("docker://{host}/team/app:v1")));
    assert!(said.to_lowercase().contains("unauthorized") || said.contains("authentication required"), "{said}");
    // A user without access to a private repository cannot read it.
    let said = fails(
        skopeo()
            .args(["inspect", "--creds", "viewer:viewer password", "--cert-dir"])
            .arg(certs)
            .arg(format!("docker://{host}/team/app:v1")),
    );
    assert!(said.to_lowercase().contains("denied") || said.to_lowercase().contains("unauthorized"), "{said}");
    // Once the repository is public, the same user can.
    let made_public = client()
        .patch(server.url("/api/v0/repositories/team/app"))
        .json(&serde_json::json!({"visibility": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made_public.status(), 200);
    run(skopeo()
        .args(["inspect", "--creds", "viewer:viewer password", "--cert-dir"])
        .arg(certs)
        .arg(format!("docker://{host}/team/app:v1")));
}
