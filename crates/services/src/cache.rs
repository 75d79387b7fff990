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
//! - A blob's first pull is streamed from the upstream to the client while it is stored
//!   (digest checked before it is linked); pulls of it meanwhile wait for it to be
//!   stored; later ones are served as any other.
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
/// Blob fetch locks kept before the idle ones are dropped.
const FETCHES_KEPT: usize = 10_000;
/// Pieces in flight between the upstream and each of the client and the storage.
const TEE_PIECES: usize = 8;

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

    /// A blob's size: from the registry, or through the cache serving `name` (asking the
    /// upstream for one not cached yet).
    pub async fn stat_blob(&self, registry: &Registry, name: &RepositoryName, digest: &Digest) -> Result<BlobInfo, Error> {
        let Some(route) = registry.cache_route(name).await? else { return registry.stat_blob(name, digest).await };
        match registry.stat_blob(&route.local, digest).await {
            Err(e) if not_cached(&e) => {
                if registry.link_stored_blob(&route.local, digest).await? {
                    return registry.stat_blob(&route.local, digest).await;
                }
                let size = self.remote(&route)?.blob_size(digest).await.map_err(|e| blob_error(digest, e))?;
                size.map(|size| BlobInfo { size }).ok_or_else(|| Error::BlobUnknown(digest.clone()))
            }
            found => found,
        }
    }

    /// Streams a blob (or a range of it): from the registry, or through the cache serving
    /// `name`. A whole blob not cached yet is streamed from the upstream while it is
    /// stored (the storing goes on if the client leaves); a range of one, or a blob
    /// another pull is fetching, is served once stored.
    pub async fn open_blob(
        &self,
        registry: &Arc<Registry>,
        name: &RepositoryName,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<BlobReader, Error> {
        let Some(route) = registry.cache_route(name).await? else { return registry.open_blob(name, digest, range).await };
        match registry.open_blob(&route.local, digest, range).await {
            Err(e) if not_cached(&e) => {}
            found => return found,
        }
        let gate = self.gate(digest);
        if range.is_none()
            && let Ok(turn) = gate.clone().try_lock_owned()
        {
            return self.stream_and_store(registry, &route, digest, turn).await;
        }
        let _turn = gate.lock().await;
        self.fetch_blob(registry, &route, digest).await?;
        registry.open_blob(&route.local, digest, range).await
    }

    /// The lock one fetch of `digest` holds.
    fn gate(&self, digest: &Digest) -> Arc<tokio::sync::Mutex<()>> {
        let mut fetching = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        if fetching.len() >= FETCHES_KEPT {
            fetching.retain(|_, gate| Arc::strong_count(gate) > 1);
        }
        fetching.entry(digest.to_string()).or_default().clone()
    }

    /// Fetches a blob whole into the cache (the caller holds its gate), unless it is
    /// stored already.
    async fn fetch_blob(&self, registry: &Registry, route: &CacheRoute, digest: &Digest) -> Result<BlobInfo, Error> {
        if let Ok(info) = registry.stat_blob(&route.local, digest).await {
            return Ok(info);
        }
        if registry.link_stored_blob(&route.local, digest).await? {
            return registry.stat_blob(&route.local, digest).await;
        }
        let (_, body) = self.remote(route)?.blob(digest).await.map_err(|e| blob_error(digest, e))?;
        registry.store_cached_blob(&route.local, digest, body).await
    }

    /// Streams a blob from the upstream to the client and into storage at once; `turn`
    /// (this blob's gate) is held until it is stored.
    async fn stream_and_store(
        &self,
        registry: &Arc<Registry>,
        route: &CacheRoute,
        digest: &Digest,
        turn: tokio::sync::OwnedMutexGuard<()>,
    ) -> Result<BlobReader, Error> {
        if registry.stat_blob(&route.local, digest).await.is_ok() || registry.link_stored_blob(&route.local, digest).await? {
            drop(turn);
            return registry.open_blob(&route.local, digest, None).await;
        }
        let (size, mut upstream) = self.remote(route)?.blob(digest).await.map_err(|e| blob_error(digest, e))?;
        let Some(size) = size else {
            // No length to promise the client: stored first, then served.
            registry.store_cached_blob(&route.local, digest, upstream).await?;
            drop(turn);
            return registry.open_blob(&route.local, digest, None).await;
        };
        let (to_store, stored) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(TEE_PIECES);
        let (to_client, served) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(TEE_PIECES);
        let (store, local, blob) = (registry.clone(), route.local.clone(), digest.clone());
        let storing = tokio::spawn(async move { store.store_cached_blob(&local, &blob, receiver_stream(stored)).await });
        let (local, blob) = (route.local.clone(), digest.clone());
        tokio::spawn(async move {
            let _turn = turn;
            let mut client = Some(to_client);
            while let Some(piece) = futures_util::StreamExt::next(&mut upstream).await {
                let failed = piece.as_ref().err().map(ToString::to_string);
                let piece = piece.map_err(|e| std::io::Error::other(e.to_string()));
                let for_client = match &piece {
                    Ok(bytes) => Ok(bytes.clone()),
                    Err(e) => Err(std::io::Error::other(e.to_string())),
                };
                if to_store.send(piece).await.is_err() {
                    break;
                }
                // A client that left does not stop the storing.
                if let Some(c) = &client
                    && c.send(for_client).await.is_err()
                {
                    client = None;
                }
                if failed.is_some() {
                    break;
                }
            }
            drop(to_store);
            match storing.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(repository = %local, digest = %blob, error = %e, "caching a blob from the upstream"),
                Err(e) => tracing::warn!(repository = %local, digest = %blob, error = %e, "caching a blob from the upstream"),
            }
        });
        Ok(BlobReader { size, range: None, stream: receiver_stream(served) })
    }
}

/// The items a channel receives, as a byte stream.
fn receiver_stream(receiver: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>) -> berth_registry::ByteStream {
    Box::pin(futures_util::stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) }))
}

/// What the upstream said of a blob: a missing one is unknown here too.
fn blob_error(digest: &Digest, e: String) -> Error {
    match upstream_error(e) {
        Error::ManifestUnknown => Error::BlobUnknown(digest.clone()),
        other => other,
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
