//! Pull-through cache namespaces.

use redb::{ReadableTable, ReadableTableMetadata};

use super::Reader;
use crate::Error;
use crate::records::{self, CacheNamespace};
use crate::tables::{ACCOUNTS, CACHE_NAMESPACES};

impl Reader {
    /// The namespace's cache settings, when it is a pull-through cache.
    pub fn cache_namespace(&self, namespace: &str) -> Result<Option<CacheNamespace>, Error> {
        let table = self.tx.open_table(CACHE_NAMESPACES)?;
        let value = table.get(namespace)?;
        value.map(|v| records::decode("cache_namespaces", v.value())).transpose()
    }

    /// Every cache namespace, by name.
    pub fn cache_namespaces(&self) -> Result<Vec<(String, CacheNamespace)>, Error> {
        let table = self.tx.open_table(CACHE_NAMESPACES)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            out.push((key.value().to_owned(), records::decode("cache_namespaces", value.value())?));
        }
        Ok(out)
    }

    /// The cache that serves `repository`: its namespace's, or, when that namespace is no
    /// account, the transparent mirror's (`library/alpine` → `hub/library/alpine`). The
    /// local name, the upstream's name and the settings; `None` for an ordinary repository.
    pub fn cache_for(&self, repository: &str) -> Result<Option<(String, String, CacheNamespace)>, Error> {
        let table = self.tx.open_table(CACHE_NAMESPACES)?;
        if table.is_empty()? {
            return Ok(None);
        }
        let (namespace, rest) = repository.split_once('/').unwrap_or((repository, ""));
        if let Some(value) = table.get(namespace)? {
            if rest.is_empty() {
                return Ok(None);
            }
            let cache = records::decode("cache_namespaces", value.value())?;
            return Ok(Some((repository.to_owned(), rest.to_owned(), cache)));
        }
        if self.tx.open_table(ACCOUNTS)?.get(namespace)?.is_some() {
            return Ok(None);
        }
        for entry in table.iter()? {
            let (mirror, value) = entry?;
            let cache: CacheNamespace = records::decode("cache_namespaces", value.value())?;
            if cache.mirrors_unqualified {
                return Ok(Some((format!("{}/{repository}", mirror.value()), repository.to_owned(), cache)));
            }
        }
        Ok(None)
    }
}
