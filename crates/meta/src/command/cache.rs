//! Pull-through cache namespaces: which namespaces are caches of which upstream. What a
//! cache fetches enters through `PutManifest` (marked `cached`) and the blob links of
//! ordinary uploads; no other push reaches a cache namespace.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, Account, AccountKind, CacheNamespace};
use crate::tables::{ACCOUNTS, CACHE_NAMESPACES};

/// Makes organization `namespace` a pull-through cache (or, with `None`, a plain
/// namespace again, keeping what it cached). Refused for a user's namespace or an unknown
/// one, and when another namespace already mirrors the names of no account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetCacheNamespace {
    /// The organization.
    pub namespace: String,
    /// Its cache settings, or `None` to stop caching.
    pub cache: Option<CacheNamespace>,
}

impl SetCacheNamespace {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut caches = tx.open_table(CACHE_NAMESPACES)?;
        let Some(cache) = self.cache else {
            return Ok(match caches.remove(self.namespace.as_str())? {
                Some(_) => Applied::Done,
                None => Applied::Rejected(Rejection::NamespaceUnknown),
            });
        };
        let account = tx.open_table(ACCOUNTS)?.get(self.namespace.as_str())?.map(|v| records::decode::<Account>("accounts", v.value()));
        match account.transpose()? {
            None => return Ok(Applied::Rejected(Rejection::AccountUnknown)),
            Some(a) if a.kind != AccountKind::Org => return Ok(Applied::Rejected(Rejection::NotAnOrganization)),
            Some(_) => {}
        }
        if cache.mirrors_unqualified {
            for entry in caches.iter()? {
                let (namespace, value) = entry?;
                let other: CacheNamespace = records::decode("cache_namespaces", value.value())?;
                if other.mirrors_unqualified && namespace.value() != self.namespace {
                    return Ok(Applied::Rejected(Rejection::MirrorTaken(namespace.value().to_owned())));
                }
            }
        }
        let kept =
            caches.get(self.namespace.as_str())?.map(|v| records::decode::<CacheNamespace>("cache_namespaces", v.value())).transpose()?;
        // A change keeps who made it, and the password unless a new one is given for the same user.
        let cache = match kept {
            Some(old) => CacheNamespace {
                created_by: old.created_by,
                created_at: old.created_at,
                sealed_password: match cache.sealed_password {
                    None if cache.username == old.username => old.sealed_password,
                    given => given,
                },
                ..cache
            },
            None => cache,
        };
        caches.insert(self.namespace.as_str(), records::encode(&cache).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Whether `repository`'s namespace is a pull-through cache.
pub(super) fn is_cached(tx: &WriteTransaction, repository: &str) -> Result<bool, Error> {
    let namespace = repository.split('/').next().unwrap_or(repository);
    Ok(tx.open_table(CACHE_NAMESPACES)?.get(namespace)?.is_some())
}
