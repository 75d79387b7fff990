//! The audit log, webhooks and deliveries, as stored.
//!
//! A page of events is read newest first through the indexes of the filters given
//! (repository, user, kind: the ids all of them hold, found by merging their key ranges
//! without reading an event; else the log itself), within the ids the time filter allows (times never decrease with ids, so a time bound is an id bound,
//! found by bisection). A page stops after [`SCAN_LIMIT`] index entries even if it is
//! not full, and says where to go on: its cost stays bounded whatever the log holds and
//! however rare the matches.

use std::ops::Bound;

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};

use super::Reader;
use crate::Error;
use crate::records::{self, Delivery, DeliveryState, Event, Webhook};
use crate::tables::*;

/// An index of the audit log: (scope, event id).
type EventIndex = TableDefinition<'static, (&'static str, u64), ()>;

/// The most index entries one page looks at (over all the indexes it merges).
pub const SCAN_LIMIT: usize = 20_000;

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this repository's.
    pub repository: Option<String>,
    /// Only this user's.
    pub user: Option<String>,
    /// Only of this kind.
    pub kind: Option<String>,
    /// Only at or after this time (milliseconds since the epoch).
    pub since: Option<u64>,
    /// Only at or before this time.
    pub until: Option<u64>,
    /// Only events with ids below this one (the page before).
    pub before: Option<u64>,
    /// Only events with ids above this one (what came since).
    pub after: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// A page of events, newest first.
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    /// (id, event).
    pub events: Vec<(u64, Event)>,
    /// Where the next page starts (its `before`), when older events may match.
    pub next: Option<u64>,
}

/// The ids every stream holds, each stream sorted newest first: a merge that reads at
/// most `budget` keys in all. Returns the ids found and, when the budget ran out before
/// a stream ended, the id below which nothing has been looked at (the next page's
/// `before`).
fn intersect<I>(mut streams: Vec<I>, budget: usize) -> Result<(Vec<u64>, Option<u64>), Error>
where
    I: Iterator<Item = Result<u64, redb::StorageError>>,
{
    let mut heads = Vec::with_capacity(streams.len());
    for stream in &mut streams {
        match stream.next().transpose()? {
            Some(id) => heads.push(id),
            None => return Ok((Vec::new(), None)),
        }
    }
    let (mut found, mut read) = (Vec::new(), heads.len());
    loop {
        // An id above the smallest head is absent from that head's stream: the others skip
        // to it. When all heads agree, it is in every stream.
        let target = heads.iter().copied().min().unwrap_or(0);
        let all_agree = heads.iter().all(|&h| h == target);
        if all_agree {
            found.push(target);
        }
        for (head, stream) in heads.iter_mut().zip(&mut streams) {
            if *head > target || all_agree {
                read += 1;
                match stream.next().transpose()? {
                    Some(id) => *head = id,
                    None => return Ok((found, None)),
                }
            }
        }
        if read >= budget {
            // Everything above the smallest head is examined, that head not yet: the next
            // page starts at it (its `before` is one above).
            let resume = heads.iter().copied().min().unwrap_or(0);
            return Ok((found, Some(resume.saturating_add(1))));
        }
    }
}

impl Reader {
    /// A page of the events `filter` selects that `visible` accepts, newest first.
    pub fn events(
        &self,
        filter: &EventFilter,
        mut visible: impl FnMut(&Reader, &Event) -> Result<bool, Error>,
    ) -> Result<EventPage, Error> {
        let events = self.tx.open_table(EVENTS)?;
        let (mut low, mut high) = (filter.after.map_or(1, |a| a.saturating_add(1)), filter.before.unwrap_or(u64::MAX));
        if let Some(since) = filter.since {
            low = low.max(self.first_event_at_or_after(&events, since)?);
        }
        if let Some(until) = filter.until {
            high = high.min(self.first_event_at_or_after(&events, until.saturating_add(1))?);
        }
        let mut page = EventPage::default();
        if low >= high || filter.limit == 0 {
            return Ok(page);
        }
        // Ids to look at, newest first: those every given index holds (an intersection of
        // sorted key ranges, read without touching the events), else the log itself.
        let scopes: Vec<(EventIndex, &str)> = [
            (EVENTS_BY_REPOSITORY, filter.repository.as_deref()),
            (EVENTS_BY_USER, filter.user.as_deref()),
            (EVENTS_BY_KIND, filter.kind.as_deref()),
        ]
        .into_iter()
        .filter_map(|(table, scope)| scope.map(|s| (table, s)))
        .collect();
        let (ids, stopped_at) = if scopes.is_empty() {
            let ids: Vec<u64> =
                events.range(low..high)?.rev().take(SCAN_LIMIT).map(|e| e.map(|(k, _)| k.value())).collect::<Result<_, _>>()?;
            let stopped_at = (ids.len() == SCAN_LIMIT).then(|| ids.last().copied()).flatten();
            (ids, stopped_at)
        } else {
            let tables = scopes.iter().map(|(table, _)| self.tx.open_table(*table)).collect::<Result<Vec<_>, _>>()?;
            let mut ranges = Vec::with_capacity(tables.len());
            for (table, (_, scope)) in tables.iter().zip(&scopes) {
                ranges.push(table.range((*scope, low)..(*scope, high))?.rev().map(|e| e.map(|(k, _)| k.value().1)));
            }
            intersect(ranges, SCAN_LIMIT)?
        };
        for (n, id) in ids.iter().copied().enumerate() {
            let Some(value) = events.get(id)? else { continue };
            let event: Event = records::decode("events", value.value())?;
            if !visible(self, &event)? {
                continue;
            }
            page.events.push((id, event));
            if page.events.len() == filter.limit {
                // More may match below this one, unless it was the last id in range.
                if n + 1 < ids.len() || stopped_at.is_some() {
                    page.next = Some(id);
                }
                return Ok(page);
            }
        }
        // The scan stopped before the range's end: the next page goes on below where it stopped.
        page.next = stopped_at;
        Ok(page)
    }

    /// The id of the first event at or after `at` (one past the last when none is).
    fn first_event_at_or_after(&self, events: &impl ReadableTable<u64, &'static [u8]>, at: u64) -> Result<u64, Error> {
        let (Some(first), Some(last)) = (events.first()?.map(|(k, _)| k.value()), events.last()?.map(|(k, _)| k.value())) else {
            return Ok(u64::MAX);
        };
        // Ids from `first` to `last` are contiguous (retention removes from the front).
        let (mut low, mut high) = (first, last + 1);
        while low < high {
            let mid = low + (high - low) / 2;
            let time = match events.get(mid)? {
                Some(v) => records::decode::<Event>("events", v.value())?.at,
                None => 0,
            };
            if time < at {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        Ok(low)
    }

    /// The id of the first event at or after `at` (milliseconds since the epoch); one
    /// past the last when none is.
    pub fn first_event_since(&self, at: u64) -> Result<u64, Error> {
        let events = self.tx.open_table(EVENTS)?;
        self.first_event_at_or_after(&events, at)
    }

    /// One event.
    pub fn event(&self, id: u64) -> Result<Option<Event>, Error> {
        self.tx.open_table(EVENTS)?.get(id)?.map(|v| records::decode("events", v.value())).transpose()
    }

    /// How many events are stored, and the first and last ids.
    pub fn event_span(&self) -> Result<(u64, Option<u64>, Option<u64>), Error> {
        let events = self.tx.open_table(EVENTS)?;
        Ok((events.len()?, events.first()?.map(|(k, _)| k.value()), events.last()?.map(|(k, _)| k.value())))
    }

    /// Every webhook, by id.
    pub fn webhooks(&self) -> Result<Vec<(String, Webhook)>, Error> {
        let mut out = Vec::new();
        for entry in self.tx.open_table(WEBHOOKS)?.iter()? {
            let (key, value) = entry?;
            out.push((key.value().to_owned(), records::decode("webhooks", value.value())?));
        }
        Ok(out)
    }

    /// One webhook.
    pub fn webhook(&self, id: &str) -> Result<Option<Webhook>, Error> {
        self.tx.open_table(WEBHOOKS)?.get(id)?.map(|v| records::decode("webhooks", v.value())).transpose()
    }

    /// A webhook's deliveries, newest first, below `before`, at most `limit`.
    pub fn deliveries(&self, hook: &str, before: Option<u64>, limit: usize) -> Result<Vec<(u64, Delivery)>, Error> {
        let (by_hook, deliveries) = (self.tx.open_table(HOOK_DELIVERIES)?, self.tx.open_table(DELIVERIES)?);
        let end = Bound::Excluded((hook, before.unwrap_or(u64::MAX)));
        let mut out = Vec::new();
        for entry in by_hook.range::<(&str, u64)>((Bound::Included((hook, 0)), end))?.rev().take(limit) {
            let id = entry?.0.value().1;
            if let Some(v) = deliveries.get(id)? {
                out.push((id, records::decode("deliveries", v.value())?));
            }
        }
        Ok(out)
    }

    /// One delivery.
    pub fn delivery(&self, id: u64) -> Result<Option<Delivery>, Error> {
        self.tx.open_table(DELIVERIES)?.get(id)?.map(|v| records::decode("deliveries", v.value())).transpose()
    }

    /// Pending deliveries due at or before `now` whose hooks are not paused, soonest
    /// first, at most `limit`.
    pub fn due_deliveries(&self, now: u64, limit: usize) -> Result<Vec<(u64, Delivery, Webhook)>, Error> {
        let (due, deliveries, hooks) =
            (self.tx.open_table(DUE_DELIVERIES)?, self.tx.open_table(DELIVERIES)?, self.tx.open_table(WEBHOOKS)?);
        let mut out = Vec::new();
        for entry in due.range((0, 0)..=(now, u64::MAX))? {
            let id = entry?.0.value().1;
            let Some(v) = deliveries.get(id)? else { continue };
            let delivery: Delivery = records::decode("deliveries", v.value())?;
            if delivery.state != DeliveryState::Pending {
                continue;
            }
            let Some(h) = hooks.get(delivery.hook.as_str())? else { continue };
            let hook: Webhook = records::decode("webhooks", h.value())?;
            if hook.paused.is_some() {
                continue;
            }
            out.push((id, delivery, hook));
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }
}
