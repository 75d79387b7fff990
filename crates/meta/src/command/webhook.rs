//! Webhooks and their deliveries. Deliveries are queued by the audit log as events are
//! applied ([`crate::audit`]); the leader's worker posts them and records each attempt.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, Delivery, DeliveryState, Webhook};
use crate::tables::{DELIVERIES, DUE_DELIVERIES, HOOK_DELIVERIES, WEBHOOKS};

/// Creates a webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateWebhook {
    /// Its id (made by the proposer).
    pub id: String,
    /// The webhook.
    pub hook: Webhook,
}

impl CreateWebhook {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        tx.open_table(WEBHOOKS)?.insert(self.id.as_str(), records::encode(&self.hook).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Pauses a webhook's deliveries, or resumes them (which forgets its failures).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateWebhook {
    /// The webhook.
    pub id: String,
    /// Why it is paused; `None` resumes it.
    pub paused: Option<String>,
}

impl UpdateWebhook {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut hooks = tx.open_table(WEBHOOKS)?;
        let Some(mut hook) = hooks.get(self.id.as_str())?.map(|v| records::decode::<Webhook>("webhooks", v.value())).transpose()? else {
            return Ok(Applied::Rejected(Rejection::WebhookUnknown));
        };
        if self.paused.is_none() {
            hook.failures = 0;
        }
        hook.paused = self.paused;
        hooks.insert(self.id.as_str(), records::encode(&hook).as_slice())?;
        Ok(Applied::Done)
    }
}

/// Deletes a webhook and its delivery log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteWebhook {
    /// The webhook.
    pub id: String,
}

impl DeleteWebhook {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        if tx.open_table(WEBHOOKS)?.remove(self.id.as_str())?.is_none() {
            return Ok(Applied::Rejected(Rejection::WebhookUnknown));
        }
        let mut by_hook = tx.open_table(HOOK_DELIVERIES)?;
        let ids: Vec<u64> = by_hook
            .range((self.id.as_str(), 0)..=(self.id.as_str(), u64::MAX))?
            .map(|e| e.map(|(k, _)| k.value().1))
            .collect::<Result<_, _>>()?;
        let (mut deliveries, mut due) = (tx.open_table(DELIVERIES)?, tx.open_table(DUE_DELIVERIES)?);
        for id in ids {
            by_hook.remove((self.id.as_str(), id))?;
            if let Some(old) = deliveries.remove(id)? {
                let delivery: Delivery = records::decode("deliveries", old.value())?;
                due.remove((delivery.due_at, id))?;
            }
        }
        Ok(Applied::Done)
    }
}

/// Queues a delivery again, due at once, with its attempts reset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Redeliver {
    /// The webhook (a delivery is redelivered through its own hook only).
    pub hook: String,
    /// The delivery.
    pub delivery: u64,
    /// Now (milliseconds since the epoch).
    pub at: u64,
}

impl Redeliver {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut deliveries = tx.open_table(DELIVERIES)?;
        let Some(mut delivery) =
            deliveries.get(self.delivery)?.map(|v| records::decode::<Delivery>("deliveries", v.value())).transpose()?
        else {
            return Ok(Applied::Rejected(Rejection::DeliveryUnknown));
        };
        if delivery.hook != self.hook {
            return Ok(Applied::Rejected(Rejection::DeliveryUnknown));
        }
        let mut due = tx.open_table(DUE_DELIVERIES)?;
        due.remove((delivery.due_at, self.delivery))?;
        delivery.state = DeliveryState::Pending;
        delivery.attempts = 0;
        delivery.due_at = self.at;
        due.insert((self.at, self.delivery), ())?;
        deliveries.insert(self.delivery, records::encode(&delivery).as_slice())?;
        Ok(Applied::Done)
    }
}

/// One attempt to post a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The delivery.
    pub delivery: u64,
    /// When it ended (milliseconds since the epoch).
    pub at: u64,
    /// The endpoint's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took (milliseconds).
    pub duration_ms: u64,
    /// When to try again after a failure; `None`: no more attempts.
    pub retry_at: Option<u64>,
}

impl Attempt {
    /// Whether the endpoint took the delivery (any 2xx answer).
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Records attempts: a delivered one is done and clears its hook's failures; a failed
/// one is due again at its retry time, or, out of retries, counts as one more failure of
/// its hook, which is paused after `pause_after` in a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordDeliveries {
    /// The attempts.
    pub attempts: Vec<Attempt>,
    /// Failed deliveries in a row that pause a hook.
    pub pause_after: u32,
}

impl RecordDeliveries {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let (mut deliveries, mut due, mut hooks) = (tx.open_table(DELIVERIES)?, tx.open_table(DUE_DELIVERIES)?, tx.open_table(WEBHOOKS)?);
        for attempt in self.attempts {
            // Gone with its hook, or already finished by an earlier record: nothing to do.
            let Some(mut delivery) =
                deliveries.get(attempt.delivery)?.map(|v| records::decode::<Delivery>("deliveries", v.value())).transpose()?
            else {
                continue;
            };
            if delivery.state != DeliveryState::Pending {
                continue;
            }
            due.remove((delivery.due_at, attempt.delivery))?;
            delivery.attempts += 1;
            delivery.status = attempt.status;
            delivery.error = attempt.error.clone();
            delivery.duration_ms = attempt.duration_ms;
            delivery.attempted_at = attempt.at;
            let mut hook = hooks.get(delivery.hook.as_str())?.map(|v| records::decode::<Webhook>("webhooks", v.value())).transpose()?;
            if attempt.delivered() {
                delivery.state = DeliveryState::Delivered;
                if let Some(hook) = hook.as_mut() {
                    hook.failures = 0;
                }
            } else if let Some(retry_at) = attempt.retry_at {
                delivery.due_at = retry_at;
                due.insert((retry_at, attempt.delivery), ())?;
            } else {
                delivery.state = DeliveryState::Failed;
                if let Some(hook) = hook.as_mut() {
                    hook.failures += 1;
                    if hook.failures >= self.pause_after && hook.paused.is_none() {
                        let why = attempt.error.clone().or(attempt.status.map(|s| format!("HTTP {s}"))).unwrap_or_default();
                        hook.paused = Some(format!("paused after {} failed deliveries in a row (the last: {why})", hook.failures));
                    }
                }
            }
            if let Some(hook) = hook {
                hooks.insert(delivery.hook.as_str(), records::encode(&hook).as_slice())?;
            }
            deliveries.insert(attempt.delivery, records::encode(&delivery).as_slice())?;
        }
        Ok(Applied::Done)
    }
}

/// Forgets the oldest finished deliveries of each webhook beyond its newest `keep`, at
/// most `at_most` in all (a bounded transaction, as retention's): a delivery log stays
/// the size an operator reads, however long a hook lives. Pending deliveries stay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneDeliveries {
    /// Deliveries kept per webhook.
    pub keep: u64,
    /// The most removed by this command.
    pub at_most: u64,
}

impl PruneDeliveries {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let hooks: Vec<String> =
            tx.open_table(WEBHOOKS)?.iter()?.map(|e| e.map(|(k, _)| k.value().to_owned())).collect::<Result<_, _>>()?;
        let (mut by_hook, mut deliveries) = (tx.open_table(HOOK_DELIVERIES)?, tx.open_table(DELIVERIES)?);
        let mut budget = self.at_most;
        for hook in hooks {
            let ids: Vec<u64> = by_hook
                .range((hook.as_str(), 0)..=(hook.as_str(), u64::MAX))?
                .map(|e| e.map(|(k, _)| k.value().1))
                .collect::<Result<_, _>>()?;
            let excess = (ids.len() as u64).saturating_sub(self.keep);
            for id in ids.into_iter().take(excess as usize) {
                if budget == 0 {
                    return Ok(Applied::Done);
                }
                let finished = match deliveries.get(id)? {
                    Some(v) => records::decode::<Delivery>("deliveries", v.value())?.state != DeliveryState::Pending,
                    None => true,
                };
                if finished {
                    deliveries.remove(id)?;
                    by_hook.remove((hook.as_str(), id))?;
                    budget -= 1;
                }
            }
        }
        Ok(Applied::Done)
    }
}
