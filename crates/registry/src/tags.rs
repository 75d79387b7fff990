//! Tags with their content-trust state: each tag's digest, and the signature the trust
//! data holds for it (from the signed-tags index every trust update rebuilds).

use berth_core::RepositoryName;
use berth_meta::SignedTarget;

use crate::{Error, Registry};

/// A tag as the tags API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagState {
    /// The tag.
    pub name: String,
    /// The digest it points at (`None`: only signed, not in the registry).
    pub digest: Option<String>,
    /// Its signature in the trust data, if any.
    pub signed: Option<SignedTarget>,
}

impl TagState {
    /// Signed, but the registry's tag points at another manifest.
    pub fn hash_mismatch(&self) -> bool {
        self.signed.as_ref().is_some_and(|s| self.digest.as_deref() != Some(s.digest.as_str()))
    }
}

impl Registry {
    /// Every tag of the repository with its trust state, sorted; `NameUnknown` when the
    /// repository does not exist.
    pub async fn tags_with_trust(&self, repository: &RepositoryName) -> Result<Vec<TagState>, Error> {
        let repo = repository.to_string();
        let found = self
            .meta
            .read_latest(move |r| {
                if !r.repository_exists(&repo)? {
                    return Ok(None);
                }
                let signed: std::collections::BTreeMap<String, SignedTarget> = r.signed_tags(&repo)?.into_iter().collect();
                let mut out = Vec::new();
                for tag in r.tags(&repo, &berth_meta::Page::default())?.items {
                    let digest = r.tag(&repo, &tag)?.map(|d| d.to_string());
                    out.push(TagState { signed: signed.get(&tag).cloned(), name: tag, digest });
                }
                Ok(Some(out))
            })
            .await?;
        found.ok_or(Error::NameUnknown)
    }

    /// One tag with its trust state: the registry's tag, or a tag only signed.
    pub async fn tag_with_trust(&self, repository: &RepositoryName, tag: &str) -> Result<Option<TagState>, Error> {
        let (repo, name) = (repository.to_string(), tag.to_owned());
        let found = self
            .meta
            .read_latest(move |r| {
                if !r.repository_exists(&repo)? {
                    return Ok(None);
                }
                let digest = r.tag(&repo, &name)?.map(|d| d.to_string());
                let signed = r.signed_tags(&repo)?.into_iter().find(|(t, _)| *t == name).map(|(_, s)| s);
                Ok(Some((digest, signed)))
            })
            .await?;
        let (digest, signed) = found.ok_or(Error::NameUnknown)?;
        Ok((digest.is_some() || signed.is_some()).then(|| TagState { name: tag.to_owned(), digest, signed }))
    }
}
