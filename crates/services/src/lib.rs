//! Opens the metadata store and the blob storage under a data directory, and builds the
//! three services over them: [`Registry`], [`Auth`] and [`Trust`]. This is the only code
//! besides the services that holds a store; the HTTP layer (`berth`) gets the services,
//! so no handler can reach metadata or blobs but through a service method, where the
//! rules are.
//!
//! ```text
//! <data>/storage/     blob store root (see berth-storage's layout.rs)
//! <data>/meta.redb    the metadata database
//! <data>/master.key   the key sealing the secrets kept in the metadata (unless given)
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use berth_auth::identity::Directory;
use berth_auth::{Auth, AuthOptions};
use berth_core::Secret;
use berth_meta::Meta;
use berth_meta::seal::MasterKey;
use berth_registry::{Limits, Registry};
use berth_storage::{FsStore, Storage};
use berth_trust::{Trust, TrustOptions};

/// What the services are built from.
pub struct Options {
    /// The data directory (already made private by the caller).
    pub data_dir: PathBuf,
    /// The master key, when given (`BERTH_MASTER_KEY`); else `<data>/master.key`.
    pub master_key: Option<Secret>,
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
}

/// The services.
pub struct Services {
    /// The registry.
    pub registry: Registry,
    /// Authentication, tokens, accounts and the access policy.
    pub auth: Auth,
    /// The trust (Notary) service.
    pub trust: Trust,
    /// The `admin` password, when the first start generated it (to be shown once).
    pub generated_admin_password: Option<String>,
}

/// Why the services could not be built; each says what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The master key could not be read or made.
    #[error("loading the master key: {0}")]
    MasterKey(#[from] berth_meta::seal::SealError),
    /// The blob storage could not be opened.
    #[error("opening blob storage in {dir}: {source}")]
    Storage {
        /// Where.
        dir: String,
        /// Why.
        source: berth_storage::Error,
    },
    /// The metadata could not be opened.
    #[error("opening metadata in {dir}: {source}")]
    Meta {
        /// Where.
        dir: String,
        /// Why.
        source: berth_meta::Error,
    },
    /// Authentication could not start (its keys, the first administrator).
    #[error("setting up authentication: {0}")]
    Auth(#[from] berth_auth::Error),
    /// The trust service could not start.
    #[error("setting up content trust: {0}")]
    Trust(#[from] berth_trust::Error),
}

/// Opens the stores under `options.data_dir` and builds the services.
pub async fn open(options: Options) -> Result<Services, Error> {
    let dir = options.data_dir.display().to_string();
    let master = MasterKey::load_or_create(&options.data_dir.join("master.key"), options.master_key.as_ref().map(Secret::expose))?;
    let storage = FsStore::open(options.data_dir.join("storage"), options.max_upload_size)
        .map_err(|source| Error::Storage { dir: dir.clone(), source })?;
    let meta = Meta::open(&options.data_dir.join("meta.redb")).map_err(|source| Error::Meta { dir, source })?;
    let admin_password = options.admin_password.map(|p| p.expose().to_owned());
    let (auth, bootstrap) = Auth::start(meta.clone(), &master, options.auth, admin_password, options.directory).await?;
    let trust = Trust::start(meta.clone(), Arc::new(master), options.trust).await?;
    let registry = Registry::new(Storage::Fs(storage), meta, options.limits);
    Ok(Services { registry, auth, trust, generated_admin_password: bootstrap.generated_admin_password })
}
