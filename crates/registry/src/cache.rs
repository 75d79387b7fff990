//! Pull-through cache namespaces, the registry's half: which namespaces are caches, how
//! a name maps to one (`hub/library/alpine`, or `library/alpine` through the transparent
//! mirror), and storing what was fetched — manifests marked `cached` (their blobs come
//! when pulled), blobs through the ordinary upload path (digest checked, then linked).
//! Fetching from the upstream is berth-services'. Pushes to a cache namespace are refused.

use berth_core::{Digest, RepositoryName, Tag};
use berth_meta::command::SetCacheNamespace;
use berth_meta::{Applied, CacheNamespace, Command, Rejection, now};
use berth_storage::{BlobInfo, BlobStore, ByteStream};

use crate::{Error, Registry, unexpected};

/// The cache a request's repository name is served by.
#[derive(Debug, Clone)]
pub struct CacheRoute {
    /// The repository here (`hub/library/alpine`).
    pub local: RepositoryName,
    /// The cache namespace.
    pub namespace: String,
    /// The repository at the upstream (`library/alpine`).
    pub upstream_repository: String,
    /// The cache's settings.
    pub cache: CacheNamespace,
}

impl Registry {
    /// Makes organization `namespace` a pull-through cache, or (with `None`) a plain one again.
    pub async fn set_cache_namespace(&self, namespace: &str, cache: Option<CacheNamespace>) -> Result<(), Error> {
        let command = SetCacheNamespace { namespace: namespace.to_owned(), cache };
        match self.meta.apply(Command::SetCacheNamespace(command)).await? {
            Applied::Done => Ok(()),
            Applied::Rejected(Rejection::AccountUnknown | Rejection::NamespaceUnknown) => {
                Err(Error::NamespaceUnknown(namespace.to_owned()))
            }
            Applied::Rejected(Rejection::NotAnOrganization) => {
                Err(Error::Invalid(format!("{namespace} is a user's namespace; a pull-through cache is an organization")))
            }
            Applied::Rejected(Rejection::MirrorTaken(other)) => {
                Err(Error::Invalid(format!("{other} already mirrors the names of no account; only one namespace can")))
            }
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// A namespace's cache settings, if it is a cache.
    pub async fn cache_namespace(&self, namespace: &str) -> Result<Option<CacheNamespace>, Error> {
        let namespace = namespace.to_owned();
        Ok(self.meta.read_latest(move |r| r.cache_namespace(&namespace)).await?)
    }

    /// Every cache namespace.
    pub async fn cache_namespaces(&self) -> Result<Vec<(String, CacheNamespace)>, Error> {
        Ok(self.meta.read_latest(|r| r.cache_namespaces()).await?)
    }

    /// The cache that serves `repository`, if one does (a local read: every pull asks).
    pub async fn cache_route(&self, repository: &RepositoryName) -> Result<Option<CacheRoute>, Error> {
        let name = repository.to_string();
        let found = self.meta.read(move |r| r.cache_for(&name)).await?;
        let Some((local, upstream_repository, cache)) = found else { return Ok(None) };
        let Ok(local) = local.parse::<RepositoryName>() else { return Ok(None) };
        let namespace = local.namespace().to_owned();
        Ok(Some(CacheRoute { local, namespace, upstream_repository, cache }))
    }

    /// Refuses a push to a cache namespace.
    pub(crate) async fn refuse_cache_push(&self, repository: &RepositoryName) -> Result<(), Error> {
        let namespace = repository.namespace().to_owned();
        if self.meta.read(move |r| r.cache_namespace(&namespace)).await?.is_some() {
            return Err(Error::CacheReadOnly(repository.namespace().to_owned()));
        }
        Ok(())
    }

    /// Stores a manifest fetched from a cache's upstream (and checked against `digest` by
    /// the caller), tagged `tag` when fetched by tag.
    pub async fn store_cached_manifest(
        &self,
        local: &RepositoryName,
        digest: &Digest,
        media_type: Option<&str>,
        content: Vec<u8>,
        tag: Option<&Tag>,
    ) -> Result<(), Error> {
        let manifest = berth_core::Manifest::parse(&content, media_type).map_err(|e| Error::ManifestInvalid(e.to_string()))?;
        let command = crate::manifests::put_command(local, digest, manifest, content, tag.cloned(), None, true);
        match self.meta.apply(command).await? {
            Applied::Done => Ok(()),
            // The namespace stopped being a cache meanwhile.
            Applied::Rejected(Rejection::NamespaceUnknown) => Err(Error::NameUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// Links a blob this registry already stores (fetched for another repository) into a
    /// cache repository; whether it did.
    pub async fn link_stored_blob(&self, local: &RepositoryName, digest: &Digest) -> Result<bool, Error> {
        let Some(info) = self.storage.stat(digest).await? else { return Ok(false) };
        let checked_after = self.wait_while_retired(digest).await?;
        match self.link_blob(local, digest, info.size, checked_after).await {
            Ok(()) => Ok(true),
            Err(Error::BlobBeingCollected(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores a blob fetched from a cache's upstream: streamed into an upload, checked
    /// against `digest`, published and linked.
    pub async fn store_cached_blob(&self, local: &RepositoryName, digest: &Digest, body: ByteStream) -> Result<BlobInfo, Error> {
        let upload = self.storage.create_upload(local.as_str(), now()).await?;
        if let Err(e) = self.storage.append(&upload.id, 0, body, now()).await {
            let _ = self.storage.cancel(&upload.id).await;
            return Err(e.into());
        }
        let checked_after = self.wait_while_retired(digest).await?;
        let info = match self.storage.commit(&upload.id, digest).await {
            Ok(info) => info,
            Err(e) => {
                let _ = self.storage.cancel(&upload.id).await;
                return Err(e.into());
            }
        };
        self.link_blob(local, digest, info.size, checked_after).await?;
        Ok(info)
    }
}
