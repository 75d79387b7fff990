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
//! - [`clock`]: the one clock commands take their timestamps from.
//! - [`tables`]: every table and its key encoding.
//! - [`records`]: stored value types, versioned.
//! - [`command`]: the commands, one file per aggregate, each with its `apply`.
//! - [`state_machine`]: runs commands in transactions.
//! - [`query`]: the read side.
//! - [`dump`]: every table as bytes (equal dumps, equal stores).
//! - [`settings`]: every registry-wide setting, its name and value type.
//! - [`seal`]: the master key that seals secrets kept in the metadata.

pub mod clock;
pub mod command;
pub mod dump;
pub mod query;
pub mod records;
pub mod seal;
pub mod settings;
pub mod state_machine;
pub mod tables;

use std::path::Path;
use std::sync::Arc;

pub use clock::{now, now_millis};
pub use command::{Applied, Command, Rejection};
pub use query::Page;
pub use records::{AccessToken, Account, AccountKind, LdapSyncReport, Repository, SignedTarget, Team, TeamSync, TrustKey};
pub use settings::{Setting, SigningPolicy};
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
    inner: Arc<Inner>,
}

struct Inner {
    machine: Arc<StateMachine>,
    writer: Option<std::sync::mpsc::Sender<Pending>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Inner {
    /// Stops the writer thread and waits for it, so the database is closed (and can be
    /// opened again) once the last handle is gone.
    fn drop(&mut self) {
        self.writer.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A command waiting for the writer, with where its answer goes.
type Pending = (Command, tokio::sync::oneshot::Sender<Result<Applied, Error>>);

/// The most commands committed together.
const MAX_BATCH: usize = 256;

impl Meta {
    /// Opens (creating if needed) the metadata database at `path`, and starts its writer
    /// thread (stopped when the last handle is dropped).
    pub fn open(path: &Path) -> Result<Meta, Error> {
        let machine = Arc::new(StateMachine::open(path)?);
        let (writer, queue) = std::sync::mpsc::channel();
        let for_writer = machine.clone();
        let thread = std::thread::Builder::new()
            .name("berth-meta-writer".into())
            .spawn(move || write_loop(&for_writer, &queue))
            .map_err(|e| Error::Task(e.to_string()))?;
        Ok(Meta { inner: Arc::new(Inner { machine, writer: Some(writer), thread: Some(thread) }) })
    }

    /// Applies one command: the only way metadata changes. Returns once the
    /// transaction is durably committed. Commands arriving while a commit is under way
    /// are committed together in the next one (group commit), in arrival order.
    pub async fn apply(&self, command: Command) -> Result<Applied, Error> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let stopped = || Error::Task("the metadata writer has stopped".into());
        self.inner.writer.as_ref().ok_or_else(stopped)?.send((command, answer)).map_err(|_| stopped())?;
        answered.await.map_err(|_| Error::Task("the metadata writer dropped a command".into()))?
    }

    /// Runs a read query on a consistent snapshot. Queries run on the caller's thread:
    /// they are B-tree lookups and bounded scans over pages redb mostly holds in memory
    /// (microseconds), far cheaper than handing them to another thread and back.
    pub async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&query::Reader) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        query(&self.inner.machine.reader()?)
    }

    /// Whether the store answers a read (for health checks).
    pub async fn check(&self) -> Result<(), Error> {
        self.read(|r| r.last_applied().map(|_| ())).await
    }
}

/// The writer thread: takes every command waiting, applies them in one transaction, and
/// answers each. When a batch fails, its commands are retried one by one, so one bad
/// command cannot fail its neighbours.
fn write_loop(machine: &StateMachine, queue: &std::sync::mpsc::Receiver<Pending>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (commands, answers): (Vec<Command>, Vec<_>) = batch.into_iter().unzip();
        if commands.len() == 1 {
            let result = commands.into_iter().next().map(|c| machine.apply(c));
            if let (Some(result), Some(answer)) = (result, answers.into_iter().next()) {
                let _ = answer.send(result);
            }
            continue;
        }
        match machine.apply_batch(commands.clone()) {
            Ok(results) => {
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(Ok(result));
                }
            }
            Err(_) => {
                for (answer, command) in answers.into_iter().zip(commands) {
                    let _ = answer.send(machine.apply(command));
                }
            }
        }
    }
}
