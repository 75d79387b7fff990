//! The only wiring: builds storage, metadata and the registry once from the
//! configuration, and hands each its own small options.
//!
//! Data directory layout:
//! ```text
//! <data>/storage/   blob store root (see berth-storage's layout.rs)
//! <data>/meta.redb  the metadata database
//! <data>/tls/       generated CA (ca.crt) and server certificate
//! ```

use std::sync::Arc;

use anyhow::Context;
use berth_auth::Auth;
use berth_auth::identity::Directory;
use berth_meta::Meta;
use berth_registry::{Limits, Registry};
use berth_storage::{FsStore, Storage};

use crate::config::Config;
use crate::http::metrics::Metrics;
use crate::serve::ConnStats;

/// Everything a request handler may use.
pub struct App {
    /// The registry domain.
    pub registry: Registry,
    /// Authentication and the token service.
    pub auth: Auth,
    /// The trust (Notary) service.
    pub trust: berth_trust::Trust,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Connection and request counters (for `/nginx_status`).
    pub conns: Arc<ConnStats>,
}

/// Shared application state.
pub type AppState = Arc<App>;

impl App {
    /// Opens storage and metadata under the configured data directory, and on first
    /// start creates the `admin` account (password from `BERTH_ADMIN_PASSWORD`, or
    /// generated and returned to be shown once).
    pub async fn build(config: &Config) -> anyhow::Result<(App, Option<String>)> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        let storage = FsStore::open(config.data_dir.join("storage"), config.max_upload_size)
            .with_context(|| format!("opening blob storage in {}", config.data_dir.display()))?;
        let meta = Meta::open(&config.data_dir.join("meta.redb"))
            .with_context(|| format!("opening metadata in {}", config.data_dir.display()))?;
        let limits = Limits { max_manifest_size: config.max_manifest_size };
        let directory = match &config.ldap {
            None => None,
            Some(ldap) => {
                let mut options = ldap.options.clone();
                if let Some(path) = &ldap.ca_file {
                    options.ca_pem = Some(std::fs::read(path).with_context(|| format!("reading ldap.ca_file {}", path.display()))?);
                }
                Some(Directory::new(options).context("setting up the LDAP directory")?)
            }
        };
        let (auth, bootstrap) = Auth::start(meta.clone(), &config.token_service, config.admin_password.clone(), directory)
            .await
            .context("setting up authentication")?;
        let app = App {
            registry: Registry::new(Storage::Fs(storage), meta.clone(), limits),
            auth,
            trust: berth_trust::Trust::new(meta),
            metrics: Metrics::new(),
            conns: Arc::new(ConnStats::default()),
        };
        Ok((app, bootstrap.generated_admin_password))
    }
}
