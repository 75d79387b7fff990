//! Who may read which audit events, and who may manage which webhooks.

use berth_core::Action;
use berth_meta::Event;
use berth_meta::query::{EventFilter, EventPage};

use crate::service::FactsOfSnapshot;
use crate::{Auth, Error, Subject, policy};

impl Auth {
    /// A page of the audit log as `subject` may read it: a system administrator reads
    /// every event; anyone else the events of repositories they can read, and the
    /// events of their own account changes (with a credential that may manage).
    pub async fn events(&self, subject: &Subject, filter: EventFilter) -> Result<EventPage, Error> {
        let subject = subject.clone();
        if policy::administers(&subject) {
            return Ok(self.meta.read(move |r| r.events(&filter, |_, _| Ok(true))).await?);
        }
        Ok(self
            .meta
            .read(move |r| {
                let mut facts = FactsOfSnapshot::default();
                r.events(&filter, |r, event: &Event| match &event.repository {
                    Some(repository) => Ok(policy::sees(&subject, &facts.facts(r, repository)?)),
                    None => Ok(subject.may_manage() && event.user.is_some() && event.user.as_deref() == subject.name()),
                })
            })
            .await?)
    }

    /// Whether `subject` may manage the webhooks of `key`: a repository's administrators
    /// for `namespace/repository`, the namespace's owners for `namespace`.
    pub async fn manages_webhooks(&self, subject: &Subject, key: &str) -> Result<bool, Error> {
        if key.contains('/') {
            return Ok(subject.may_manage() && self.may(subject, key, Action::Admin).await?);
        }
        Ok(policy::owns_namespace(subject, key))
    }
}
