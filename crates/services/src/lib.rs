//! Opens Berth's stores under a data directory and builds the services over them:
//! [`Cluster`] (this replica's place in its cluster, which opens the metadata),
//! [`Registry`], [`Auth`], [`Trust`], [`Webhooks`], [`Mirroring`] and [`PullThrough`]. This is the only code besides the services that
//! holds a store; the HTTP layer (`berth`) gets the services, so no handler can reach
//! metadata or blobs but through a service method, where the rules are.
//!
//! ```text
//! <data>/storage/     blob store root (see berth-storage's layout.rs)
//! <data>/meta.redb    the metadata database (and its replication log)
//! <data>/snapshots/   the metadata's current snapshot
//! <data>/cluster/     this replica's certificate and the cluster CA's
//! <data>/master.key   the key sealing the secrets kept in the metadata (unless given)
//! <data>/tmp/         metadata exports being streamed into a backup
//! ```

pub mod backup;
pub mod cache;
pub mod cluster;
pub mod mirroring;
mod outbound;
pub mod policies;
pub mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;

use berth_auth::identity::Directory;
use berth_auth::{Auth, AuthOptions};
use berth_core::Secret;
use berth_registry::{Limits, Registry};
use berth_storage::Storage;
use berth_trust::{Trust, TrustOptions};

pub use backup::{BackupError, BackupStream, Backups};
pub use berth_storage::{S3Options, StorageConfig};
pub use cache::{NewCache, PullThrough};
pub use cluster::{Cluster, ClusterError, ClusterOptions};
pub use mirroring::{Mirroring, MirroringOptions, NewMirror};
pub use webhooks::{NewWebhook, WebhookError, WebhookOptions, Webhooks};

/// What the services are built from.
pub struct Options {
    /// The data directory (already made private by the caller).
    pub data_dir: PathBuf,
    /// The blob storage: `<data>/storage`, a directory all replicas share, or a bucket.
    pub storage: StorageConfig,
    /// The largest blob accepted.
    pub max_upload_size: u64,
    /// The registry's limits.
    pub limits: Limits,
    /// Authentication's options.
    pub auth: AuthOptions,
    /// The `admin` password for the first start, if given.
    pub admin_password: Option<Secret>,
    /// The LDAP directory, if configured.
    pub directory: Option<Directory>,
    /// The trust service's options.
    pub trust: TrustOptions,
    /// How webhooks are delivered.
    pub webhooks: WebhookOptions,
    /// How mirroring reaches remote registries.
    pub mirroring: MirroringOptions,
}

/// The services.
pub struct Services {
    /// The registry (shared with the background work of the pull-through cache).
    pub registry: Arc<Registry>,
    /// Authentication, tokens, accounts and the access policy.
    pub auth: Arc<Auth>,
    /// The trust (Notary) service.
    pub trust: Trust,
    /// Backups.
    pub backups: Backups,
    /// Webhooks and their delivery worker.
    pub webhooks: Arc<Webhooks>,
    /// Push and poll mirroring with remote registries.
    pub mirroring: Mirroring,
    /// Pull-through cache namespaces.
    pub pull_through: PullThrough,
    /// The `admin` password, when the first start generated it (to be shown once).
    pub generated_admin_password: Option<String>,
}

/// Why the services could not be built; each says what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The blob storage could not be opened.
    #[error("opening blob storage in {dir}: {source}")]
    Storage {
        /// Where.
        dir: String,
        /// Why.
        source: berth_storage::Error,
    },
    /// Authentication could not start (its keys, the first administrator).
    #[error("setting up authentication: {0}")]
    Auth(#[from] berth_auth::Error),
    /// The trust service could not start.
    #[error("setting up content trust: {0}")]
    Trust(#[from] berth_trust::Error),
}

/// Opens the blob storage and builds the services over it and the cluster's metadata.
pub async fn open(cluster: &Cluster, options: Options) -> Result<Services, Error> {
    let storage = Storage::open(&options.storage, options.max_upload_size)
        .map_err(|source| Error::Storage { dir: options.storage.describe(), source })?;
    let storage = Arc::new(storage);
    let backups = Backups::new(cluster.meta().clone(), storage.clone(), cluster.master().clone(), options.data_dir.join("tmp"));
    let meta = cluster.meta().clone();
    let admin_password = options.admin_password.map(|p| p.expose().to_owned());
    let (auth, bootstrap) = Auth::start(meta.clone(), cluster.master(), options.auth, admin_password, options.directory).await?;
    let trust = Trust::start(meta.clone(), cluster.master().clone(), options.trust).await?;
    let auth = Arc::new(auth);
    let webhooks = Arc::new(Webhooks::new(meta.clone(), auth.clone(), cluster.master().clone(), options.webhooks));
    let pull_through = PullThrough::new(cluster.master().clone(), options.mirroring.clone());
    let mirroring = Mirroring::new(cluster.master().clone(), options.mirroring);
    let registry = Arc::new(Registry::new(storage, meta, options.limits));
    Ok(Services {
        registry,
        auth,
        trust,
        backups,
        webhooks,
        mirroring,
        pull_through,
        generated_admin_password: bootstrap.generated_admin_password,
    })
}
