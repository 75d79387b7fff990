//! The only wiring: builds the services (`berth-services` opens the stores) over the
//! cluster's metadata, with each its own small options, from the configuration. Nothing
//! here or in the HTTP layer holds a store.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use berth_auth::identity::Directory;
use berth_auth::{Auth, AuthOptions, PasswordOptions};
use berth_registry::{Limits, Registry};
use berth_trust::TrustOptions;

use crate::config::{Config, ExternalUrl};
use crate::http::metrics::Metrics;
use crate::serve::ConnStats;

/// Everything a request handler may use.
pub struct App {
    /// The registry domain.
    pub registry: Arc<Registry>,
    /// Authentication and the token service.
    pub auth: Arc<Auth>,
    /// The trust (Notary) service.
    pub trust: berth_trust::Trust,
    /// This replica's place in its cluster.
    pub cluster: berth_services::Cluster,
    /// Backups.
    pub backups: berth_services::Backups,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Connection and request counters (for `/nginx_status`).
    pub conns: Arc<ConnStats>,
    /// Where clients reach the registry, when configured (token challenges point there).
    pub external_url: Option<ExternalUrl>,
    /// A request body sending nothing for this long is cut.
    pub body_idle_timeout: std::time::Duration,
    /// The garbage collection running on this replica, if any.
    pub gc: berth_registry::GcMonitor,
    /// Garbage collection's default grace period.
    pub gc_grace: std::time::Duration,
    /// Garbage collection also deletes untagged manifests this many days old, when set.
    pub gc_untagged_days: Option<u64>,
    /// Webhooks and their delivery worker.
    pub webhooks: Arc<berth_services::Webhooks>,
    /// Push and poll mirroring.
    pub mirroring: berth_services::Mirroring,
    /// Pull-through cache namespaces.
    pub pull_through: berth_services::PullThrough,
}

/// Shared application state.
pub type AppState = Arc<App>;

/// The hosts a GUN may start with: the external URL's (with and without the default
/// port), or else the loopback names of every listener, so that a registry reached by
/// another name is told to set `external_url` rather than taking trust data for a name
/// that is not its own.
fn trust_hosts(external_url: Option<&ExternalUrl>, listeners: &[SocketAddr]) -> Vec<String> {
    if let Some(url) = external_url {
        let default_port = if url.scheme == "https" { ":443" } else { ":80" };
        let mut hosts = vec![url.authority.clone()];
        match url.authority.strip_suffix(default_port) {
            Some(bare) => hosts.push(bare.to_owned()),
            None if !url.authority.ends_with(']') && !url.authority.contains(':') => hosts.push(format!("{}{default_port}", url.authority)),
            None => {}
        }
        return hosts;
    }
    let mut hosts = Vec::new();
    for port in listeners.iter().map(SocketAddr::port) {
        for name in ["localhost", "127.0.0.1", "[::1]"] {
            hosts.push(format!("{name}:{port}"));
            if port == 443 {
                hosts.push(name.to_owned());
            }
        }
    }
    hosts
}

impl App {
    /// Builds the services over the cluster's metadata and the configured storage, and
    /// on first start the `admin` account (password from `BERTH_ADMIN_PASSWORD`, or
    /// generated and returned to be shown once). `listeners` are the bound addresses,
    /// whose ports name the registry when no external URL is set.
    pub async fn build(
        config: &Config,
        listeners: &[SocketAddr],
        cluster: berth_services::Cluster,
        conns: Arc<ConnStats>,
    ) -> anyhow::Result<(App, Option<String>)> {
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
        let options = berth_services::Options {
            data_dir: config.data_dir.clone(),
            storage: config.storage.clone(),
            max_upload_size: config.max_upload_size,
            limits: Limits { max_manifest_size: config.max_manifest_size },
            auth: AuthOptions {
                service: config.token_service.clone(),
                passwords: PasswordOptions { min_length: config.min_password_length, ..PasswordOptions::default() },
            },
            admin_password: config.admin_password.clone(),
            directory,
            trust: TrustOptions { hosts: trust_hosts(config.external_url.as_ref(), listeners) },
            webhooks: config.webhooks.clone(),
            mirroring: config.mirroring.clone(),
        };
        let services = berth_services::open(&cluster, options).await?;
        let app = App {
            registry: services.registry,
            auth: services.auth,
            trust: services.trust,
            cluster,
            backups: services.backups,
            metrics: Metrics::new(),
            conns,
            external_url: config.external_url.clone(),
            body_idle_timeout: config.body_idle_timeout,
            gc: berth_registry::GcMonitor::default(),
            gc_grace: config.gc_grace,
            gc_untagged_days: config.gc_untagged_days,
            webhooks: services.webhooks,
            mirroring: services.mirroring,
            pull_through: services.pull_through,
        };
        Ok((app, services.generated_admin_password))
    }
}

impl App {
    /// Starts a garbage collection in the background on this replica (the caller has
    /// checked who may); its holder. `GcRunning` when one runs in the cluster.
    pub async fn start_gc(
        self: &Arc<App>,
        dry_run: bool,
        grace: Option<std::time::Duration>,
        untagged_days: Option<u64>,
    ) -> Result<String, berth_registry::Error> {
        if let (_, Some(lock)) = self.registry.gc_status().await? {
            return Err(berth_registry::Error::GcRunning(lock.holder));
        }
        let options = berth_registry::GcOptions {
            grace: grace.unwrap_or(self.gc_grace),
            dry_run,
            untagged_older_than: untagged_days.or(self.gc_untagged_days).map(|days| std::time::Duration::from_secs(days * 86_400)),
            holder: format!("{}/{}", self.cluster.replica_id(), uuid::Uuid::new_v4().simple()),
        };
        let holder = options.holder.clone();
        let app = self.clone();
        // The run's changes are the caller's, though it outlives the request.
        let origin = berth_auth::origin::current().unwrap_or_else(|| berth_auth::origin::RequestOrigin::job("gc"));
        tokio::spawn(async move {
            if let Err(e) = berth_auth::origin::scope(origin, app.registry.collect_garbage(options, &app.gc)).await {
                tracing::warn!(error = %e, "garbage collection");
            }
        });
        Ok(holder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gun_hosts() {
        let url = |text: &str| ExternalUrl::parse(text).unwrap();
        assert_eq!(trust_hosts(Some(&url("https://reg.example.com")), &[]), ["reg.example.com", "reg.example.com:443"]);
        assert_eq!(trust_hosts(Some(&url("https://reg.example.com:443")), &[]), ["reg.example.com:443", "reg.example.com"]);
        assert_eq!(trust_hosts(Some(&url("https://reg.example.com:5443")), &[]), ["reg.example.com:5443"]);
        let loopback = trust_hosts(None, &["0.0.0.0:5443".parse().unwrap()]);
        assert_eq!(loopback, ["localhost:5443", "127.0.0.1:5443", "[::1]:5443"]);
    }
}
