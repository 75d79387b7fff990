//! Berth's metadata: every repository, blob link, manifest, tag, account and trust file.
//!
//! There is exactly one write path: [`Meta::apply`] proposes a [`Command`] to the
//! replication log ([`raft`], over `openraft`); once a majority of the replicas hold it,
//! every replica's deterministic state machine applies it in one redb transaction. A
//! command carries everything it needs (timestamps included), so the same log gives the
//! same state on every replica. A single replica is a one-member cluster. Reads
//! ([`Meta::read`]) go straight to a local redb snapshot; [`Meta::read_latest`] first
//! waits until this replica has applied everything committed when the read began.
//!
//! This is the only crate that opens the metadata database.
//!
//! # Layout
//! - [`clock`]: the one clock commands take their timestamps from.
//! - [`tables`]: every table and its key encoding.
//! - [`records`]: stored value types, versioned.
//! - [`command`]: the commands, one file per aggregate, each with its `apply`.
//! - [`state_machine`]: runs commands in transactions.
//! - [`raft`]: the replication log, snapshots, and what replicas say to each other.
//! - [`cluster`]: writes through the leader, linearizable reads, membership, status.
//! - [`recovery`]: offline repairs: emergency repair, restore from an export.
//! - [`origin`]: who proposes a command, from where (request context the log keeps).
//! - [`audit`]: the audit log and webhook deliveries, derived from applied commands.
//! - [`query`]: the read side.
//! - [`dump`]: every table as bytes (equal dumps, equal stores).
//! - [`settings`]: every registry-wide setting, its name and value type.
//! - [`seal`]: the master key that seals secrets kept in the metadata.

pub mod audit;
mod barrier;
pub mod clock;
pub mod cluster;
pub mod command;
pub mod dump;
pub mod origin;
pub mod query;
pub mod raft;
pub mod records;
pub mod recovery;
pub mod seal;
pub mod settings;
pub mod state_machine;
pub mod tables;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use clock::{now, now_millis};
pub use cluster::{ClusterStatus, Gauges, MemberStatus, Options, Start, Timing};
pub use command::{Applied, Command, Rejection};
pub use query::Page;
pub use records::{
    AccessToken, Account, AccountKind, CacheNamespace, Delivery, DeliveryState, Event, GcLock, GcRun, LdapSyncReport, MirrorDirection,
    MirrorLogEntry, MirrorPolicy, PendingMirror, PromotionOutcome, PromotionPolicy, PruningPolicy, PruningRun, Repository, SignedTarget,
    TagRule, Team, TeamSync, TrustKey, Webhook,
};
pub use settings::{Setting, SigningPolicy};
pub use state_machine::StateMachine;

/// Metadata failures: the store itself failed, or the cluster cannot take writes.
/// Refusals are [`Rejection`]s, not errors.
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
    /// The blocking task running a transaction was lost (the runtime is shutting down),
    /// or the replication machinery stopped.
    #[error("metadata task failed: {0}")]
    Task(String),
    /// A majority of the replicas cannot be reached: writes (and reads that must see the
    /// latest writes) are refused until it can.
    #[error("{0}")]
    NoQuorum(String),
    /// A replica did not answer in a way that says whether a write was applied.
    #[error("{0}")]
    Unavailable(String),
    /// A cluster operation was refused (a membership change that would lose the quorum,
    /// a message from another cluster, …).
    #[error("{0}")]
    Refused(String),
}

impl Error {
    /// The message of a failure that is the cluster's state, not the request's (no
    /// quorum, a leader that did not answer): the client hears 503 and may retry. Every
    /// other error is given back.
    pub fn unavailable(self) -> Result<String, Error> {
        match self {
            Error::NoQuorum(why) | Error::Unavailable(why) => Ok(why),
            other => Err(other),
        }
    }
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
    sm: Arc<StateMachine>,
    raft: raft::Raft,
    /// This replica's id.
    id: u64,
    /// The cluster's id.
    cluster: String,
    /// How the others reach this replica.
    address: String,
    transport: Option<Arc<dyn raft::network::Transport>>,
    write_timeout: Duration,
    barrier: barrier::Barrier,
    /// The log's flusher thread, stopped and joined on shutdown (it holds the database).
    flusher: Mutex<Option<(std::thread::JoinHandle<()>, std::sync::mpsc::Sender<raft::log_store::Flush>)>>,
    /// Set once the replica was removed from its cluster.
    retired: std::sync::atomic::AtomicBool,
}

impl Meta {
    /// Opens (creating if needed) the metadata database at `path` as a one-member cluster
    /// that talks to no other replica: tests and tools.
    pub async fn open(path: &Path) -> Result<Meta, Error> {
        Meta::open_with(path, Options::standalone()).await
    }

    /// Runs a read query on a consistent snapshot of this replica's data. Queries run on
    /// the caller's thread: they are B-tree lookups and bounded scans over pages redb
    /// mostly holds in memory (microseconds), far cheaper than handing them to another
    /// thread and back.
    pub async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&query::Reader) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        query(&self.inner.sm.reader()?)
    }

    /// Like [`Meta::read`], after this replica has applied every command committed in the
    /// cluster when the call began: a read that follows an acknowledged write, on any
    /// replica, sees it. Costs one round trip to a quorum (shared by the reads waiting at
    /// the same time), nothing on a one-member cluster.
    pub async fn read_latest<T: Send + 'static>(
        &self,
        query: impl FnOnce(&query::Reader) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.catch_up().await?;
        self.read(query).await
    }

    /// A local read when `settled` accepts its answer, else [`Meta::read_latest`]: for
    /// facts that, once true here, stay true until an explicit delete (a blob link, a
    /// manifest by digest). A pull of what this replica already has needs no round trip,
    /// and goes on without a quorum; one of what it has not seen yet waits for the
    /// cluster.
    pub async fn read_settled<T: Send + 'static>(
        &self,
        query: impl Fn(&query::Reader) -> Result<T, Error> + Send + Clone + 'static,
        settled: impl Fn(&T) -> bool,
    ) -> Result<T, Error> {
        let local = self.read(query.clone()).await?;
        if settled(&local) {
            return Ok(local);
        }
        self.read_latest(query).await
    }

    /// Whether the store answers a read (for health checks).
    pub async fn check(&self) -> Result<(), Error> {
        self.read(|r| r.last_applied().map(|_| ())).await
    }
}
