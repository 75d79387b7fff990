//! Pull-through cache namespaces: an organization whose repositories are an upstream
//! registry's, fetched when first pulled and kept.
//!
//! - A pull by digest is served from the cache; what is not cached yet is fetched from the
//!   upstream (its digest checked) and stored.
//! - A pull by tag is served from the cache while the tag was checked with the upstream
//!   less than the namespace's TTL ago (on this replica); after that the upstream is asked
//!   for the tag's digest again, and a moved tag fetched. An upstream that cannot be
//!   reached leaves the cached tag served; an upstream that says the tag is gone is
//!   believed.
//! - Blobs are fetched whole into storage on their first pull (one fetch at a time per
//!   blob), then served as any other.
//! - With `mirrors_unqualified`, names whose namespace is no account (`library/alpine`)
//!   are served from the cache namespace (`hub/library/alpine`): a transparent mirror,
//!   as Docker's `registry-mirrors` and containerd's `hosts.toml` expect.
//!
//! The upstream's password is sealed with the master key; upstreams are reached through
//! the same rules as mirroring's remotes (no local address unless allowed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_core::{ByteRange, Digest, Reference, RepositoryName};
use berth_meta::seal::MasterKey;
use berth_meta::{CacheNamespace, now};
use berth_registry::{BlobInfo, BlobReader, CacheRoute, Error, Registry, StoredManifest};

use crate::mirroring::remote::Remote;
use crate::mirroring::{MirroringOptions, remote_client};
use crate::outbound::literal_blocked;

/// Tags remembered as checked, at most (the oldest are forgotten first, by clearing).
const FRESH_KEPT: usize = 100_000;
/// Upstream repositories with a client (and its token) kept, at most.
const REMOTES_KEPT: usize = 1_000;

/// A namespace's cache settings as an administrator gives them.
#[derive(Debug, Clone)]
pub struct NewCache {
    /// `https://host[:port]`.
    pub upstream: String,
    /// The upstream user.
    pub username: Option<String>,
    /// Their password or token (on a change, `None` keeps the stored one).
    pub password: Option<String>,
    /// PEM certificates the upstream's must chain to.
    pub remote_ca: Option<String>,
    /// Seconds a checked tag is served without asking the upstream again.
    pub ttl_secs: u64,
    /// Every user (and anonymous callers, when allowed) may pull.
    pub public: bool,
    /// Serve the names of no account from this cache.
    pub mirrors_unqualified: bool,
}

/// A client, with the settings it was made for.
type Fingerprinted = (String, Arc<Remote>);

/// The pull-through cache service.
pub struct PullThrough {
    master: Arc<MasterKey>,
    options: MirroringOptions,
    /// (local repository, tag) → when the upstream was last asked for it.
    fresh: Mutex<HashMap<(String, String), Instant>>,
    /// (namespace, upstream repository) → its client, with the settings it was made for.
    remotes: Mutex<HashMap<(String, String), Fingerprinted>>,
    /// Blobs being fetched, one fetch each.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn purpose(namespace: &str) -> String {
    format!("cache-password/{namespace}")
}

fn not_cached(e: &Error) -> bool {
    matches!(e, Error::ManifestUnknown | Error::NameUnknown | Error::BlobUnknown(_))
}

impl PullThrough {
    /// The service; passwords are sealed with `master`.
    pub fn new(master: Arc<MasterKey>, options: MirroringOptions) -> PullThrough {
        PullThrough {
            master,
            options,
            fresh: Mutex::new(HashMap::new()),
            remotes: Mutex::new(HashMap::new()),
            fetching: Mutex::new(HashMap::new()),
        }
    }

    /// Makes `namespace` a cache of `new.upstream` (or, with `None`, a plain namespace
    /// again), for `by`; the stored settings.
    pub async fn set(
        &self,
        registry: &Registry,
        namespace: &str,
        new: Option<NewCache>,
        by: &str,
    ) -> Result<Option<CacheNamespace>, Error> {
        let Some(new) = new else {
            registry.set_cache_namespace(namespace, None).await?;
            return Ok(None);
        };
        let upstream = new.upstream.trim_end_matches('/').to_owned();
        berth_registry::check_remote_host(&upstream)?;
        if let Some(ip) = literal_blocked(&upstream, self.options.allow_local) {
            return Err(Error::Invalid(format!("upstream: {ip} is a local address; a cache may not reach it")));
        }
        if let Some(pem) = &new.remote_ca {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| Error::Invalid(format!("remoteCA: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Invalid("remoteCA holds no PEM certificate".into()));
            }
        }
        if new.password.is_some() && new.username.is_none() {
            return Err(Error::Invalid("a password goes with a username".into()));
        }
        let sealed_password = match &new.password {
            Some(p) => Some(
                self.master
                    .seal(&purpose(namespace), p.as_bytes())
                    .map_err(|e| Error::Unavailable(format!("sealing the password: {e}")))?,
            ),
            None => None,
        };
        let cache = CacheNamespace {
            upstream,
            username: new.username.filter(|u| !u.is_empty()),
            sealed_password,
            remote_ca: new.remote_ca.filter(|c| !c.trim().is_empty()),
            ttl_secs: new.ttl_secs,
            public: new.public,
            mirrors_unqualified: new.mirrors_unqualified,
            created_by: by.to_owned(),
            created_at: now(),
        };
        registry.set_cache_namespace(namespace, Some(cache)).await?;
        registry.cache_namespace(namespace).await
    }

    /// The client for one upstream repository of a cache.
    fn remote(&self, route: &CacheRoute) -> Result<Arc<Remote>, Error> {
        let cache = &route.cache;
        let key = (route.namespace.clone(), route.upstream_repository.clone());
        let fingerprint = format!("{}|{:?}|{:?}|{:?}", cache.upstream, cache.username, cache.sealed_password, cache.remote_ca);
        let mut remotes = self.remotes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((f, remote)) = remotes.get(&key)
            && *f == fingerprint
        {
            return Ok(remote.clone());
        }
        let unavailable = |e: String| Error::Unavailable(format!("the cache's upstream: {e}"));
        if let Some(ip) = literal_blocked(&cache.upstream, self.options.allow_local) {
            return Err(unavailable(format!("{ip} is a local address; a cache may not reach it")));
        }
        let http = remote_client(&self.options, cache.remote_ca.as_deref()).map_err(unavailable)?;
        let credentials = match (&cache.username, &cache.sealed_password) {
            (Some(user), Some(sealed)) => {
                let password = self
                    .master
                    .open(&purpose(&route.namespace), sealed)
                    .map_err(|e| unavailable(format!("opening the stored password: {e}")))?;
                Some((user.clone(), String::from_utf8_lossy(&password).into_owned()))
            }
            (Some(user), None) => Some((user.clone(), String::new())),
            _ => None,
        };
        let remote = Arc::new(Remote::new(http, &cache.upstream, &route.upstream_repository, credentials));
        if remotes.len() >= REMOTES_KEPT {
            remotes.clear();
        }
        remotes.insert(key, (fingerprint, remote.clone()));
        Ok(remote)
    }

    /// Whether the tag was checked with the upstream within the TTL.
    fn is_fresh(&self, route: &CacheRoute, tag: &str) -> bool {
        let fresh = self.fresh.lock().unwrap_or_else(|p| p.into_inner());
        let ttl = Duration::from_secs(route.cache.ttl_secs);
        fresh.get(&(route.local.to_string(), tag.to_owned())).is_some_and(|at| at.elapsed() < ttl)
    }

    fn mark_fresh(&self, route: &CacheRoute, tag: &str) {
        let mut fresh = self.fresh.lock().unwrap_or_else(|p| p.into_inner());
        if fresh.len() >= FRESH_KEPT {
            fresh.clear();
        }
        fresh.insert((route.local.to_string(), tag.to_owned()), Instant::now());
    }

    /// A manifest pull: from the registry, or through the cache serving `name`.
    pub async fn manifest(&self, registry: &Registry, name: &RepositoryName, reference: &Reference) -> Result<StoredManifest, Error> {
        let Some(route) = registry.cache_route(name).await? else { return registry.get_manifest(name, reference).await };
        match reference {
            Reference::Digest(digest) => match registry.get_manifest(&route.local, reference).await {
                Err(e) if not_cached(&e) => {
                    let remote = self.remote(&route)?;
                    let (media_type, content) = remote.fetch_manifest(digest).await.map_err(upstream_error)?;
                    registry.store_cached_manifest(&route.local, digest, media_type.as_deref(), content.to_vec(), None).await?;
                    registry.get_manifest(&route.local, reference).await
                }
                found => found,
            },
            Reference::Tag(tag) => {
                if self.is_fresh(&route, tag.as_str()) {
                    match registry.get_manifest(&route.local, reference).await {
                        Err(e) if not_cached(&e) => {}
                        found => return found,
                    }
                }
                let remote = self.remote(&route)?;
                match remote.tag_digest(tag.as_str()).await {
                    Ok(Some(upstream)) => {
                        let digest: Digest =
                            upstream.parse().map_err(|e| Error::Unavailable(format!("the upstream's digest {upstream:?}: {e}")))?;
                        let local = registry.tag_digest(&route.local, tag.as_str()).await?;
                        if local.as_ref() != Some(&digest) {
                            let (media_type, content) = remote.fetch_manifest(&digest).await.map_err(upstream_error)?;
                            registry
                                .store_cached_manifest(&route.local, &digest, media_type.as_deref(), content.to_vec(), Some(tag))
                                .await?;
                        }
                        self.mark_fresh(&route, tag.as_str());
                        registry.get_manifest(&route.local, reference).await
                    }
                    Ok(None) => Err(Error::ManifestUnknown),
                    Err(e) => {
                        tracing::warn!(repository = %route.local, tag = %tag, error = %e, "cache upstream unreachable; serving the cached tag");
                        match registry.get_manifest(&route.local, reference).await {
                            Err(missing) if not_cached(&missing) => Err(upstream_error(e)),
                            found => found,
                        }
                    }
                }
            }
        }
    }

    /// A blob's size: from the registry, or through the cache serving `name` (fetching the
    /// blob whole on its first pull).
    pub async fn stat_blob(&self, registry: &Registry, name: &RepositoryName, digest: &Digest) -> Result<BlobInfo, Error> {
        let Some(route) = registry.cache_route(name).await? else { return registry.stat_blob(name, digest).await };
        match registry.stat_blob(&route.local, digest).await {
            Err(e) if not_cached(&e) => self.fetch_blob(registry, &route, digest).await,
            found => found,
        }
    }

    /// Streams a blob (or a range) that [`PullThrough::stat_blob`] found.
    pub async fn open_blob(
        &self,
        registry: &Registry,
        name: &RepositoryName,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<BlobReader, Error> {
        match registry.cache_route(name).await? {
            Some(route) => registry.open_blob(&route.local, digest, range).await,
            None => registry.open_blob(name, digest, range).await,
        }
    }

    /// Fetches a blob into the cache, once however many pulls ask at the same time.
    async fn fetch_blob(&self, registry: &Registry, route: &CacheRoute, digest: &Digest) -> Result<BlobInfo, Error> {
        let gate = {
            let mut fetching = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
            fetching.entry(digest.to_string()).or_default().clone()
        };
        let result = async {
            let _turn = gate.lock().await;
            // Fetched meanwhile, here or for another repository: no second fetch.
            if let Ok(info) = registry.stat_blob(&route.local, digest).await {
                return Ok(info);
            }
            if registry.link_stored_blob(&route.local, digest).await? {
                return registry.stat_blob(&route.local, digest).await;
            }
            let remote = self.remote(route)?;
            let body = remote.blob(digest).await.map_err(|e| match upstream_error(e) {
                Error::ManifestUnknown => Error::BlobUnknown(digest.clone()),
                other => other,
            })?;
            registry.store_cached_blob(&route.local, digest, body).await
        }
        .await;
        let mut fetching = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&gate) <= 2 {
            fetching.remove(digest.as_str());
        }
        result
    }
}

/// What the upstream said, for the client: a missing one is unknown here too; anything
/// else makes the cache unavailable for what it has not cached.
fn upstream_error(e: String) -> Error {
    if e.contains("answered 404") {
        return Error::ManifestUnknown;
    }
    Error::Unavailable(format!("the cache's upstream: {e}"))
}
