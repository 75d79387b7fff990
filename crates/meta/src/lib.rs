//! Berth's metadata: every repository, blob link, manifest, tag and referrer.
//!
//! There is exactly one write path: [`Meta::apply`] runs a [`Command`] through the
//! deterministic state machine in one redb transaction, which also records the index
//! of the last applied command. A command carries everything it needs (timestamps
//! included), so replaying the same commands gives the same state on every replica.
//! Reads ([`Meta::read`] and the query methods) go straight to a redb snapshot.
//!
//! This is the only crate that opens the metadata database.
//!
//! # Layout
//! - [`tables`]: every table and its key encoding.
//! - [`records`]: stored value types, versioned.
//! - [`command`]: the commands, one file per aggregate, each with its `apply`.
//! - [`state_machine`]: runs commands in transactions.
//! - [`query`]: the read side.

pub mod command;
pub mod query;
pub mod records;
pub mod state_machine;
pub mod tables;

use std::path::Path;
use std::sync::Arc;

pub use command::{Applied, Command, Rejection};
pub use query::Page;
pub use records::{AccessToken, Account, AccountKind, Repository, Team, TrustKey};
pub use state_machine::StateMachine;

/// Metadata failures: the store itself failed. Refusals are [`Rejection`]s, not errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// redb failed (I/O, corruption, …).
    #[error("metadata store: {0}")]
    Store(#[from] redb::Error),
    /// A stored record could not be decoded.
    #[error("corrupt metadata record in {table}: {detail}")]
    Corrupt {
        /// The table holding it.
        table: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The blocking task running a transaction was lost (the runtime is shutting down).
    #[error("metadata task failed: {0}")]
    Task(String),
}

macro_rules! store_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Store(e.into())
            }
        }
    )*};
}
store_error_from!(redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError, redb::DatabaseError);

/// The metadata handle: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Meta {
    machine: Arc<StateMachine>,
}

impl Meta {
    /// Opens (creating if needed) the metadata database at `path`.
    pub fn open(path: &Path) -> Result<Meta, Error> {
        Ok(Meta { machine: Arc::new(StateMachine::open(path)?) })
    }

    /// Applies one command: the only way metadata changes. Returns once the
    /// transaction is durably committed.
    pub async fn apply(&self, command: Command) -> Result<Applied, Error> {
        let machine = self.machine.clone();
        tokio::task::spawn_blocking(move || machine.apply(command))
            .await
            .map_err(|e| Error::Task(e.to_string()))?
    }

    /// Runs a read query on a consistent snapshot, off the async threads.
    pub async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&query::Reader) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let machine = self.machine.clone();
        tokio::task::spawn_blocking(move || query(&machine.reader()?))
            .await
            .map_err(|e| Error::Task(e.to_string()))?
    }

    /// Whether the store answers a read (for health checks).
    pub async fn check(&self) -> Result<(), Error> {
        self.read(|r| r.last_applied().map(|_| ())).await
    }
}
