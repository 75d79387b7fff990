//! Repositories and their blob links.

use std::ops::Bound;

use redb::ReadableTable;

use super::{Listing, Page, Reader};
use crate::Error;
use crate::records::{self, BlobLink};
use crate::tables::{ACCOUNTS, BLOB_LINKS, REPOSITORIES};

impl Reader {
    /// Whether the repository exists.
    pub fn repository_exists(&self, name: &str) -> Result<bool, Error> {
        Ok(self.tx.open_table(REPOSITORIES)?.get(name)?.is_some())
    }

    /// Whether the repository exists or may be created: its namespace is an account's.
    pub fn repository_may_exist(&self, name: &str) -> Result<bool, Error> {
        let namespace = name.split('/').next().unwrap_or(name);
        Ok(self.repository_exists(name)? || self.tx.open_table(ACCOUNTS)?.get(namespace)?.is_some())
    }

    /// A page of repository names, sorted.
    pub fn repositories(&self, page: &Page) -> Result<Listing, Error> {
        self.visible_repositories(page, |_, _| Ok(true))
    }

    /// A page of the repository names `visible` accepts, sorted.
    pub fn visible_repositories(
        &self,
        page: &Page,
        mut visible: impl FnMut(&Reader, &str) -> Result<bool, Error>,
    ) -> Result<Listing, Error> {
        let table = self.tx.open_table(REPOSITORIES)?;
        let start = match &page.last {
            Some(last) => Bound::Excluded(last.as_str()),
            None => Bound::Unbounded,
        };
        let limit = page.n.unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut more = false;
        for entry in table.range::<&str>((start, Bound::Unbounded))? {
            let (name, _) = entry?;
            if !visible(self, name.value())? {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(name.value().to_owned());
        }
        Ok(Listing { items, more })
    }

    /// The repository's link to a blob, if it has one.
    pub fn blob_link(&self, repository: &str, digest: &str) -> Result<Option<BlobLink>, Error> {
        let table = self.tx.open_table(BLOB_LINKS)?;
        let value = table.get((repository, digest))?;
        value.map(|v| records::decode("blob_links", v.value())).transpose()
    }

    /// Every blob some repository links to, with its size, in digest order.
    pub fn linked_blobs(&self) -> Result<std::collections::BTreeMap<String, u64>, Error> {
        let table = self.tx.open_table(BLOB_LINKS)?;
        let mut blobs = std::collections::BTreeMap::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let (_, digest) = key.value();
            let link: BlobLink = records::decode("blob_links", value.value())?;
            blobs.insert(digest.to_owned(), link.size);
        }
        Ok(blobs)
    }

    /// A join token, if one has this id.
    pub fn join_token(&self, id: &str) -> Result<Option<records::JoinToken>, Error> {
        let table = self.tx.open_table(crate::tables::JOIN_TOKENS)?;
        let value = table.get(id)?;
        value.map(|v| records::decode("join_tokens", v.value())).transpose()
    }
}
