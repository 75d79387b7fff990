//! Audit log retention: the oldest events go, by age and by count, in small commands
//! with a pause between them, so that writes queued meanwhile wait for one small command
//! (milliseconds), not the whole pruning, and take turns with it;
//! each webhook keeps its newest [`DELIVERIES_KEPT`] finished deliveries.

use berth_meta::command::{PruneDeliveries, PruneEvents};
use berth_meta::{Command, now_millis};

use crate::{Error, Registry};

/// Events removed per command (each costs about 15 µs).
const BATCH: u64 = 2_000;

/// The pause between two commands, in which other writes go first.
const PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// Finished deliveries kept per webhook (its delivery log).
pub const DELIVERIES_KEPT: u64 = 1000;

impl Registry {
    /// Removes events older than `keep_days` days (0: no age limit) and all but the
    /// newest `keep_count` (0: no count limit); how many.
    pub async fn prune_events(&self, keep_days: u64, keep_count: u64) -> Result<u64, Error> {
        self.meta.apply(Command::PruneDeliveries(PruneDeliveries { keep: DELIVERIES_KEPT, at_most: BATCH })).await?;
        let cutoff = now_millis().saturating_sub(keep_days.saturating_mul(86_400_000));
        let (len, first, last) = self.meta.read(|r| r.event_span()).await?;
        let (Some(first), Some(last)) = (first, last) else { return Ok(0) };
        let mut before = first;
        if keep_count > 0 && len > keep_count {
            before = before.max(last + 1 - keep_count);
        }
        if keep_days > 0 {
            before = before.max(self.meta.read(move |r| r.first_event_since(cutoff)).await?.min(last + 1));
        }
        let mut removed = 0;
        let mut from = first;
        while from < before {
            let at_most = BATCH.min(before - from);
            self.meta.apply(Command::PruneEvents(PruneEvents { before, at_most })).await?;
            removed += at_most;
            from += at_most;
            tokio::time::sleep(PAUSE).await;
        }
        Ok(removed)
    }
}
