//! The replication log, in the `raft_log` table of the metadata database.
//!
//! Group commit: an append is committed without an fsync, and its completion handed to
//! the flusher thread, which makes every append waiting at that moment durable with one
//! fsync and only then tells openraft they are on disk. Appends arriving during an fsync
//! wait for the next one, together. So a burst of writes costs one fsync, not one each,
//! and no entry is counted towards a quorum before it is durable.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{RaftLogReader, StorageIOError, Vote};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};

use super::{Entry, LogId, StorageError, TypeConfig, state};
use crate::Error;
use crate::state_machine::StateMachine;
use crate::tables::RAFT_LOG;

/// Runs a store operation on the blocking pool (redb calls block, an fsync for milliseconds).
pub(crate) async fn blocking<T: Send + 'static>(operation: impl FnOnce() -> Result<T, Error> + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(operation).await.map_err(|e| Error::Task(e.to_string()))?
}

/// What the flusher thread is asked.
pub enum Flush {
    /// Make this append durable, then complete it.
    Append(LogFlushed<TypeConfig>),
    /// Flush what is waiting, then stop (the replica is shutting down).
    Stop,
}

/// The log store: cheap to clone (openraft takes a reader clone).
#[derive(Clone)]
pub struct LogStore {
    sm: Arc<StateMachine>,
    flushes: Sender<Flush>,
}

impl LogStore {
    /// A log store over the state machine's database, its flusher thread, and how to
    /// stop that thread.
    pub fn new(sm: Arc<StateMachine>) -> Result<(LogStore, std::thread::JoinHandle<()>, Sender<Flush>), Error> {
        let (flushes, waiting) = std::sync::mpsc::channel();
        let for_thread = sm.clone();
        let thread = std::thread::Builder::new()
            .name("berth-log-flush".into())
            .spawn(move || flush_loop(for_thread.db(), &waiting))
            .map_err(|e| Error::Task(e.to_string()))?;
        Ok((LogStore { sm, flushes: flushes.clone() }, thread, flushes))
    }

    fn db(&self) -> &Database {
        self.sm.db()
    }

    fn durable(&self) -> Result<WriteTransaction, Error> {
        Ok(self.db().begin_write()?)
    }
}

/// Makes the appends waiting durable, one fsync for all, then completes them.
fn flush_loop(db: &Database, waiting: &Receiver<Flush>) {
    let mut stopping = false;
    while !stopping {
        let Ok(first) = waiting.recv() else { return };
        let mut done = Vec::new();
        for message in std::iter::once(first).chain(waiting.try_iter()) {
            match message {
                Flush::Append(callback) => done.push(callback),
                Flush::Stop => stopping = true,
            }
        }
        if done.is_empty() {
            continue;
        }
        // A durable commit persists every commit before it, whatever it writes itself.
        let flushed = (|| -> Result<(), Error> {
            let tx = db.begin_write()?;
            state::put(&tx, "flushed", &done.len())?;
            tx.commit()?;
            Ok(())
        })();
        for callback in done {
            callback.log_io_completed(flushed.as_ref().map(|_| ()).map_err(|e| std::io::Error::other(e.to_string())));
        }
    }
}

fn read_error(e: Error) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

fn write_error(e: Error) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

fn decode(index: u64, bytes: &[u8]) -> Result<Entry, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt { table: "raft_log", detail: format!("entry {index}: {e}") })
}

/// The entries with indexes in `range`, in order.
pub(crate) fn read_entries(db: &Database, range: (Bound<u64>, Bound<u64>)) -> Result<Vec<Entry>, Error> {
    let tx = db.begin_read()?;
    let table = tx.open_table(RAFT_LOG)?;
    let mut entries = Vec::new();
    for item in table.range::<u64>(range)? {
        let (index, bytes) = item?;
        entries.push(decode(index.value(), bytes.value())?);
    }
    Ok(entries)
}

fn owned_range(range: impl RangeBounds<u64>) -> (Bound<u64>, Bound<u64>) {
    (range.start_bound().cloned(), range.end_bound().cloned())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(&mut self, range: RB) -> Result<Vec<Entry>, StorageError> {
        let (sm, range) = (self.sm.clone(), owned_range(range));
        blocking(move || read_entries(sm.db(), range)).await.map_err(read_error)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let sm = self.sm.clone();
        blocking(move || {
            let tx = sm.db().begin_read()?;
            let purged: Option<LogId> = state::get(&tx, state::PURGED)?;
            let table = tx.open_table(RAFT_LOG)?;
            let last = match table.last()? {
                Some((index, bytes)) => Some(decode(index.value(), bytes.value())?.log_id),
                None => purged,
            };
            Ok(LogState { last_purged_log_id: purged, last_log_id: last })
        })
        .await
        .map_err(read_error)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        let (store, vote) = (self.clone(), *vote);
        blocking(move || {
            let tx = store.durable()?;
            state::put(&tx, state::VOTE, &vote)?;
            Ok(tx.commit()?)
        })
        .await
        .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        let sm = self.sm.clone();
        blocking(move || state::get(&sm.db().begin_read()?, state::VOTE)).await.map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Advisory (it lets a restarted replica apply what it knows committed before
        // hearing from a leader), so it rides on the next flush.
        let store = self.clone();
        blocking(move || {
            let mut tx = store.durable()?;
            tx.set_durability(Durability::None).map_err(|e| Error::Task(e.to_string()))?;
            state::put(&tx, state::COMMITTED, &committed)?;
            Ok(tx.commit()?)
        })
        .await
        .map_err(write_error)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let sm = self.sm.clone();
        blocking(move || Ok(state::get::<Option<LogId>>(&sm.db().begin_read()?, state::COMMITTED)?.flatten())).await.map_err(read_error)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut encoded = Vec::new();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry).map_err(|e| StorageIOError::write_log_entry(entry.log_id, &e))?;
            encoded.push((entry.log_id.index, bytes));
        }
        let store = self.clone();
        blocking(move || {
            let mut tx = store.durable()?;
            tx.set_durability(Durability::None).map_err(|e| Error::Task(e.to_string()))?;
            {
                let mut log = tx.open_table(RAFT_LOG)?;
                for (index, bytes) in &encoded {
                    log.insert(*index, bytes.as_slice())?;
                }
            }
            Ok(tx.commit()?)
        })
        .await
        .map_err(write_error)?;
        self.flushes.send(Flush::Append(callback)).map_err(|_| write_error(Error::Task("the log flusher has stopped".into())))
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let store = self.clone();
        blocking(move || {
            let tx = store.durable()?;
            tx.open_table(RAFT_LOG)?.retain_in(log_id.index.., |_, _| false)?;
            Ok(tx.commit()?)
        })
        .await
        .map_err(write_error)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let store = self.clone();
        blocking(move || {
            let tx = store.durable()?;
            state::put(&tx, state::PURGED, &log_id)?;
            tx.open_table(RAFT_LOG)?.retain_in(..=log_id.index, |_, _| false)?;
            Ok(tx.commit()?)
        })
        .await
        .map_err(write_error)
    }
}
