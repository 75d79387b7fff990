//! Audit log retention.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::Applied;
use crate::Error;
use crate::records::{self, Event};
use crate::tables::{EVENTS, EVENTS_BY_KIND, EVENTS_BY_REPOSITORY, EVENTS_BY_USER};

/// Removes the oldest events, those with ids below `before`, at most `at_most` of them
/// (a bounded transaction: retention never stalls the writes queued behind it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneEvents {
    /// Events with smaller ids go.
    pub before: u64,
    /// The most removed by this command.
    pub at_most: u64,
}

impl PruneEvents {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut events = tx.open_table(EVENTS)?;
        let mut doomed = Vec::new();
        for entry in events.range(..self.before)?.take(self.at_most as usize) {
            let (id, value) = entry?;
            doomed.push((id.value(), records::decode::<Event>("events", value.value())?));
        }
        let (mut by_repository, mut by_user, mut by_kind) =
            (tx.open_table(EVENTS_BY_REPOSITORY)?, tx.open_table(EVENTS_BY_USER)?, tx.open_table(EVENTS_BY_KIND)?);
        for (id, event) in doomed {
            events.remove(id)?;
            if let Some(repository) = &event.repository {
                by_repository.remove((repository.as_str(), id))?;
            }
            if let Some(user) = &event.user {
                by_user.remove((user.as_str(), id))?;
            }
            by_kind.remove((event.kind.as_str(), id))?;
        }
        Ok(Applied::Done)
    }
}
