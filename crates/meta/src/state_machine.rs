//! Runs commands: the replication log's entries, each batch in one redb write
//! transaction that also records the id of the last applied entry and the membership.
//! Deterministic: the outcome depends only on the current state and the command.
//!
//! Entries are applied without an fsync of their own: they are already durable in the
//! log (in the same database), and the next log flush makes the applied state durable
//! too. After a crash, the state is the last durable one, and the log is applied again
//! from the applied id recorded with it.

use std::path::Path;
use std::sync::Arc;

use openraft::{EntryPayload, StoredMembership};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};

use crate::Error;
use crate::command::{Applied, Command};
use crate::query::Reader;
use crate::raft::{Entry, LogId, Membership, Outcome, state};
use crate::tables::*;

/// redb's page cache. Its default (1 GiB) lets the process grow with the database; the
/// pages requests keep touching (tags, manifests being pulled, accounts) fit in far
/// less, and the rest comes from the kernel's page cache. At 32 MiB the cache was the
/// largest part of the live heap under load and grew with the store; with 8 MiB a catalog
/// or tag page costs the same at 200,000 repositories and 1,000,000 tags as at 2,000 and
/// 10,000 (the growth benchmark; docs/performance-notes.md, "Memory").
const CACHE_BYTES: usize = 8 << 20;

/// The state machine over the metadata database.
pub struct StateMachine {
    db: Arc<Database>,
}

impl StateMachine {
    /// Opens the database, creating its tables on first use.
    pub fn open(path: &Path) -> Result<StateMachine, Error> {
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(path)?;
        let tx = db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            let schema = meta.get(SCHEMA)?.map(|v| v.value());
            tx.open_table(RAFT_LOG)?;
            tx.open_table(RAFT_STATE)?;
            struct Create<'a>(&'a WriteTransaction);
            impl TableVisitor for Create<'_> {
                fn visit<K: redb::Key + 'static, V: redb::Value + 'static>(
                    &mut self,
                    table: redb::TableDefinition<'static, K, V>,
                ) -> Result<(), Error> {
                    self.0.open_table(table)?;
                    Ok(())
                }
            }
            visit_data_tables(&mut Create(&tx))?;
            // A store written before the blob indexes existed gets them now, built from
            // its links and manifests (the same on every replica: derived from the state).
            if schema.is_some_and(|v| v < 2) {
                crate::command::build_blob_indexes(&tx)?;
            }
            if schema.is_none_or(|v| v < SCHEMA_VERSION) {
                meta.insert(SCHEMA, SCHEMA_VERSION)?;
            }
        }
        tx.commit()?;
        Ok(StateMachine { db: Arc::new(db) })
    }

    /// The database (the log store shares it).
    pub(crate) fn db(&self) -> &Arc<Database> {
        &self.db
    }

    /// Applies `command` in one durably committed transaction, outside any log (tests and
    /// tools). A refusal is `Ok(Applied::Rejected(_))` and changes nothing.
    pub fn apply(&self, command: Command) -> Result<Applied, Error> {
        let mut results = self.apply_batch(vec![command])?;
        results.pop().ok_or_else(|| Error::Task("an empty batch answered nothing".into()))
    }

    /// Applies `commands` in order, in one durably committed transaction, outside any log.
    /// Each command sees the effects of those before it, exactly as if applied one by
    /// one. An error aborts the whole batch, which then changed nothing.
    pub fn apply_batch(&self, commands: Vec<Command>) -> Result<Vec<Applied>, Error> {
        let tx = self.db.begin_write()?;
        let mut results = Vec::with_capacity(commands.len());
        for command in commands {
            results.push(command.apply(&tx)?);
        }
        tx.commit()?;
        Ok(results)
    }

    /// Applies `commands` as [`StateMachine::apply_batch`] does, recording their audit
    /// events as if `origin` had proposed them (tools that seed a store, and tests).
    pub fn apply_batch_from(&self, commands: Vec<Command>, origin: &crate::origin::Origin) -> Result<Vec<Applied>, Error> {
        let tx = self.db.begin_write()?;
        let mut results = Vec::with_capacity(commands.len());
        for command in commands {
            results.push(crate::audit::apply_audited(&tx, command, Some(origin))?);
        }
        tx.commit()?;
        Ok(results)
    }

    /// Applies log entries in order, in one transaction that also records the last
    /// entry's id (and the membership, when an entry changes it). When a command fails
    /// (the store itself failed: I/O, a corrupt record), the batch is undone and the
    /// entries are applied one per transaction, so one failing command cannot fail its
    /// neighbours; it answers [`Outcome::Failed`] and changes nothing but the applied id.
    pub(crate) fn apply_entries(&self, entries: Vec<Entry>) -> Result<Vec<Outcome>, Error> {
        if let Ok(outcomes) = self.apply_in_one(&entries) {
            return Ok(outcomes);
        }
        let mut outcomes = Vec::with_capacity(entries.len());
        for entry in entries {
            match self.apply_in_one(std::slice::from_ref(&entry)) {
                Ok(mut one) => outcomes.append(&mut one),
                Err(e) => {
                    tracing::error!(index = entry.log_id.index, error = %e, "applying a command failed");
                    let tx = self.non_durable()?;
                    state::put(&tx, state::APPLIED, &entry.log_id)?;
                    tx.commit()?;
                    outcomes.push(Outcome::Failed(e.to_string()));
                }
            }
        }
        Ok(outcomes)
    }

    fn apply_in_one(&self, entries: &[Entry]) -> Result<Vec<Outcome>, Error> {
        let tx = self.non_durable()?;
        let mut outcomes = Vec::with_capacity(entries.len());
        for entry in entries {
            let outcome = match &entry.payload {
                EntryPayload::Blank => Outcome::Applied(Applied::Done),
                EntryPayload::Normal(proposal) => {
                    Outcome::Applied(crate::audit::apply_audited(&tx, proposal.command.clone(), proposal.origin.as_ref())?)
                }
                EntryPayload::Membership(membership) => {
                    let stored: Membership = StoredMembership::new(Some(entry.log_id), membership.clone());
                    state::put(&tx, state::MEMBERSHIP, &stored)?;
                    Outcome::Applied(Applied::Done)
                }
            };
            outcomes.push(outcome);
        }
        if let Some(last) = entries.last() {
            state::put(&tx, state::APPLIED, &last.log_id)?;
        }
        tx.commit()?;
        Ok(outcomes)
    }

    /// The last applied entry's id and the membership it left.
    pub(crate) fn applied_state(&self) -> Result<(Option<LogId>, Membership), Error> {
        let tx = self.db.begin_read()?;
        Ok((state::get(&tx, state::APPLIED)?, state::get(&tx, state::MEMBERSHIP)?.unwrap_or_default()))
    }

    /// A write transaction whose commit waits for no fsync (the log's flush makes it durable).
    pub(crate) fn non_durable(&self) -> Result<WriteTransaction, Error> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::None).map_err(|e| Error::Task(e.to_string()))?;
        Ok(tx)
    }

    /// A reader over a consistent snapshot.
    pub fn reader(&self) -> Result<Reader, Error> {
        Ok(Reader::new(self.db.begin_read()?))
    }
}
