//! CNCF Distribution (Debian's `docker-registry`) as a second registry on loopback: the
//! remote that mirroring pushes to and polls from. It keeps its blobs in a directory of
//! its own, so it can be stopped and started again on the same port with its content.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

/// A running (or stopped) Distribution.
pub struct Distribution {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Distribution {
    /// Whether `docker-registry` is installed (`client_available` says why a test skips, and
    /// fails it instead under `BERTH_REQUIRE_CLIENTS=1`, as in CI).
    pub fn available() -> bool {
        client_available("docker-registry", &["--version"])
    }

    /// Starts one on a free port.
    pub fn start() -> Distribution {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut distribution = Distribution { child: None, url: format!("http://127.0.0.1:{port}"), config, _dir: dir };
        distribution.resume();
        distribution
    }

    /// Starts it again (after [`Distribution::stop`]), with its content, once it answers.
    pub fn resume(&mut self) {
        let log = std::fs::File::create(self.config.with_extension("log")).unwrap();
        let child = Command::new("docker-registry").arg("serve").arg(&self.config).stdout(Stdio::null()).stderr(log).spawn().unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = self.url.trim_start_matches("http://").to_owned();
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it (its content stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.config.with_extension("log")).unwrap_or_default()
    }

    /// Pushes `bytes` as a blob of `repo`; its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let d = digest(bytes);
        // Distribution takes no monolithic POST: start a session, then PUT the bytes.
        let response = anonymous().post(format!("{}/v2/{repo}/blobs/uploads/", self.url)).send().await.unwrap();
        assert_eq!(response.status(), 202, "start an upload at distribution");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with('/') { format!("{}{location}", self.url) } else { location };
        let separator = if location.contains('?') { '&' } else { '?' };
        let response = anonymous().put(format!("{location}{separator}digest={d}")).body(bytes.to_vec()).send().await.unwrap();
        assert_eq!(response.status(), 201, "push blob to distribution: {}", response.text().await.unwrap());
        d
    }

    /// Pushes a small image (config and one layer of `size` bytes) as `repo:tag`; its digest.
    pub async fn push_image(&self, repo: &str, tag: &str, seed: u64, size: usize) -> String {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#);
        let layer = random_bytes(size, seed);
        let config_digest = self.push_blob(repo, config.as_bytes()).await;
        let layer_digest = self.push_blob(repo, &layer).await;
        let manifest = image_manifest((&config_digest, config.len()), &[(&layer_digest, layer.len())], "");
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.url);
        let response = anonymous()
            .put(url)
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "put manifest to distribution: {}", response.text().await.unwrap());
        digest(manifest.as_bytes())
    }

    /// The digest `repo:reference` has there, if it exists.
    pub async fn digest_of(&self, repo: &str, reference: &str) -> Option<String> {
        digest_at(&self.url, &anonymous(), repo, reference).await
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The digest `repo:reference` has at the registry `base`, asked with `http`, if it exists.
pub async fn digest_at(base: &str, http: &reqwest::Client, repo: &str, reference: &str) -> Option<String> {
    let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
                  application/vnd.docker.distribution.manifest.v2+json";
    let response = http.head(format!("{base}/v2/{repo}/manifests/{reference}")).header("accept", accept).send().await.ok()?;
    (response.status() == 200).then(|| response.headers()["docker-content-digest"].to_str().unwrap().to_owned())
}

/// Waits (up to `wait`) until `check` gives something.
pub async fn eventually<T, F, Fut>(wait: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + wait;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
