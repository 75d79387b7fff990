//! Promotion policies, and where a worker stands in the audit log.

use redb::{ReadableTable, ReadableTableMetadata};

use super::Reader;
use crate::Error;
use crate::records::{self, Event, PromotionPolicy};
use crate::tables::{COUNTERS, EVENTS, PROMOTION_POLICIES};

impl Reader {
    /// The repository's promotion policies, by id.
    pub fn promotion_policies(&self, repository: &str) -> Result<Vec<(String, PromotionPolicy)>, Error> {
        self.records_in_scope((PROMOTION_POLICIES, "promotion_policies"), repository)
    }

    /// One promotion policy.
    pub fn promotion_policy(&self, repository: &str, id: &str) -> Result<Option<PromotionPolicy>, Error> {
        let table = self.tx.open_table(PROMOTION_POLICIES)?;
        let value = table.get((repository, id))?;
        value.map(|v| records::decode("promotion_policies", v.value())).transpose()
    }

    /// Every promotion policy: (repository, id, policy).
    pub fn all_promotion_policies(&self) -> Result<Vec<(String, String, PromotionPolicy)>, Error> {
        let table = self.tx.open_table(PROMOTION_POLICIES)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let (repo, id) = key.value();
            out.push((repo.to_owned(), id.to_owned(), records::decode("promotion_policies", value.value())?));
        }
        Ok(out)
    }

    /// Whether any repository has a promotion policy.
    pub fn any_promotion_policy(&self) -> Result<bool, Error> {
        Ok(!self.tx.open_table(PROMOTION_POLICIES)?.is_empty()?)
    }

    /// The last event `worker` handled (`None` before it handled any).
    pub fn cursor(&self, worker: &str) -> Result<Option<u64>, Error> {
        Ok(self.tx.open_table(COUNTERS)?.get(format!("cursor:{worker}").as_str())?.map(|v| v.value()))
    }

    /// Up to `limit` events after `after`, oldest first, and the last event's id.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<(Vec<(u64, Event)>, u64), Error> {
        let table = self.tx.open_table(EVENTS)?;
        let last = table.last()?.map_or(0, |(k, _)| k.value());
        let mut out = Vec::new();
        for entry in table.range(after.saturating_add(1)..)?.take(limit) {
            let (key, value) = entry?;
            out.push((key.value(), records::decode("events", value.value())?));
        }
        Ok((out, last))
    }
}
