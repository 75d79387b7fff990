//! Mirroring policies.

use redb::{ReadableTable, ReadableTableMetadata};

use super::Reader;
use crate::Error;
use crate::records::{self, MirrorPolicy};
use crate::tables::MIRROR_POLICIES;

impl Reader {
    /// The repository's mirroring policies (both directions), by id.
    pub fn mirror_policies(&self, repository: &str) -> Result<Vec<(String, MirrorPolicy)>, Error> {
        self.records_in_scope((MIRROR_POLICIES, "mirror_policies"), repository)
    }

    /// One mirroring policy.
    pub fn mirror_policy(&self, repository: &str, id: &str) -> Result<Option<MirrorPolicy>, Error> {
        let table = self.tx.open_table(MIRROR_POLICIES)?;
        let value = table.get((repository, id))?;
        value.map(|v| records::decode("mirror_policies", v.value())).transpose()
    }

    /// Every mirroring policy: (repository, id, policy); none read while there is none.
    pub fn all_mirror_policies(&self) -> Result<Vec<(String, String, MirrorPolicy)>, Error> {
        let table = self.tx.open_table(MIRROR_POLICIES)?;
        if table.is_empty()? {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let (repo, id) = key.value();
            out.push((repo.to_owned(), id.to_owned(), records::decode("mirror_policies", value.value())?));
        }
        Ok(out)
    }
}
