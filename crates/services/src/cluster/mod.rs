//! The cluster service: this replica's place among the others. It opens the metadata
//! as a replica, keeps the replica's certificate, admits new replicas with one-time
//! tokens, answers the messages replicas exchange, and reports and changes membership.
//! Administrators only, where a caller is involved.
//!
//! ```text
//! <data>/cluster/ca.crt        the cluster CA's certificate
//! <data>/cluster/replica.crt   this replica's certificate (CN: its id)
//! <data>/cluster/replica.key   its key (0600)
//! ```

pub mod ca;
pub mod join;
pub mod repair;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use berth_auth::Subject;
use berth_core::Secret;
use berth_meta::command::{CreateJoinToken, PutSetting, RedeemJoinToken};
pub use berth_meta::raft::network::{Endpoint, Transport};
use berth_meta::raft::replica;
use berth_meta::seal::MasterKey;
use berth_meta::{Applied, ClusterStatus, Command, Meta, Setting, Start, Timing, now};
use sha2::{Digest as _, Sha256};

pub use berth_meta::raft::network::{Reply, TransportError};
pub use berth_meta::{ClusterStatus as Status, Gauges, MemberStatus};
pub use join::{JoinGrant, JoinRequest, JoinToken};

/// A new replica id (12 hex characters).
pub fn new_replica_id() -> String {
    replica::format_id(replica::new_id())
}

/// The path of a replica message's endpoint, as the transport addresses it.
pub fn endpoint_name(endpoint: Endpoint) -> &'static str {
    endpoint.name()
}

/// What sealing the CA key is bound to.
const CA_KEY_PURPOSE: &str = "cluster-ca";
/// How long a join token works.
pub const JOIN_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Only system administrators may.
    #[error("only system administrators may manage the cluster")]
    NotAuthorized,
    /// A message from something that is not a replica of this cluster.
    #[error("replica messages need a replica certificate")]
    NotAReplica,
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The join token is unknown, spent, expired or wrong.
    #[error("the join token is unknown, already used or expired; ask an administrator for a new one (berth join-token)")]
    JoinRefused,
    /// The cluster cannot do it now (no quorum).
    #[error("{0}")]
    Unavailable(String),
    /// Refused (a membership change that would lose the quorum, …).
    #[error("{0}")]
    Refused(String),
    /// Certificates could not be made or read.
    #[error(transparent)]
    Ca(#[from] ca::CaError),
    /// The master key could not be used.
    #[error(transparent)]
    Seal(#[from] berth_meta::seal::SealError),
    /// Local files could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The metadata failed.
    #[error(transparent)]
    Meta(berth_meta::Error),
}

impl From<berth_meta::Error> for ClusterError {
    fn from(e: berth_meta::Error) -> Self {
        match e.unavailable() {
            Ok(why) => ClusterError::Unavailable(why),
            Err(berth_meta::Error::Refused(why)) => ClusterError::Refused(why),
            Err(other) => ClusterError::Meta(other),
        }
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> ClusterError {
    ClusterError::Io(format!("{what} {}: {e}", path.display()))
}

/// This replica's TLS identity among replicas.
pub struct ReplicaIdentity {
    /// The cluster CA's certificate (PEM).
    pub ca: String,
    /// This replica's certificate (PEM).
    pub certificate: String,
    /// Its key (PEM).
    pub key: Secret,
}

/// A replica joining: who it is and which cluster it joins.
#[derive(Debug, Clone)]
pub struct Joining {
    /// Its id.
    pub replica: String,
    /// The cluster's id.
    pub cluster: String,
}

/// How to open this replica.
pub struct ClusterOptions {
    /// The data directory (already private).
    pub data_dir: PathBuf,
    /// The master key, when given (`BERTH_MASTER_KEY`); else `<data>/master.key`.
    pub master_key: Option<Secret>,
    /// How the other replicas reach this one (its base URL).
    pub address: String,
    /// How to reach them.
    pub transport: Option<Arc<dyn Transport>>,
    /// Set when joining an existing cluster.
    pub joining: Option<Joining>,
    /// How long a write waits for a quorum.
    pub write_timeout: Duration,
}

/// The cluster service. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    meta: Meta,
    master: Arc<MasterKey>,
    dir: PathBuf,
}

fn files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join("ca.crt"), dir.join("replica.crt"), dir.join("replica.key"))
}

fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), ClusterError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mode = if private { 0o600 } else { 0o644 };
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path).map_err(|e| io("writing", path, e))?;
    std::io::Write::write_all(&mut file, contents.as_bytes()).map_err(|e| io("writing", path, e))?;
    file.sync_all().map_err(|e| io("writing", path, e))
}

/// Before a joining replica opens its store: keeps the certificate it was granted, its
/// key, the CA and the cluster's master key in its (empty) data directory.
pub fn install_grant(data_dir: &Path, grant: &JoinGrant, key: &str, master_from_env: Option<&Secret>) -> Result<(), ClusterError> {
    if data_dir.join("meta.redb").exists() {
        return Err(ClusterError::Refused(format!(
            "{} already holds a registry; a replica joins with an empty data directory",
            data_dir.display()
        )));
    }
    let master = MasterKey::from_base64(&grant.master_key, "the cluster")?;
    match master_from_env {
        Some(given) if MasterKey::from_base64(given.expose(), "BERTH_MASTER_KEY")?.to_base64() != master.to_base64() => {
            return Err(ClusterError::Refused("BERTH_MASTER_KEY differs from the cluster's master key".into()));
        }
        Some(_) => {}
        None => {
            let file = data_dir.join("master.key");
            let _ = std::fs::remove_file(&file);
            master.save(&file)?;
        }
    }
    let dir = data_dir.join("cluster");
    std::fs::create_dir_all(&dir).map_err(|e| io("creating", &dir, e))?;
    let (ca_file, certificate_file, key_file) = files(&dir);
    write_file(&key_file, key, true)?;
    write_file(&certificate_file, &grant.certificate, false)?;
    write_file(&ca_file, &grant.ca, false)
}

impl Cluster {
    /// Opens the master key and the metadata as a replica.
    pub async fn open(options: ClusterOptions) -> Result<Cluster, ClusterError> {
        let master = MasterKey::load_or_create(&options.data_dir.join("master.key"), options.master_key.as_ref().map(Secret::expose))?;
        let start = match &options.joining {
            None => Start::Found,
            Some(joining) => Start::Join {
                replica: replica::parse_id(&joining.replica).ok_or_else(|| ClusterError::Invalid("a malformed replica id".into()))?,
                cluster: joining.cluster.clone(),
            },
        };
        let meta_options = berth_meta::Options {
            transport: options.transport,
            address: options.address,
            start,
            write_timeout: options.write_timeout,
            timing: Timing::default(),
            snapshot_dir: Some(options.data_dir.join("snapshots")),
        };
        let meta = Meta::open_with(&options.data_dir.join("meta.redb"), meta_options).await?;
        Ok(Cluster { meta, master: Arc::new(master), dir: options.data_dir.join("cluster") })
    }

    /// The metadata (for the other services).
    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The master key (for the other services).
    pub(crate) fn master(&self) -> &Arc<MasterKey> {
        &self.master
    }

    /// This replica's id.
    pub fn replica_id(&self) -> String {
        self.meta.replica_id()
    }

    /// The cluster's id.
    pub fn cluster_id(&self) -> &str {
        self.meta.cluster_id()
    }

    /// Whether this replica leads (background jobs run on the leader only).
    pub fn is_leader(&self) -> bool {
        self.meta.is_leader()
    }

    /// Whether this replica is with a quorum.
    pub fn has_quorum(&self) -> bool {
        self.meta.has_quorum()
    }

    /// The replication figures, for metrics.
    pub fn gauges(&self) -> Gauges {
        self.meta.gauges()
    }

    /// Stops taking part and closes the store.
    pub async fn shutdown(&self) {
        self.meta.shutdown().await;
    }

    /// The CA certificate and its key, making them on first use (by the founding
    /// replica, the only member then).
    async fn ca(&self) -> Result<(String, String), ClusterError> {
        if let Some((certificate, sealed)) = self.meta.read_latest(|r| r.cluster_ca()).await? {
            let key = self.master.open(CA_KEY_PURPOSE, &sealed)?;
            return Ok((certificate, String::from_utf8(key).map_err(|_| ClusterError::Io("the CA key is not PEM".into()))?));
        }
        let (certificate, key) = ca::generate(self.cluster_id())?;
        let sealed_key = self.master.seal(CA_KEY_PURPOSE, key.as_bytes())?;
        let put = PutSetting { setting: Setting::ClusterCa { certificate, sealed_key }, only_if_absent: true };
        self.meta.apply(Command::PutSetting(put)).await?;
        // Whoever stored one first, that is the CA.
        let (certificate, sealed) =
            self.meta.read(|r| r.cluster_ca()).await?.ok_or_else(|| ClusterError::Io("the cluster CA was not stored".into()))?;
        let key = self.master.open(CA_KEY_PURPOSE, &sealed)?;
        Ok((certificate, String::from_utf8(key).map_err(|_| ClusterError::Io("the CA key is not PEM".into()))?))
    }

    /// The CA's certificate (PEM): public, what a joining replica pins.
    pub async fn ca_certificate(&self) -> Result<String, ClusterError> {
        Ok(self.ca().await?.0)
    }

    /// This replica's certificate, key and CA, from its data directory; made on first
    /// use for a replica that founded its cluster.
    pub async fn identity(&self) -> Result<ReplicaIdentity, ClusterError> {
        let (ca_file, certificate_file, key_file) = files(&self.dir);
        let read = |path: &Path| std::fs::read_to_string(path).map_err(|e| io("reading", path, e));
        if !(ca_file.exists() && certificate_file.exists() && key_file.exists()) {
            let (ca_certificate, ca_key) = self.ca().await?;
            let (key, public) = ca::replica_key()?;
            let certificate = ca::issue(&ca_certificate, &ca_key, &self.replica_id(), &public)?;
            std::fs::create_dir_all(&self.dir).map_err(|e| io("creating", &self.dir, e))?;
            write_file(&key_file, &key, true)?;
            write_file(&certificate_file, &certificate, false)?;
            write_file(&ca_file, &ca_certificate, false)?;
        }
        Ok(ReplicaIdentity { ca: read(&ca_file)?, certificate: read(&certificate_file)?, key: Secret::new(read(&key_file)?) })
    }

    /// Answers a message from replica `peer` (the common name of the certificate its
    /// connection presented) of cluster `cluster`.
    pub async fn handle(&self, peer: Option<&str>, cluster: &str, endpoint: &str, body: &[u8]) -> Result<Vec<u8>, ClusterError> {
        let endpoint = Endpoint::parse(endpoint).ok_or_else(|| ClusterError::Invalid(format!("no replica message {endpoint}")))?;
        if peer.is_none() {
            return Err(ClusterError::NotAReplica);
        }
        Ok(self.meta.handle(cluster, endpoint, body).await?)
    }

    /// A one-time token a new replica joins with (system administrators).
    pub async fn join_token(&self, by: &Subject) -> Result<String, ClusterError> {
        if !berth_auth::policy::administers(by) {
            return Err(ClusterError::NotAuthorized);
        }
        let random = |n: usize| {
            let mut bytes = vec![0u8; n];
            aws_lc_rs::rand::fill(&mut bytes).map(|_| hex::encode(&bytes)).map_err(|_| ClusterError::Io("no randomness".into()))
        };
        let token = JoinToken { id: random(8)?, secret: random(32)?, ca_fingerprint: ca::fingerprint(&self.ca_certificate().await?)? };
        let at = now();
        let create = CreateJoinToken {
            id: token.id.clone(),
            secret_sha256: hex::encode(Sha256::digest(token.secret.as_bytes())),
            at,
            expires_at: at + JOIN_TOKEN_TTL.as_secs(),
        };
        match self.meta.apply(Command::CreateJoinToken(create)).await? {
            Applied::Done => Ok(token.render()),
            Applied::Rejected(why) => Err(ClusterError::Refused(format!("{why:?}"))),
        }
    }

    /// Admits a new replica: spends its token and signs its certificate.
    pub async fn admit(&self, request: JoinRequest) -> Result<JoinGrant, ClusterError> {
        if replica::parse_id(&request.replica).is_none() {
            return Err(ClusterError::Invalid("a replica id is 12 hex characters".into()));
        }
        // Checked here first, so that a guess costs a lookup, never a write to the log.
        let secret_sha256 = hex::encode(Sha256::digest(request.secret.as_bytes()));
        let id = request.token_id.clone();
        let known = self.meta.read_latest(move |r| r.join_token(&id)).await?;
        let usable = known.is_some_and(|t| {
            t.used_by.is_none()
                && t.expires_at > now()
                && aws_lc_rs::constant_time::verify_slices_are_equal(t.secret_sha256.as_bytes(), secret_sha256.as_bytes()).is_ok()
        });
        if !usable {
            return Err(ClusterError::JoinRefused);
        }
        let public_key = base64::engine::general_purpose::STANDARD
            .decode(&request.public_key)
            .map_err(|_| ClusterError::Invalid("publicKey is not base64".into()))?;
        let redeem = RedeemJoinToken { id: request.token_id, secret_sha256, replica: request.replica.clone(), at: now() };
        if self.meta.apply(Command::RedeemJoinToken(redeem)).await? != Applied::Done {
            return Err(ClusterError::JoinRefused);
        }
        let (ca_certificate, ca_key) = self.ca().await?;
        let certificate = ca::issue(&ca_certificate, &ca_key, &request.replica, &public_key)?;
        tracing::info!(replica = %request.replica, address = %request.address, "join token spent; replica certificate issued");
        Ok(JoinGrant { cluster: self.cluster_id().to_owned(), certificate, ca: ca_certificate, master_key: self.master.to_base64() })
    }

    /// For a joining replica: asks the replica at `existing` to add this one, and waits
    /// until it has caught up and votes.
    pub async fn join_via(&self, existing: &str) -> Result<(), ClusterError> {
        self.meta.ask_to_join(existing).await?;
        self.meta.joined().await?;
        Ok(())
    }

    /// The cluster's members and health (system administrators).
    pub async fn status(&self, by: &Subject) -> Result<ClusterStatus, ClusterError> {
        if !berth_auth::policy::administers(by) {
            return Err(ClusterError::NotAuthorized);
        }
        Ok(self.meta.status().await)
    }

    /// Removes a replica (system administrators); refused when it would lose the quorum.
    pub async fn remove_replica(&self, by: &Subject, id: &str) -> Result<(), ClusterError> {
        if !berth_auth::policy::administers(by) {
            return Err(ClusterError::NotAuthorized);
        }
        let replica =
            replica::parse_id(id).ok_or_else(|| ClusterError::Invalid(format!("{id} is not a replica id (12 hex characters)")))?;
        Ok(self.meta.remove_replica(replica).await?)
    }
}
