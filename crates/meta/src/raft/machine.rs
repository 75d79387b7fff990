//! openraft's view of the state machine: applying entries, and snapshots.
//!
//! A snapshot is the data tables written as one stream ([`super::snapshot`]) to a file
//! in `<data>/snapshots/`, described in the replication state. One is kept: building a
//! new one, or installing one received from the leader, removes the older file.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{RaftSnapshotBuilder, StorageIOError};
use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};

use super::log_store::blocking;
use super::{Entry, LogId, Membership, Outcome, SnapshotMeta, StorageError, TypeConfig, snapshot, state};
use crate::Error;
use crate::state_machine::StateMachine;

/// The current snapshot, as the replication state records it.
#[derive(Serialize, Deserialize)]
struct Current {
    meta: SnapshotMeta,
    file: String,
}

/// The state machine and its snapshot directory. Cheap to clone.
#[derive(Clone)]
pub struct Machine {
    sm: Arc<StateMachine>,
    dir: PathBuf,
    /// The file a snapshot from the leader is being received into.
    receiving: Arc<Mutex<Option<PathBuf>>>,
}

impl Machine {
    /// The machine over `sm`, with snapshots in `dir` (created; partial files from an
    /// interrupted transfer removed).
    pub fn new(sm: Arc<StateMachine>, dir: PathBuf) -> Result<Machine, Error> {
        std::fs::create_dir_all(&dir).map_err(|e| Error::Task(format!("creating {}: {e}", dir.display())))?;
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.path().extension().is_some_and(|x| x == "part") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(Machine { sm, dir, receiving: Arc::default() })
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Removes every snapshot file in `dir` but `keep`.
fn remove_others(dir: &Path, keep: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".snap") && name != keep {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn io_error(e: std::io::Error) -> Error {
    Error::Task(format!("snapshot file: {e}"))
}

/// Writes a snapshot of the current state; its description and path.
fn build(sm: &StateMachine, dir: &Path) -> Result<(SnapshotMeta, PathBuf), Error> {
    let tx = sm.db().begin_read()?;
    let applied: Option<LogId> = state::get(&tx, state::APPLIED)?;
    let membership: Membership = state::get(&tx, state::MEMBERSHIP)?.unwrap_or_default();
    let id = format!("{}-{:x}", applied.map_or(0, |l| l.index), crate::clock::now_millis());
    let (file, part) = (format!("{id}.snap"), dir.join(format!("{id}.part")));
    {
        let mut out = BufWriter::new(std::fs::File::create(&part).map_err(io_error)?);
        snapshot::write(&tx, &mut out)?;
        out.into_inner().map_err(|e| io_error(e.into_error()))?.sync_all().map_err(io_error)?;
    }
    drop(tx);
    let path = dir.join(&file);
    std::fs::rename(&part, &path).map_err(io_error)?;
    sync_dir(dir);
    let meta = SnapshotMeta { last_log_id: applied, last_membership: membership, snapshot_id: id };
    let tx = sm.db().begin_write()?;
    state::put(&tx, state::SNAPSHOT, &Current { meta: meta.clone(), file: file.clone() })?;
    tx.commit()?;
    remove_others(dir, &file);
    Ok((meta, path))
}

/// Keeps the snapshot read from `received` as the current one, and replaces the data
/// with it, in one durable transaction.
fn install(sm: &StateMachine, dir: &Path, received: &mut std::fs::File, meta: &SnapshotMeta) -> Result<(), Error> {
    use std::io::{Seek, SeekFrom};
    let file = format!("{}.snap", meta.snapshot_id);
    let (path, part) = (dir.join(&file), dir.join(format!("{}.part", meta.snapshot_id)));
    received.seek(SeekFrom::Start(0)).map_err(io_error)?;
    {
        let mut copy = std::fs::File::create(&part).map_err(io_error)?;
        std::io::copy(received, &mut copy).map_err(io_error)?;
        copy.sync_all().map_err(io_error)?;
    }
    std::fs::rename(&part, &path).map_err(io_error)?;
    sync_dir(dir);
    let tx = sm.db().begin_write()?;
    snapshot::read(&tx, &mut BufReader::new(std::fs::File::open(&path).map_err(io_error)?))?;
    state::put(&tx, state::APPLIED, &meta.last_log_id)?;
    state::put(&tx, state::MEMBERSHIP, &meta.last_membership)?;
    state::put(&tx, state::SNAPSHOT, &Current { meta: meta.clone(), file: file.clone() })?;
    tx.commit()?;
    remove_others(dir, &file);
    Ok(())
}

fn snapshot_error(e: Error) -> StorageError {
    StorageIOError::write_snapshot(None, &e).into()
}

impl RaftSnapshotBuilder<TypeConfig> for Machine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (sm, dir) = (self.sm.clone(), self.dir.clone());
        let (meta, path) = blocking(move || build(&sm, &dir)).await.map_err(snapshot_error)?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| snapshot_error(io_error(e)))?;
        tracing::info!(snapshot = %meta.snapshot_id, "snapshot built");
        Ok(Snapshot { meta, snapshot: Box::new(file) })
    }
}

impl RaftStateMachine<TypeConfig> for Machine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        let sm = self.sm.clone();
        blocking(move || sm.applied_state()).await.map_err(|e| StorageIOError::read_state_machine(&e).into())
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let (sm, entries) = (self.sm.clone(), entries.into_iter().collect::<Vec<_>>());
        blocking(move || sm.apply_entries(entries)).await.map_err(|e| StorageIOError::write_state_machine(&e).into())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let path = self.dir.join(format!("incoming-{:x}.part", crate::clock::now_millis()));
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .map_err(|e| snapshot_error(io_error(e)))?;
        *self.receiving.lock().unwrap_or_else(|p| p.into_inner()) = Some(path);
        Ok(Box::new(file))
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, mut snapshot: Box<tokio::fs::File>) -> Result<(), StorageError> {
        use tokio::io::AsyncWriteExt as _;
        snapshot.flush().await.map_err(|e| snapshot_error(io_error(e)))?;
        let mut received = snapshot.into_std().await;
        let partial = self.receiving.lock().unwrap_or_else(|p| p.into_inner()).take();
        let (sm, dir, meta) = (self.sm.clone(), self.dir.clone(), meta.clone());
        let id = meta.snapshot_id.clone();
        blocking(move || {
            let installed = install(&sm, &dir, &mut received, &meta);
            if let Some(partial) = partial {
                let _ = std::fs::remove_file(partial);
            }
            installed
        })
        .await
        .map_err(snapshot_error)?;
        tracing::info!(snapshot = %id, "snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let sm = self.sm.clone();
        let current: Option<Current> = blocking(move || state::get(&sm.db().begin_read()?, state::SNAPSHOT))
            .await
            .map_err(|e| StorageError::from(StorageIOError::read_snapshot(None, &e)))?;
        let Some(current) = current else { return Ok(None) };
        match tokio::fs::File::open(self.dir.join(&current.file)).await {
            Ok(file) => Ok(Some(Snapshot { meta: current.meta, snapshot: Box::new(file) })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageIOError::read_snapshot(None, &io_error(e)).into()),
        }
    }
}
