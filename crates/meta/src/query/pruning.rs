//! Pruning policies, and what a policy's rules are checked against.

use redb::ReadableTable;

use super::Reader;
use crate::Error;
use crate::records::{self, PruningPolicy};
use crate::tables::{PRUNING_POLICIES, TAGS};

impl Reader {
    /// The repository's pruning policies, by id.
    pub fn pruning_policies(&self, repository: &str) -> Result<Vec<(String, PruningPolicy)>, Error> {
        self.records_in_scope((PRUNING_POLICIES, "pruning_policies"), repository)
    }

    /// One pruning policy.
    pub fn pruning_policy(&self, repository: &str, id: &str) -> Result<Option<PruningPolicy>, Error> {
        let table = self.tx.open_table(PRUNING_POLICIES)?;
        let value = table.get((repository, id))?;
        value.map(|v| records::decode("pruning_policies", v.value())).transpose()
    }

    /// The repositories that have pruning policies, each once.
    pub fn repositories_with_pruning_policies(&self) -> Result<Vec<String>, Error> {
        let table = self.tx.open_table(PRUNING_POLICIES)?;
        let mut out: Vec<String> = Vec::new();
        for entry in table.iter()? {
            let (key, _) = entry?;
            let repo = key.value().0;
            if out.last().is_none_or(|last| last != repo) {
                out.push(repo.to_owned());
            }
        }
        Ok(out)
    }

    /// Every tag of the repository with the digest it points at, in tag order.
    pub fn tag_targets(&self, repository: &str) -> Result<Vec<(String, String)>, Error> {
        let table = self.tx.open_table(TAGS)?;
        let mut out = Vec::new();
        for entry in table.range((repository, "")..)? {
            let (key, value) = entry?;
            let (repo, tag) = key.value();
            if repo != repository {
                break;
            }
            out.push((tag.to_owned(), value.value().to_owned()));
        }
        Ok(out)
    }
}
