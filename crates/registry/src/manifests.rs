//! Manifests: push (shape check, digest check, every reference present, store), pull by
//! tag or digest, delete by digest (the manifest and its tags) or by tag (that tag only).

use berth_core::{Digest, Manifest, Reference, RepositoryName};
use berth_meta::command::{DeleteManifest, DeleteTag, PutManifest};
use berth_meta::{Applied, Command, Rejection, now};
use bytes::Bytes;

use crate::{Error, Registry, namespace_unknown, unexpected};

/// A manifest as pulled.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// Its digest.
    pub digest: Digest,
    /// The media type it was pushed with.
    pub media_type: String,
    /// The bytes exactly as pushed.
    pub content: Bytes,
}

/// The outcome of a manifest push.
#[derive(Debug, Clone)]
pub struct ManifestPushed {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its subject, when it has one (answered as `OCI-Subject`).
    pub subject: Option<Digest>,
}

/// The command storing `content` (parsed as `manifest`) in `repository` as `digest`,
/// tagged `tag` if given; `cached` for what a pull-through cache fetched.
pub(crate) fn put_command(
    repository: &RepositoryName,
    digest: &Digest,
    manifest: Manifest,
    content: Vec<u8>,
    tag: Option<berth_core::Tag>,
    pushed_by: Option<&str>,
    cached: bool,
) -> Command {
    Command::PutManifest(PutManifest {
        repository: repository.clone(),
        digest: digest.clone(),
        content,
        media_type: manifest.media_type,
        artifact_type: manifest.artifact_type,
        annotations: manifest.annotations,
        blobs: manifest.blobs,
        children: manifest.children,
        subject: manifest.subject.map(|s| s.digest),
        tag,
        at: now(),
        pushed_by: pushed_by.map(str::to_owned),
        cached,
    })
}

impl Registry {
    /// Validates and stores a manifest pushed to `repository` under `reference`.
    pub async fn put_manifest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Vec<u8>,
        by: Option<&str>,
    ) -> Result<ManifestPushed, Error> {
        if content.len() > self.limits.max_manifest_size {
            return Err(Error::TooLarge(format!("manifest exceeds the limit of {} bytes", self.limits.max_manifest_size)));
        }
        let manifest = Manifest::parse(&content, content_type).map_err(|e| Error::ManifestInvalid(e.to_string()))?;
        let (digest, tag) = match reference {
            Reference::Digest(expected) => {
                let mut hasher = berth_core::Hasher::new(expected.algorithm());
                hasher.update(&content);
                let actual = hasher.finish();
                if &actual != expected {
                    return Err(Error::DigestMismatch { expected: expected.clone(), actual });
                }
                (actual, None)
            }
            Reference::Tag(tag) => (Digest::sha256_of(&content), Some(tag.clone())),
        };
        let subject = manifest.subject.as_ref().map(|s| s.digest.clone());
        let tag_name = tag.as_ref().map(ToString::to_string).unwrap_or_default();
        let command = put_command(repository, &digest, manifest, content, tag, by, false);
        match self.meta.apply(command).await? {
            Applied::Done => {
                if !tag_name.is_empty() {
                    self.enforce_tag_limit(repository, &tag_name).await?;
                }
                Ok(ManifestPushed { digest, subject })
            }
            Applied::Rejected(Rejection::MissingReferences(missing)) => Err(Error::ManifestBlobUnknown(missing)),
            Applied::Rejected(Rejection::TagImmutable) => Err(Error::TagImmutable(tag_name)),
            Applied::Rejected(Rejection::NamespaceUnknown) => Err(namespace_unknown(repository)),
            Applied::Rejected(Rejection::NamespaceIsCache) => Err(Error::CacheReadOnly(repository.namespace().to_owned())),
            Applied::Rejected(Rejection::QuotaExceeded { namespace, quota, used, needed }) => Err(Error::QuotaExceeded(format!(
                "namespace {namespace} is over its storage quota of {}: its images use {}, and this push adds {}",
                berth_core::human_bytes(quota),
                berth_core::human_bytes(used),
                berth_core::human_bytes(needed)
            ))),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    /// The manifest `reference` names in `repository`, answered from metadata alone. A
    /// pull by tag obeys the repository's signing policy (`Unsigned` when it refuses);
    /// a pull by digest is what a trusted pull does once it has checked the signature.
    pub async fn get_manifest(&self, repository: &RepositoryName, reference: &Reference) -> Result<StoredManifest, Error> {
        let manifest = self.stored_manifest(repository, reference).await?;
        if let Reference::Tag(tag) = reference {
            self.check_signed_pull(repository, tag, &manifest.digest).await?;
        }
        let tag = match reference {
            Reference::Tag(tag) => Some(tag.as_str()),
            Reference::Digest(_) => None,
        };
        self.pulls.remember(repository, &manifest.digest, tag);
        Ok(manifest)
    }

    pub(crate) async fn stored_manifest(&self, repository: &RepositoryName, reference: &Reference) -> Result<StoredManifest, Error> {
        let (repo, by_digest, reference) = (repository.to_string(), matches!(reference, Reference::Digest(_)), reference.clone());
        let query = move |r: &berth_meta::query::Reader| {
            let digest = match &reference {
                Reference::Digest(d) => Some(d.clone()),
                Reference::Tag(t) => r.tag(&repo, t.as_str())?,
            };
            let Some(digest) = digest else { return Ok(Err(r.repository_exists(&repo)?)) };
            let Some(record) = r.manifest(&repo, digest.as_str())? else { return Ok(Err(r.repository_exists(&repo)?)) };
            let content = r.manifest_content(digest.as_str())?.unwrap_or_default();
            Ok(Ok(StoredManifest { digest, media_type: record.media_type, content: Bytes::from(content) }))
        };
        // A manifest found by its digest is what it is; a tag may have moved elsewhere.
        let found = self.meta.read_settled(query, |found| by_digest && found.is_ok()).await?;
        match found {
            Ok(manifest) => Ok(manifest),
            Err(true) => Err(Error::ManifestUnknown),
            Err(false) => Err(Error::NameUnknown),
        }
    }

    /// Deletes by digest (the manifest and every tag pointing at it) or by tag (that tag
    /// only); refused while a tag that would go, or the manifest itself, is signed.
    pub async fn delete_manifest(&self, repository: &RepositoryName, reference: &Reference, by: Option<&str>) -> Result<(), Error> {
        let (repository, at, by) = (repository.clone(), now(), by.map(str::to_owned));
        let command = match reference {
            Reference::Digest(digest) => Command::DeleteManifest(DeleteManifest { repository, digest: digest.clone(), at, by }),
            Reference::Tag(tag) => Command::DeleteTag(DeleteTag { repository, tag: tag.clone(), at, by }),
        };
        match self.meta.apply(command).await? {
            Applied::Done => Ok(()),
            Applied::Rejected(Rejection::TagSigned(tag)) => Err(Error::TagSigned(tag)),
            Applied::Rejected(Rejection::TagImmutableDeletion(tag)) => Err(Error::TagImmutableDeletion(tag)),
            Applied::Rejected(Rejection::ManifestUnknown | Rejection::TagUnknown) => Err(Error::ManifestUnknown),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }
}
