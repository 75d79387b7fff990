//! Configuration: defaults, then `berth.toml` (or `--config FILE`), then `BERTH_*`
//! environment variables, then flags; later sources win. Each crate gets only the small
//! options struct it needs (see `app.rs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_core::Secret;
use berth_services::{S3Options, StorageConfig};
use serde::Deserialize;

/// The data directory when none is configured.
pub const DEFAULT_DATA_DIR: &str = "./berth-data";

/// The configuration file as written. Every field is optional; defaults fill the gaps.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Where blobs, metadata and generated certificates live.
    pub data_dir: Option<PathBuf>,
    /// HTTPS listen address.
    pub https_listen: Option<SocketAddr>,
    /// Optional plain-HTTP listen address.
    pub http_listen: Option<SocketAddr>,
    /// The URL clients reach the registry at (`https://registry.example.com`), as DTR's
    /// `--dtr-external-url`: token challenges point there, and trust data is accepted only
    /// for GUNs naming its host.
    pub external_url: Option<String>,
    /// Your own certificate and key instead of the generated ones.
    #[serde(default)]
    pub tls: TlsFileConfig,
    /// Limits.
    #[serde(default)]
    pub limits: LimitsFileConfig,
    /// `text` (default) or `json`.
    pub log_format: Option<String>,
    /// An LDAP / Active Directory directory for logins and account sync.
    pub ldap: Option<LdapFileConfig>,
    /// Where blobs live.
    #[serde(default)]
    pub storage: StorageFileConfig,
    /// This replica among the others.
    #[serde(default)]
    pub cluster: ClusterFileConfig,
    /// Garbage collection.
    #[serde(default)]
    pub gc: GcFileConfig,
    /// Webhook delivery.
    #[serde(default)]
    pub webhooks: WebhooksFileConfig,
    /// The audit log.
    #[serde(default)]
    pub events: EventsFileConfig,
    /// Repository policies.
    #[serde(default)]
    pub policies: PoliciesFileConfig,
    /// Mirroring with remote registries.
    #[serde(default)]
    pub mirroring: MirroringFileConfig,
}

/// `[mirroring]`: how push and poll mirroring reach remote registries.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirroringFileConfig {
    /// Let remotes be loopback or link-local addresses (default: no; a policy could
    /// otherwise reach the registry's own host or a cloud metadata service).
    pub allow_local_remotes: Option<bool>,
    /// How long connecting, and each read, may take, seconds (default 30).
    pub timeout_secs: Option<u64>,
    /// The delay before the first retry, milliseconds (default 2000); each next one doubles.
    pub retry_base_millis: Option<u64>,
    /// How long after its first attempt a push is retried, seconds (default 86400).
    pub retry_for_secs: Option<u64>,
}

/// `[webhooks]`: how deliveries are made.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksFileConfig {
    /// Let endpoints be loopback or link-local addresses (default: no; a webhook could
    /// otherwise reach the registry's own host or a cloud metadata service).
    pub allow_local_endpoints: Option<bool>,
    /// How long one attempt may take, seconds (default 10).
    pub timeout_secs: Option<u64>,
    /// The delay before the first retry, milliseconds (default 2000); each next one doubles.
    pub retry_base_millis: Option<u64>,
    /// How long after its event a delivery is retried, seconds (default 3600).
    pub retry_for_secs: Option<u64>,
    /// Failed deliveries in a row that pause a hook (default 5).
    pub pause_after: Option<u32>,
}

/// `[events]`: the audit log.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsFileConfig {
    /// Keep events this many days (default 365; 0 keeps them by count only).
    pub keep_days: Option<u64>,
    /// Keep at most this many events (default 50,000,000; 0: no limit).
    pub keep_count: Option<u64>,
    /// Seconds between two writes of the pulls counted meanwhile (default 10).
    pub pull_flush_secs: Option<u64>,
}

/// `[policies]`: repositories' pruning policies.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoliciesFileConfig {
    /// Seconds between two runs of every enabled pruning policy (default 3600; 0 runs them
    /// only on request).
    pub pruning_interval_secs: Option<u64>,
}

/// `[gc]`: garbage collection of blobs no manifest uses.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcFileConfig {
    /// Blobs written or linked this recently are kept, used or not, seconds (default
    /// 3600; 0 collects everything unused at once, for tests).
    pub grace_secs: Option<u64>,
    /// Seconds between scheduled runs; 0 (the default) runs only on request.
    pub interval_secs: Option<u64>,
    /// Also delete manifests no tag, index or artifact names, pushed this many days ago
    /// (default: keep them).
    pub untagged_days: Option<u64>,
}

/// `[storage]`: a directory (the default), or an S3 bucket (`kind = "s3"`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageFileConfig {
    /// `fs` (default) or `s3`.
    pub kind: Option<String>,
    /// The blob directory (default `<data_dir>/storage`). Replicas of one cluster share
    /// one (an NFS mount, for instance).
    pub path: Option<PathBuf>,
    /// S3: the bucket (created beforehand).
    pub bucket: Option<String>,
    /// S3: a key prefix inside the bucket.
    pub prefix: Option<String>,
    /// S3: the region (or `AWS_REGION`).
    pub region: Option<String>,
    /// S3: the endpoint of an S3-compatible server, `https://host:port` (or `AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// S3: `endpoint/bucket/key` requests (default: true with an endpoint, false for AWS).
    pub path_style: Option<bool>,
    /// S3: the access key id (or `AWS_ACCESS_KEY_ID`, or the instance's role).
    pub access_key_id: Option<String>,
    /// S3: the secret access key (or `AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<Secret>,
    /// S3: the size of multipart parts, MiB (default 8, at least 5; a blob has at most
    /// 10,000 parts).
    pub part_size_mib: Option<usize>,
    /// S3: part buffers held in memory at once by the whole process (default 16).
    pub part_buffers: Option<usize>,
}

impl StorageFileConfig {
    fn overlay(self, other: StorageFileConfig) -> StorageFileConfig {
        StorageFileConfig {
            kind: other.kind.or(self.kind),
            path: other.path.or(self.path),
            bucket: other.bucket.or(self.bucket),
            prefix: other.prefix.or(self.prefix),
            region: other.region.or(self.region),
            endpoint: other.endpoint.or(self.endpoint),
            path_style: other.path_style.or(self.path_style),
            access_key_id: other.access_key_id.or(self.access_key_id),
            secret_access_key: other.secret_access_key.or(self.secret_access_key),
            part_size_mib: other.part_size_mib.or(self.part_size_mib),
            part_buffers: other.part_buffers.or(self.part_buffers),
        }
    }

    /// The storage, or `None` with its problems noted.
    fn resolve(self, data_dir: &Path, problems: &mut Problems) -> Option<StorageConfig> {
        match self.kind.as_deref() {
            None | Some("fs") => {
                let s3_only = [
                    ("bucket", self.bucket.is_some()),
                    ("prefix", self.prefix.is_some()),
                    ("region", self.region.is_some()),
                    ("endpoint", self.endpoint.is_some()),
                    ("path_style", self.path_style.is_some()),
                    ("access_key_id", self.access_key_id.is_some()),
                    ("secret_access_key", self.secret_access_key.is_some()),
                    ("part_size_mib", self.part_size_mib.is_some()),
                    ("part_buffers", self.part_buffers.is_some()),
                ];
                let before = problems.len();
                for (name, _) in s3_only.iter().filter(|(_, set)| *set) {
                    problems.add(format!("storage.{name} is for kind = \"s3\"; this storage is a directory"));
                }
                (problems.len() == before).then(|| StorageConfig::Fs { root: self.path.unwrap_or_else(|| data_dir.join("storage")) })
            }
            Some("s3") => {
                let before = problems.len();
                if self.path.is_some() {
                    problems.add("storage.path is for kind = \"fs\"; an S3 storage is a bucket");
                }
                let bucket = self.bucket.filter(|b| !b.is_empty()).unwrap_or_default();
                if bucket.is_empty() {
                    problems.add("storage.bucket is required with kind = \"s3\"");
                }
                let part_size_mib = self.part_size_mib.unwrap_or(S3Options::DEFAULT_PART_SIZE >> 20);
                if !(5..=5 << 10).contains(&part_size_mib) {
                    problems.add(format!("storage.part_size_mib {part_size_mib}: S3 takes parts of 5 to 5120 MiB"));
                }
                if let Some(endpoint) = &self.endpoint
                    && !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
                {
                    problems.add(format!("storage.endpoint {endpoint:?}: use https://host[:port]"));
                }
                if problems.len() > before {
                    return None;
                }
                // Keys sit under `prefix/`, whatever slashes it was written with.
                let prefix = self.prefix.unwrap_or_default().trim_matches('/').to_owned();
                let prefix = if prefix.is_empty() { prefix } else { format!("{prefix}/") };
                Some(StorageConfig::S3 {
                    options: S3Options {
                        bucket,
                        prefix,
                        region: self.region,
                        path_style: self.path_style.unwrap_or(self.endpoint.is_some()),
                        endpoint: self.endpoint,
                        access_key_id: self.access_key_id,
                        secret_access_key: self.secret_access_key,
                        part_size: part_size_mib << 20,
                        part_buffers: self.part_buffers.unwrap_or(S3Options::DEFAULT_PART_BUFFERS).max(2),
                    },
                    spill: data_dir.join("s3-spill"),
                })
            }
            Some(other) => {
                problems.add(format!("storage.kind {other:?}: use \"fs\" or \"s3\""));
                None
            }
        }
    }
}

/// `[cluster]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFileConfig {
    /// How the other replicas reach this one: `https://host:port` (default: the HTTPS
    /// listen address, when it is a specific one).
    pub advertise: Option<String>,
    /// How long a write waits for a quorum before failing with 503, seconds (default 5).
    pub write_timeout_secs: Option<u64>,
    /// The local address replica traffic leaves from (default: the system's choice), for
    /// hosts where replicas talk over their own network.
    pub source_address: Option<std::net::IpAddr>,
}

/// `[ldap]`: the directory users log in against and accounts are synced from.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapFileConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade `ldap://` with StartTLS.
    #[serde(default)]
    pub start_tls: bool,
    /// PEM file of the CA(s) to trust for LDAPS/StartTLS (default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// The service account that searches the directory (default: anonymous).
    #[serde(default)]
    pub bind_dn: String,
    /// Its password (or `BERTH_LDAP_BIND_PASSWORD`).
    #[serde(default)]
    pub bind_password: Secret,
    /// Where user entries are searched.
    pub user_base_dn: String,
    /// Which entries are users (default `(objectClass=person)`).
    pub user_filter: Option<String>,
    /// Search the whole subtree under `user_base_dn` (default true).
    pub user_subtree: Option<bool>,
    /// The login-name attribute (default `uid`; `sAMAccountName` for Active Directory).
    pub login_attribute: Option<String>,
    /// The display-name attribute (default `cn`).
    pub full_name_attribute: Option<String>,
    /// The e-mail attribute (default `mail`).
    pub email_attribute: Option<String>,
    /// Seconds between scheduled syncs; 0 turns the schedule off (default 3600).
    pub sync_interval_secs: Option<u64>,
    /// Connection and operation timeout, seconds (default 10).
    pub timeout_secs: Option<u64>,
}

/// `[tls]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFileConfig {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

/// `[limits]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFileConfig {
    /// Largest manifest accepted, bytes (default 4 MiB).
    pub max_manifest_size: Option<usize>,
    /// Largest blob accepted, bytes (default 1 TiB).
    pub max_upload_size: Option<u64>,
    /// Upload sessions idle this long are purged, seconds (default 24 h).
    pub upload_idle_expiry_secs: Option<u64>,
    /// Largest request header block, bytes (default 64 KiB).
    pub max_header_size: Option<usize>,
    /// A request body that sends nothing for this long is cut, seconds (default 60).
    pub body_idle_timeout_secs: Option<u64>,
    /// Connections served at once; further ones are answered 503 (default 4096).
    pub max_connections: Option<usize>,
    /// The fewest characters a new password may have (default 8).
    pub min_password_length: Option<usize>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// HTTPS listen address.
    pub https_listen: SocketAddr,
    /// Plain-HTTP listen address, if any.
    pub http_listen: Option<SocketAddr>,
    /// The URL clients reach the registry at, if configured.
    pub external_url: Option<ExternalUrl>,
    /// Configured certificate and key, or `None` to generate them.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    /// Largest manifest.
    pub max_manifest_size: usize,
    /// Largest blob.
    pub max_upload_size: u64,
    /// Idle time after which an upload session is purged.
    pub upload_idle_expiry: Duration,
    /// Largest request header block.
    pub max_header_size: usize,
    /// Time a request body may send nothing before it is cut.
    pub body_idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// The fewest characters of a new password.
    pub min_password_length: usize,
    /// Whether logs are JSON.
    pub json_logs: bool,
    /// The `admin` password for the first start (from `BERTH_ADMIN_PASSWORD` only).
    pub admin_password: Option<Secret>,
    /// The master key sealing secrets in the metadata (from `BERTH_MASTER_KEY` only;
    /// otherwise `<data>/master.key`).
    pub master_key: Option<Secret>,
    /// The service name in token challenges and tokens.
    pub token_service: String,
    /// The LDAP directory, if configured.
    pub ldap: Option<LdapConfig>,
    /// Where blobs live.
    pub storage: StorageConfig,
    /// How the other replicas reach this one (its base URL), when configured; see
    /// [`Config::advertise_for`].
    pub advertise: Option<String>,
    /// How long a write waits for a quorum.
    pub write_timeout: Duration,
    /// The local address replica traffic leaves from.
    pub source_address: Option<std::net::IpAddr>,
    /// Garbage collection's grace period.
    pub gc_grace: Duration,
    /// Time between scheduled garbage collections (none when `None`).
    pub gc_interval: Option<Duration>,
    /// Garbage collection deletes untagged manifests this old, in days, when set.
    pub gc_untagged_days: Option<u64>,
    /// Webhook delivery.
    pub webhooks: berth_services::WebhookOptions,
    /// How mirroring reaches remotes.
    pub mirroring: berth_services::MirroringOptions,
    /// Events older than this many days are removed (0: kept by count only).
    pub events_keep_days: u64,
    /// At most this many events are kept (0: no limit).
    pub events_keep_count: u64,
    /// Time between two writes of counted pulls.
    pub pull_flush: Duration,
    /// Time between two runs of the enabled pruning policies (none when `None`).
    pub pruning_interval: Option<Duration>,
}

/// Where clients reach the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalUrl {
    /// `https` or `http`.
    pub scheme: String,
    /// `host[:port]`, as clients write it in image references.
    pub authority: String,
}

impl ExternalUrl {
    /// Parses `https://host[:port]` (a trailing `/` allowed, nothing else after the host).
    pub fn parse(text: &str) -> Result<ExternalUrl, ConfigError> {
        let invalid = || ConfigError::Invalid(vec![format!("external_url {text:?}: use https://host or https://host:port")]);
        let (scheme, rest) = text.split_once("://").ok_or_else(invalid)?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if !(scheme == "https" || scheme == "http") || !berth_core::host::valid_authority(authority) {
            return Err(invalid());
        }
        Ok(ExternalUrl { scheme: scheme.to_owned(), authority: authority.to_ascii_lowercase() })
    }

    /// The URL, without a trailing `/`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

/// The effective `[ldap]` settings.
#[derive(Debug, Clone)]
pub struct LdapConfig {
    /// How the directory is reached and read (the CA file still to be read).
    pub options: berth_auth::identity::LdapOptions,
    /// The CA file for LDAPS/StartTLS.
    pub ca_file: Option<PathBuf>,
    /// Time between scheduled syncs, if scheduled.
    pub sync_interval: Option<Duration>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the line and the field).
        message: String,
    },
    /// Values out of range or inconsistent: every problem found.
    #[error("invalid configuration: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// The problems found while resolving a configuration, reported all together.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    /// Notes one.
    pub fn add(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    /// How many so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems, one per entry.
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl Config {
    /// How the other replicas reach this one, listening on `https` (the bound address):
    /// `cluster.advertise`, else that address, or the host name when it listens on every
    /// interface.
    pub fn advertise_for(&self, https: SocketAddr) -> String {
        match &self.advertise {
            Some(url) => url.clone(),
            None if https.ip().is_unspecified() => {
                let host = crate::tls::host_name().unwrap_or_else(|| "localhost".into());
                format!("https://{host}:{}", https.port())
            }
            None => format!("https://{https}"),
        }
    }
}

impl FileConfig {
    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
    }

    /// Overlays `other` (a later source) on `self`.
    pub fn overlay(mut self, other: FileConfig) -> FileConfig {
        self.data_dir = other.data_dir.or(self.data_dir);
        self.https_listen = other.https_listen.or(self.https_listen);
        self.http_listen = other.http_listen.or(self.http_listen);
        self.tls.cert = other.tls.cert.or(self.tls.cert);
        self.tls.key = other.tls.key.or(self.tls.key);
        self.limits.max_manifest_size = other.limits.max_manifest_size.or(self.limits.max_manifest_size);
        self.limits.max_upload_size = other.limits.max_upload_size.or(self.limits.max_upload_size);
        self.limits.upload_idle_expiry_secs = other.limits.upload_idle_expiry_secs.or(self.limits.upload_idle_expiry_secs);
        self.limits.max_header_size = other.limits.max_header_size.or(self.limits.max_header_size);
        self.limits.body_idle_timeout_secs = other.limits.body_idle_timeout_secs.or(self.limits.body_idle_timeout_secs);
        self.limits.max_connections = other.limits.max_connections.or(self.limits.max_connections);
        self.limits.min_password_length = other.limits.min_password_length.or(self.limits.min_password_length);
        self.external_url = other.external_url.or(self.external_url);
        self.log_format = other.log_format.or(self.log_format);
        self.ldap = other.ldap.or(self.ldap);
        self.storage = self.storage.overlay(other.storage);
        self.cluster.advertise = other.cluster.advertise.or(self.cluster.advertise);
        self.cluster.write_timeout_secs = other.cluster.write_timeout_secs.or(self.cluster.write_timeout_secs);
        self.cluster.source_address = other.cluster.source_address.or(self.cluster.source_address);
        self.gc.grace_secs = other.gc.grace_secs.or(self.gc.grace_secs);
        self.gc.interval_secs = other.gc.interval_secs.or(self.gc.interval_secs);
        self.gc.untagged_days = other.gc.untagged_days.or(self.gc.untagged_days);
        self.policies.pruning_interval_secs = other.policies.pruning_interval_secs.or(self.policies.pruning_interval_secs);
        self
    }

    /// Fills defaults and checks consistency; every problem is reported.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let mut problems = Problems::default();
        let tls_files = match (self.tls.cert, self.tls.key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                problems.add("tls.cert and tls.key must be given together");
                None
            }
        };
        let json_logs = match self.log_format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                problems.add(format!("log_format {other:?}: use \"text\" or \"json\""));
                false
            }
        };
        let max_manifest_size = self.limits.max_manifest_size.unwrap_or(4 << 20);
        if max_manifest_size == 0 {
            problems.add("limits.max_manifest_size must be positive");
        }
        let ldap = self.ldap.and_then(|ldap| ldap.resolve(&mut problems));
        let mut positive = |value: Option<u64>, default: u64, name: &str| match value {
            Some(0) => {
                problems.add(format!("{name} must be positive"));
                default
            }
            other => other.unwrap_or(default),
        };
        let body_idle_timeout = Duration::from_secs(positive(self.limits.body_idle_timeout_secs, 60, "limits.body_idle_timeout_secs"));
        let max_connections = positive(self.limits.max_connections.map(|n| n as u64), 4096, "limits.max_connections") as usize;
        let write_timeout = Duration::from_secs(positive(self.cluster.write_timeout_secs, 5, "cluster.write_timeout_secs"));
        let min_password_length = self.limits.min_password_length.unwrap_or(8);
        if min_password_length < 8 {
            problems.add("limits.min_password_length must be at least 8 (NIST SP 800-63B)");
        }
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let https_listen = self.https_listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 5443)));
        let advertise = self.cluster.advertise.and_then(|url| {
            let parsed = ExternalUrl::parse(&url).ok().filter(|u| u.scheme == "https").map(|u| u.url());
            if parsed.is_none() {
                problems.add(format!("cluster.advertise {url:?}: use https://host:port"));
            }
            parsed
        });
        let external_url = match self.external_url.as_deref().map(ExternalUrl::parse).transpose() {
            Ok(url) => url,
            Err(ConfigError::Invalid(found)) => {
                found.into_iter().for_each(|p| problems.add(p));
                None
            }
            Err(other) => return Err(other),
        };
        let storage = self.storage.resolve(&data_dir, &mut problems);
        let Some(storage) = storage.filter(|_| problems.is_empty()) else {
            return Err(ConfigError::Invalid(problems.into_vec()));
        };
        Ok(Config {
            gc_grace: Duration::from_secs(self.gc.grace_secs.unwrap_or(3600)),
            gc_interval: self.gc.interval_secs.filter(|s| *s > 0).map(Duration::from_secs),
            gc_untagged_days: self.gc.untagged_days,
            webhooks: berth_services::WebhookOptions {
                allow_local: self.webhooks.allow_local_endpoints.unwrap_or(false),
                timeout: Duration::from_secs(self.webhooks.timeout_secs.unwrap_or(10).max(1)),
                retry_base: Duration::from_millis(self.webhooks.retry_base_millis.unwrap_or(2000).max(10)),
                retry_for: Duration::from_secs(self.webhooks.retry_for_secs.unwrap_or(3600)),
                pause_after: self.webhooks.pause_after.unwrap_or(5).max(1),
                registry_host: external_url.as_ref().map(|u| u.authority.clone()),
            },
            mirroring: berth_services::MirroringOptions {
                allow_local: self.mirroring.allow_local_remotes.unwrap_or(false),
                timeout: Duration::from_secs(self.mirroring.timeout_secs.unwrap_or(30).max(1)),
                retry_base: Duration::from_millis(self.mirroring.retry_base_millis.unwrap_or(2000).max(10)),
                retry_for: Duration::from_secs(self.mirroring.retry_for_secs.unwrap_or(86_400)),
            },
            events_keep_days: self.events.keep_days.unwrap_or(365),
            events_keep_count: self.events.keep_count.unwrap_or(50_000_000),
            pull_flush: Duration::from_secs(self.events.pull_flush_secs.unwrap_or(10).max(1)),
            pruning_interval: Some(self.policies.pruning_interval_secs.unwrap_or(3600)).filter(|s| *s > 0).map(Duration::from_secs),
            storage,
            advertise,
            write_timeout,
            source_address: self.cluster.source_address,
            data_dir,
            https_listen,
            http_listen: self.http_listen,
            external_url,
            tls_files,
            max_manifest_size,
            max_upload_size: self.limits.max_upload_size.unwrap_or(1 << 40),
            upload_idle_expiry: Duration::from_secs(self.limits.upload_idle_expiry_secs.unwrap_or(24 * 3600)),
            max_header_size: self.limits.max_header_size.unwrap_or(64 << 10),
            body_idle_timeout,
            max_connections,
            min_password_length,
            json_logs,
            admin_password: None,
            master_key: None,
            token_service: "berth".into(),
            ldap,
        })
    }
}

impl LdapFileConfig {
    /// The directory settings, or `None` with their problems noted.
    fn resolve(self, problems: &mut Problems) -> Option<LdapConfig> {
        let before = problems.len();
        let scheme_ok = self.url.starts_with("ldap://") || self.url.starts_with("ldaps://");
        if !scheme_ok {
            problems.add(format!("ldap.url {:?}: use ldap://host:port or ldaps://host:port", self.url));
        }
        if self.start_tls && self.url.starts_with("ldaps://") {
            problems.add("ldap.start_tls is for ldap:// URLs; ldaps:// is TLS already");
        }
        if self.user_base_dn.is_empty() {
            problems.add("ldap.user_base_dn is required");
        }
        let user_filter = self.user_filter.unwrap_or_else(|| "(objectClass=person)".into());
        if !(user_filter.starts_with('(') && user_filter.ends_with(')')) {
            problems.add(format!("ldap.user_filter {user_filter:?}: a filter is written in parentheses"));
        }
        if problems.len() > before {
            return None;
        }
        let options = berth_auth::identity::LdapOptions {
            url: self.url,
            start_tls: self.start_tls,
            ca_pem: None,
            bind_dn: self.bind_dn,
            bind_password: self.bind_password,
            user_base_dn: self.user_base_dn,
            user_filter,
            user_subtree: self.user_subtree.unwrap_or(true),
            login_attribute: self.login_attribute.unwrap_or_else(|| "uid".into()),
            full_name_attribute: self.full_name_attribute.unwrap_or_else(|| "cn".into()),
            email_attribute: self.email_attribute.unwrap_or_else(|| "mail".into()),
            timeout: Duration::from_secs(self.timeout_secs.unwrap_or(10).max(1)),
        };
        let sync_interval = match self.sync_interval_secs.unwrap_or(3600) {
            0 => None,
            secs => Some(Duration::from_secs(secs)),
        };
        Some(LdapConfig { options, ca_file: self.ca_file, sync_interval })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_sources_win_and_defaults_fill() {
        let file: FileConfig =
            toml::from_str("data_dir = \"/a\"\nhttp_listen = \"127.0.0.1:1\"\n[limits]\nmax_manifest_size = 10\n").unwrap();
        let flags = FileConfig { data_dir: Some("/b".into()), ..FileConfig::default() };
        let config = file.overlay(flags).resolve().unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/b"));
        assert_eq!(config.http_listen, Some("127.0.0.1:1".parse().unwrap()));
        assert_eq!(config.max_manifest_size, 10);
        assert_eq!(config.https_listen, "0.0.0.0:5443".parse().unwrap());
    }

    #[test]
    fn refuses_bad_files() {
        assert!(toml::from_str::<FileConfig>("unknown_key = 1").is_err());
        assert!(toml::from_str::<FileConfig>("https_listen = \"not an address\"").is_err());
        let half_tls: FileConfig = toml::from_str("[tls]\ncert = \"/c\"").unwrap();
        assert!(matches!(half_tls.resolve(), Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn ldap_section_defaults_and_refusals() {
        let ok: FileConfig = toml::from_str("[ldap]\nurl = \"ldap://dir:389\"\nuser_base_dn = \"ou=people,dc=x\"\n").unwrap();
        let ldap = ok.resolve().unwrap().ldap.unwrap();
        assert_eq!(ldap.options.login_attribute, "uid");
        assert_eq!(ldap.options.user_filter, "(objectClass=person)");
        assert!(ldap.options.user_subtree);
        assert_eq!(ldap.sync_interval, Some(Duration::from_secs(3600)));
        for bad in [
            "[ldap]\nurl = \"http://dir\"\nuser_base_dn = \"dc=x\"",
            "[ldap]\nurl = \"ldaps://dir\"\nstart_tls = true\nuser_base_dn = \"dc=x\"",
            "[ldap]\nurl = \"ldap://dir\"\nuser_base_dn = \"\"",
            "[ldap]\nurl = \"ldap://dir\"\nuser_base_dn = \"dc=x\"\nuser_filter = \"uid=*\"",
        ] {
            let file: FileConfig = toml::from_str(bad).unwrap();
            assert!(matches!(file.resolve(), Err(ConfigError::Invalid(_))), "{bad}");
        }
        assert!(toml::from_str::<FileConfig>("[ldap]\nurl = \"ldap://dir\"\nuser_base_dn = \"dc=x\"\nbogus = 1").is_err());
    }

    #[test]
    fn storage_is_a_directory_or_a_bucket() {
        let resolve = |text: &str| toml::from_str::<FileConfig>(text).unwrap().resolve();
        let fs = resolve("data_dir = \"/d\"").unwrap();
        assert!(matches!(fs.storage, StorageConfig::Fs { root } if root == Path::new("/d/storage")));
        let s3 = resolve(
            "data_dir = \"/d\"\n[storage]\nkind = \"s3\"\nbucket = \"blobs\"\nprefix = \"/berth/\"\nendpoint = \"http://s3:9000\"\nsecret_access_key = \"s3cret-key\"\n",
        )
        .unwrap();
        let StorageConfig::S3 { options, spill } = &s3.storage else { panic!("{:?}", s3.storage) };
        assert_eq!((options.bucket.as_str(), options.prefix.as_str()), ("blobs", "berth/"));
        assert!(options.path_style, "path-style by default with an endpoint");
        assert_eq!(options.part_size, 8 << 20);
        assert_eq!(spill, Path::new("/d/s3-spill"));
        assert!(!format!("{s3:?}").contains("s3cret"), "the secret key is never printed");
        for bad in [
            "[storage]\nkind = \"s3\"",
            "[storage]\nkind = \"s3\"\nbucket = \"b\"\npath = \"/x\"",
            "[storage]\nbucket = \"b\"",
            "[storage]\nkind = \"s3\"\nbucket = \"b\"\npart_size_mib = 4",
            "[storage]\nkind = \"s3\"\nbucket = \"b\"\nendpoint = \"s3.example.com\"",
            "[storage]\nkind = \"nfs\"",
        ] {
            assert!(matches!(resolve(bad), Err(ConfigError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = "log_format = \"xml\"\n[limits]\nmin_password_length = 4\n[storage]\nkind = \"s3\"\npart_size_mib = 1\n";
        let Err(ConfigError::Invalid(problems)) = toml::from_str::<FileConfig>(text).unwrap().resolve() else { panic!("accepted") };
        assert_eq!(problems.len(), 4, "{problems:?}");
        for named in ["log_format", "min_password_length", "storage.bucket", "part_size_mib"] {
            assert!(problems.iter().any(|p| p.contains(named)), "{named}: {problems:?}");
        }
    }

    #[test]
    fn secrets_are_never_printed() {
        let file: FileConfig =
            toml::from_str("[ldap]\nurl = \"ldap://dir\"\nuser_base_dn = \"dc=x\"\nbind_password = \"s3cret-bind\"\n").unwrap();
        let mut config = file.resolve().unwrap();
        config.admin_password = Some(Secret::new("s3cret-admin"));
        config.master_key = Some(Secret::new("s3cret-master"));
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(config.ldap.unwrap().options.bind_password.expose(), "s3cret-bind");
    }

    #[test]
    fn external_url_and_limits() {
        let file: FileConfig =
            toml::from_str("external_url = \"https://Registry.Example.com:5443/\"\n[limits]\nbody_idle_timeout_secs = 5").unwrap();
        let config = file.resolve().unwrap();
        assert_eq!(config.external_url.unwrap().url(), "https://registry.example.com:5443");
        assert_eq!(config.body_idle_timeout, Duration::from_secs(5));
        assert_eq!(config.min_password_length, 8);
        for bad in [
            "external_url = \"ftp://x\"",
            "external_url = \"https://x/path\"",
            "external_url = \"https://a\\\"b\"",
            "[limits]\nmin_password_length = 4",
            "[limits]\nmax_connections = 0",
        ] {
            let file: FileConfig = toml::from_str(bad).unwrap();
            assert!(matches!(file.resolve(), Err(ConfigError::Invalid(_))), "{bad}");
        }
    }
}
