//! Tags.

use redb::WriteTransaction;
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::tables::TAGS;

/// Removes one tag; the manifest and its other tags stay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteTag {
    /// The repository.
    pub repository: String,
    /// The tag.
    pub tag: String,
}

impl DeleteTag {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let removed = tx.open_table(TAGS)?.remove((self.repository.as_str(), self.tag.as_str()))?.is_some();
        Ok(if removed { Applied::Done } else { Applied::Rejected(Rejection::TagUnknown) })
    }
}
