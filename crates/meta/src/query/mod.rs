//! The read side: queries over one consistent snapshot of the metadata.

mod accounts;
mod cache;
mod events;
mod gc;
mod inventory;
mod manifests;
mod mirroring;
mod promotion;
mod pruning;
mod repositories;
mod trust;

use std::ops::Bound;

pub use events::{EventFilter, EventPage, SCAN_LIMIT};
pub use inventory::Inventory;

use redb::{ReadTransaction, TableDefinition};

use crate::Error;

/// A page request of a lexically sorted listing: entries after `last`, at most `n`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Only entries sorting after this one.
    pub last: Option<String>,
    /// At most this many entries; `None` for all.
    pub n: Option<usize>,
}

/// One page of a sorted listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The entries, in lexical order.
    pub items: Vec<String>,
    /// Whether entries remain after the last one returned.
    pub more: bool,
}

/// Queries over a snapshot.
pub struct Reader {
    pub(crate) tx: ReadTransaction,
}

impl Reader {
    pub(crate) fn new(tx: ReadTransaction) -> Reader {
        Reader { tx }
    }

    /// The index of the last log entry applied (0 before any).
    pub fn last_applied(&self) -> Result<u64, Error> {
        let applied: Option<crate::raft::LogId> = crate::raft::state::get(&self.tx, crate::raft::state::APPLIED)?;
        Ok(applied.map_or(0, |l| l.index))
    }

    /// Every `(scope, id)` record of table `name` for one scope, by id, decoded.
    fn records_in_scope<T: serde::de::DeserializeOwned>(
        &self,
        (table, name): (TableDefinition<(&str, &str), &[u8]>, &'static str),
        scope: &str,
    ) -> Result<Vec<(String, T)>, Error> {
        let table = self.tx.open_table(table)?;
        let mut out = Vec::new();
        for entry in table.range((scope, "")..)? {
            let (key, value) = entry?;
            let (key_scope, id) = key.value();
            if key_scope != scope {
                break;
            }
            out.push((id.to_owned(), crate::records::decode(name, value.value())?));
        }
        Ok(out)
    }

    /// Pages through the second key element of a `(scope, item)` table, for one scope.
    fn page_in_scope<V: redb::Value + 'static>(
        &self,
        table: TableDefinition<(&str, &str), V>,
        scope: &str,
        page: &Page,
    ) -> Result<Listing, Error> {
        let table = self.tx.open_table(table)?;
        let start = match &page.last {
            Some(last) => Bound::Excluded((scope, last.as_str())),
            None => Bound::Included((scope, "")),
        };
        let limit = page.n.unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut more = false;
        for entry in table.range::<(&str, &str)>((start, Bound::Unbounded))? {
            let (key, _) = entry?;
            let (key_scope, item) = key.value();
            if key_scope != scope {
                break;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(item.to_owned());
        }
        Ok(Listing { items, more })
    }
}
