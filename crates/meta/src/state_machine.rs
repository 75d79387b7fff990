//! Runs commands: each in one redb write transaction that also records the index of
//! the last applied command, committed durably before the caller hears the result.
//! Deterministic: the outcome depends only on the current state and the command.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable};

use crate::Error;
use crate::command::{Applied, Command};
use crate::query::Reader;
use crate::tables::*;

/// redb's page cache. Its default (1 GiB) lets the process grow with the database; the
/// pages requests keep touching (tags, manifests being pulled, accounts) fit in far
/// less, and the rest comes from the kernel's page cache.
const CACHE_BYTES: usize = 32 << 20;

/// The state machine over the metadata database.
pub struct StateMachine {
    db: Database,
}

impl StateMachine {
    /// Opens the database, creating its tables on first use.
    pub fn open(path: &Path) -> Result<StateMachine, Error> {
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(path)?;
        let tx = db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            if meta.get(SCHEMA)?.is_none() {
                meta.insert(SCHEMA, SCHEMA_VERSION)?;
            }
            tx.open_table(REPOSITORIES)?;
            tx.open_table(BLOB_LINKS)?;
            tx.open_table(MANIFESTS)?;
            tx.open_table(MANIFEST_REPOSITORIES)?;
            tx.open_table(MANIFEST_CONTENT)?;
            tx.open_table(TAGS)?;
            tx.open_table(REFERRERS)?;
            tx.open_table(ACCOUNTS)?;
            tx.open_table(TEAMS)?;
            tx.open_table(TEAM_MEMBERS)?;
            tx.open_table(MEMBERSHIPS)?;
            tx.open_table(REPOSITORY_GRANTS)?;
            tx.open_table(NAMESPACE_GRANTS)?;
            tx.open_table(ACCESS_TOKENS)?;
            tx.open_table(SETTINGS)?;
            tx.open_table(TRUST_FILES)?;
            tx.open_table(TRUST_CHECKSUMS)?;
            tx.open_table(TRUST_CURRENT)?;
            tx.open_table(TRUST_KEYS)?;
            tx.open_table(TRUST_GUNS)?;
            tx.open_table(SIGNED_TAGS)?;
        }
        tx.commit()?;
        Ok(StateMachine { db })
    }

    /// Applies `command` in one transaction. A refusal is `Ok(Applied::Rejected(_))` and
    /// changes nothing but the applied index, so every replica reaches the same answer.
    pub fn apply(&self, command: Command) -> Result<Applied, Error> {
        let mut results = self.apply_batch(vec![command])?;
        results.pop().ok_or_else(|| Error::Task("an empty batch answered nothing".into()))
    }

    /// Applies `commands` in order, in one transaction with one durable commit (group
    /// commit: concurrent writers share the fsync). Each command sees the effects of those
    /// before it, exactly as if applied one by one; the applied index advances by one per
    /// command. An error aborts the whole batch, which then changed nothing.
    pub fn apply_batch(&self, commands: Vec<Command>) -> Result<Vec<Applied>, Error> {
        let tx = self.db.begin_write()?;
        let count = commands.len() as u64;
        let mut results = Vec::with_capacity(commands.len());
        for command in commands {
            results.push(command.apply(&tx)?);
        }
        {
            let mut meta = tx.open_table(META)?;
            let index = meta.get(LAST_APPLIED)?.map(|v| v.value()).unwrap_or(0);
            meta.insert(LAST_APPLIED, index + count)?;
        }
        tx.commit()?;
        Ok(results)
    }

    /// A reader over a consistent snapshot.
    pub fn reader(&self) -> Result<Reader, Error> {
        Ok(Reader::new(self.db.begin_read()?))
    }
}
