//! Clusters of real `berth` processes on loopback: replicas on fixed ports sharing one
//! blob directory, joined with tokens like an operator would, killed with SIGKILL and
//! restarted, and partitioned by TCP proxies in front of each replica (replica traffic
//! leaves each replica from its own loopback address, so a proxy can tell who calls).
//!
//! Cluster tests run one at a time ([`exclusive`]): each starts several processes.

mod backup;
mod basics;
mod credentials;
mod faults;
mod history;
mod membership;
mod policies;
mod proxy;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
pub use proxy::Proxy;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Held for a whole cluster test.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

/// A free loopback port (free when asked; the replica binds it a moment later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One replica: where it lives and how it is reached.
pub struct Node {
    /// The running process, while it runs.
    pub server: Option<Server>,
    /// Its data directory.
    pub data: PathBuf,
    /// Its HTTPS port.
    pub port: u16,
    /// The loopback address its replica traffic leaves from.
    pub source: std::net::IpAddr,
    /// The proxy in front of it, when partitions are tested.
    pub proxy: Option<Proxy>,
}

impl Node {
    /// The address the other replicas reach it at.
    pub fn advertise(&self) -> String {
        format!("https://127.0.0.1:{}", self.proxy.as_ref().map_or(self.port, |p| p.port))
    }
}

/// A cluster of replicas in one temporary directory.
pub struct Cluster {
    temp: tempfile::TempDir,
    /// The blob directory every replica shares.
    pub storage: PathBuf,
    /// Every replica ever started, by index.
    pub nodes: Vec<Node>,
    proxied: bool,
    /// A configuration file every replica is started with, if any.
    config: Option<PathBuf>,
}

/// The environment every replica gets.
pub const QUIET: &[(&str, &str)] = &[("BERTH_LOG", "info,openraft=warn")];

impl Cluster {
    /// `n` replicas: the first founds the cluster, the others join through it.
    pub async fn start(n: usize, proxied: bool) -> Cluster {
        Cluster::start_configured(n, proxied, None).await
    }

    /// `n` replicas started with the configuration `toml` (when given).
    pub async fn start_configured(n: usize, proxied: bool, toml: Option<&str>) -> Cluster {
        let temp = tempfile::tempdir().unwrap();
        let storage = temp.path().join("shared-blobs");
        let config = toml.map(|text| {
            let path = temp.path().join("berth.toml");
            std::fs::write(&path, text).unwrap();
            path
        });
        let mut cluster = Cluster { temp, storage, nodes: Vec::new(), proxied, config };
        cluster.new_node().await;
        let server = cluster.launch(0, &[]);
        cluster.nodes[0].server = Some(server);
        for _ in 1..n {
            cluster.add(0).await;
        }
        cluster
    }

    async fn new_node(&mut self) -> usize {
        let i = self.nodes.len();
        let port = free_port();
        let proxy = if self.proxied { Some(Proxy::start(port).await) } else { None };
        let source = std::net::IpAddr::from([127, 0, 0, 20 + i as u8]);
        self.nodes.push(Node { server: None, data: self.temp.path().join(format!("replica{i}")), port, source, proxy });
        i
    }

    /// Starts replica `i` with `command` (`serve` when empty), on its own port and
    /// data directory, the shared blob directory, and its replica traffic's address.
    fn launch(&self, i: usize, command: &[&str]) -> Server {
        let node = &self.nodes[i];
        let (storage, source, advertise) = (self.storage.display().to_string(), node.source.to_string(), node.advertise());
        let https = format!("127.0.0.1:{}", node.port);
        let mut full: Vec<&str> = if command.is_empty() { vec!["serve"] } else { command.to_vec() };
        full.extend(["--storage-dir", &storage, "--cluster-source-address", &source, "--advertise", &advertise]);
        let config = self.config.as_ref().map(|p| p.display().to_string());
        if let Some(config) = &config {
            full.extend(["--config", config.as_str()]);
        }
        Server::launch(&node.data, &Launch { command: &full, https_listen: Some(&https), env: QUIET, ..Launch::default() })
    }

    /// A new replica joining through replica `via`; its index.
    pub async fn add(&mut self, via: usize) -> usize {
        let token = join_token(self.server(via)).await;
        let existing = self.nodes[via].advertise();
        let i = self.new_node().await;
        let server = self.launch(i, &["join", "--existing", &existing, "--token", &token]);
        self.nodes[i].server = Some(server);
        i
    }

    /// Replica `i`'s process.
    pub fn server(&self, i: usize) -> &Server {
        self.nodes[i].server.as_ref().unwrap_or_else(|| panic!("replica {i} is not running"))
    }

    /// The replicas running.
    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|i| self.nodes[*i].server.is_some()).collect()
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut server) = self.nodes[i].server.take() {
            server.kill9();
        }
    }

    /// SIGTERM, waiting for a clean exit.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut server) = self.nodes[i].server.take() {
            assert!(server.stop(), "replica {i} did not stop cleanly");
        }
    }

    /// Starts replica `i` again on its data directory and port.
    pub fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].server.is_none());
        let server = self.launch(i, &[]);
        self.nodes[i].server = Some(server);
    }

    /// `cluster_status` as replica `i` sees it.
    pub async fn status(&self, i: usize) -> Value {
        let response = client().get(self.server(i).url("/api/v0/meta/cluster_status")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// The index of the replica with this advertised address.
    fn index_of(&self, address: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.advertise() == address)
    }

    /// Replica `i`'s id.
    pub async fn id(&self, i: usize) -> String {
        let status = self.status(i).await;
        status["replica"].as_str().unwrap().to_owned()
    }

    /// The running replica that leads, once one does (within 30 s).
    pub async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for i in self.live() {
                let Ok(response) = client().get(self.server(i).url("/api/v0/meta/cluster_status")).send().await else { continue };
                let Ok(status) = response.json::<Value>().await else { continue };
                let leader = status["members"].as_array().into_iter().flatten().find(|m| m["leader"] == true && m["reachable"] == true);
                let index = leader.and_then(|m| self.index_of(m["address"].as_str().unwrap_or_default()));
                if let Some(index) = index.filter(|i| self.nodes[*i].server.is_some()) {
                    return index;
                }
            }
            assert!(Instant::now() < deadline, "no leader within 30 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A running replica that does not lead.
    pub async fn follower(&self) -> usize {
        let leader = self.leader().await;
        self.live().into_iter().find(|i| *i != leader).expect("a running follower")
    }

    /// Waits (up to 60 s) until every running replica reports every member reachable,
    /// with a quorum and no lag.
    pub async fn converged(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let leader = self.leader().await;
            let status = self.status(leader).await;
            let members = status["members"].as_array().cloned().unwrap_or_default();
            let live: Vec<String> = self.live().iter().map(|i| self.nodes[*i].advertise()).collect();
            let done = members
                .iter()
                .filter(|m| live.contains(&m["address"].as_str().unwrap_or_default().to_owned()))
                .all(|m| m["reachable"] == true && m["quorum"] == true && m["lag"] == 0)
                && members.iter().filter(|m| m["reachable"] == true).count() == live.len();
            if done {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not converge within 60 s: {status:#}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Cuts the replicas in `minority` off from the others (both ways); client traffic
    /// still reaches every replica.
    pub fn partition(&self, minority: &[usize]) {
        let sources = |group: &[usize]| group.iter().map(|i| self.nodes[*i].source).collect::<Vec<_>>();
        let majority: Vec<usize> = (0..self.nodes.len()).filter(|i| !minority.contains(i)).collect();
        for i in minority {
            self.nodes[*i].proxy.as_ref().expect("a proxied cluster").block(&sources(&majority));
        }
        for i in &majority {
            self.nodes[*i].proxy.as_ref().expect("a proxied cluster").block(&sources(minority));
        }
    }

    /// Ends every partition.
    pub fn heal(&self) {
        for node in &self.nodes {
            if let Some(proxy) = &node.proxy {
                proxy.unblock_all();
            }
        }
    }
}

/// A one-time join token, from replica `server`.
pub async fn join_token(server: &Server) -> String {
    let response = client().post(server.url("/api/v0/meta/join_tokens")).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// Pushes a small image without asserting: the manifest PUT's status (0 when the request
/// failed), and the manifest's digest.
pub async fn try_push(server: &Server, repo: &str, tag: &str, seed: u64) -> (u16, String) {
    let http = client();
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#);
    let layer = random_bytes(500 + (seed % 97) as usize, seed);
    for blob in [config.as_bytes(), &layer] {
        let url = server.url(&format!("/v2/{repo}/blobs/uploads/?digest={}", digest(blob)));
        match http.post(url).body(blob.to_vec()).timeout(Duration::from_secs(20)).send().await {
            Ok(r) if r.status() == 201 => {}
            Ok(r) => return (r.status().as_u16(), String::new()),
            Err(_) => return (0, String::new()),
        }
    }
    let manifest = image_manifest((&digest(config.as_bytes()), config.len()), &[(&digest(&layer), layer.len())], "");
    let put = http
        .put(server.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .timeout(Duration::from_secs(20))
        .send()
        .await;
    (put.map_or(0, |r| r.status().as_u16()), digest(manifest.as_bytes()))
}

/// The digest `repo:tag` resolves to on `server` (`Ok(None)`: no such tag), or the status
/// of a failed read.
pub async fn try_resolve(server: &Server, repo: &str, tag: &str) -> Result<Option<String>, u16> {
    let response = client()
        .head(server.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map_err(|_| 0u16)?;
    match response.status().as_u16() {
        200 => Ok(Some(response.headers()["docker-content-digest"].to_str().unwrap().to_owned())),
        404 => Ok(None),
        other => Err(other),
    }
}
