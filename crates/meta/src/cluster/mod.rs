//! The metadata as a cluster: opening a replica, writes through the leader, reads that
//! see every acknowledged write, membership changes, and the cluster's status.
//!
//! Any replica takes any call. A write on a replica that is not the leader is forwarded
//! to the leader, and answered once this replica has applied it too (so the caller's
//! next read here sees it). Without a quorum a write fails after `write_timeout` with
//! [`Error::NoQuorum`]; reads of local data go on.
//!
//! - `writes.rs`, `reads.rs`: the write path and linearizable reads.
//! - `membership.rs`: adding, removing and retiring replicas.
//! - `status.rs`: the quorum, metrics, and the members' status.
//! - `handle.rs`: answering the other replicas.

mod handle;
mod membership;
mod reads;
mod status;
mod writes;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::command::{Applied, Command};
use crate::raft::log_store::{LogStore, blocking};
use crate::raft::machine::Machine;
use crate::raft::network::{
    Endpoint, MembershipReply, MembershipRequest, Network, ReadIndexReply, Reply, Transport, TransportError, WriteReply,
};
use crate::raft::replica::{self, Role};
use crate::raft::{Outcome, Proposal, Raft, state};
use crate::state_machine::StateMachine;
use crate::{Error, Inner, Meta};

/// Raft's clocks.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How often the leader tells the others it leads.
    pub heartbeat: Duration,
    /// A follower hearing nothing for a random time between these starts an election.
    pub election_min: Duration,
    /// See `election_min`.
    pub election_max: Duration,
}

impl Default for Timing {
    /// A follower waits out the leader's lease (`election_max` since its last heartbeat)
    /// and then a random election timeout, so a leader that dies is replaced within about
    /// two seconds; a loaded machine missing a few heartbeats does not start elections.
    fn default() -> Timing {
        Timing {
            heartbeat: Duration::from_millis(100),
            election_min: Duration::from_millis(600),
            election_max: Duration::from_millis(1200),
        }
    }
}

/// How a replica starts.
#[derive(Debug, Clone)]
pub enum Start {
    /// A new store founds a one-member cluster; an existing one takes its place in its
    /// cluster again.
    Found,
    /// A new store joins an existing cluster, as `replica`, once the leader adds it.
    Join {
        /// The id its certificate names.
        replica: u64,
        /// The cluster's id.
        cluster: String,
    },
}

/// How to open a replica.
pub struct Options {
    /// How to reach the other replicas; `None` for one that never talks to others.
    pub transport: Option<Arc<dyn Transport>>,
    /// How the others reach this replica (its base URL).
    pub address: String,
    /// Found or join.
    pub start: Start,
    /// How long a write (or a read that must see the latest writes) waits for a quorum.
    pub write_timeout: Duration,
    /// Raft's clocks.
    pub timing: Timing,
    /// Where snapshots are kept (default: `snapshots/` next to the database).
    pub snapshot_dir: Option<PathBuf>,
}

impl Options {
    /// A one-member cluster talking to no other replica.
    pub fn standalone() -> Options {
        Options {
            transport: None,
            address: "local".into(),
            start: Start::Found,
            write_timeout: Duration::from_secs(10),
            timing: Timing::default(),
            snapshot_dir: None,
        }
    }
}

/// One replica, as it sees itself (or as it could not be reached).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Its id (12 hex characters).
    pub id: String,
    /// Its address.
    pub address: String,
    /// Whether it votes (else a learner, catching up).
    pub voter: bool,
    /// Whether it leads.
    pub leader: bool,
    /// Whether it answered.
    pub reachable: bool,
    /// `leader`, `follower`, `candidate`, `learner`, or `unreachable`.
    pub state: String,
    /// Its current term.
    pub term: u64,
    /// The index of the last entry in its log.
    pub last_log_index: Option<u64>,
    /// The index of the last entry it applied.
    pub applied_index: Option<u64>,
    /// How many entries it is behind the leader's log (when both are known).
    pub lag: Option<u64>,
    /// Whether it believes a quorum is with it.
    pub quorum: bool,
    /// Why it could not be reached.
    pub error: Option<String>,
}

/// The cluster as one replica sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The replica answering.
    pub replica: String,
    /// The cluster's id.
    pub cluster: String,
    /// The leader's id, if known.
    pub leader: Option<String>,
    /// Whether the answering replica is with a quorum (writes can succeed).
    pub quorum: bool,
    /// Every member, in id order.
    pub members: Vec<MemberStatus>,
}

/// This replica's replication figures, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// The current term.
    pub term: u64,
    /// Whether it leads.
    pub leader: bool,
    /// The index of the last entry in its log.
    pub last_log_index: u64,
    /// The index of the last entry it applied.
    pub applied_index: u64,
    /// Voting members.
    pub voters: u64,
    /// Learners (replicas catching up to join).
    pub learners: u64,
    /// Whether it is with a quorum.
    pub quorum: bool,
}

/// What the replica answering a write or a read index found about the leader.
enum Leader {
    Me,
    At(String),
    Unknown,
}

/// A transport for a replica that talks to no other.
struct Alone;

impl Transport for Alone {
    fn send<'a>(&'a self, _: &'a str, _: &'a str, _: Endpoint, _: Vec<u8>, _: Duration) -> Reply<'a> {
        Box::pin(async { Err(TransportError { sent: false, message: "this replica talks to no other".into() }) })
    }
}

/// How long a membership change may take (adding a replica sends it a snapshot).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a replica's status may take to arrive.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait before asking again who leads.
const RETRY: Duration = Duration::from_millis(50);

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Task(format!("encoding a message: {e}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Refused(format!("malformed replica message: {e}")))
}

/// Reads (or records, on first open) who this replica is. A new store (or one from before
/// replication) founding a cluster becomes its only member, its log starting after
/// whatever data it holds.
fn identity(sm: &StateMachine, start: &Start, address: &str) -> Result<(u64, String, Role), Error> {
    let tx = sm.db().begin_write()?;
    let replica: Option<u64> = state::get_in(&tx, state::REPLICA)?;
    match (replica, start) {
        (Some(id), Start::Join { replica, .. }) if id != *replica => Err(Error::Refused(format!(
            "this data directory already belongs to replica {}; join with an empty data directory",
            replica::format_id(id)
        ))),
        (Some(id), _) => {
            let cluster: Option<String> = state::get_in(&tx, state::CLUSTER)?;
            let role: Option<Role> = state::get_in(&tx, state::ROLE)?;
            Ok((id, cluster.unwrap_or_default(), role.unwrap_or(Role::Founder)))
        }
        (None, Start::Found) => {
            drop(tx);
            let founded = crate::recovery::found_single(sm, replica::new_id(), address, 1, 1)?;
            let id = replica::parse_id(&founded.replica).ok_or_else(|| Error::Task("a malformed replica id".into()))?;
            Ok((id, founded.cluster, Role::Founder))
        }
        (None, Start::Join { replica, cluster }) => {
            state::put(&tx, state::REPLICA, replica)?;
            state::put(&tx, state::CLUSTER, cluster)?;
            state::put(&tx, state::ROLE, &Role::Joining)?;
            tx.commit()?;
            Ok((*replica, cluster.clone(), Role::Joining))
        }
    }
}

fn raft_config(timing: Timing) -> Result<openraft::Config, Error> {
    let ms = |d: Duration| d.as_millis() as u64;
    openraft::Config {
        cluster_name: "berth".into(),
        heartbeat_interval: ms(timing.heartbeat),
        election_timeout_min: ms(timing.election_min),
        election_timeout_max: ms(timing.election_max),
        // A chunk of a snapshot over a loaded link: generous.
        install_snapshot_timeout: 30_000,
        snapshot_max_chunk_size: 4 << 20,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(10_000),
        max_in_snapshot_log_to_keep: 1_000,
        max_payload_entries: 512,
        ..openraft::Config::default()
    }
    .validate()
    .map_err(|e| Error::Task(format!("replication settings: {e}")))
}

fn fatal(e: impl std::fmt::Display) -> Error {
    Error::Task(format!("replication stopped: {e}"))
}
impl Meta {
    /// Opens the replica whose store is at `path`.
    pub async fn open_with(path: &Path, options: Options) -> Result<Meta, Error> {
        let sm = Arc::new(StateMachine::open(path)?);
        let (id, cluster, role) = identity(&sm, &options.start, &options.address)?;
        let dir = match &options.snapshot_dir {
            Some(dir) => dir.clone(),
            None => path.parent().unwrap_or(Path::new(".")).join("snapshots"),
        };
        let (log, flusher, stop_flusher) = LogStore::new(sm.clone())?;
        let machine = Machine::new(sm.clone(), dir)?;
        let transport = options.transport.clone().unwrap_or_else(|| Arc::new(Alone));
        let network = Network { transport, cluster: cluster.clone() };
        let config = Arc::new(raft_config(options.timing)?);
        let raft = Raft::new(id, config, network, log, machine).await.map_err(fatal)?;
        let meta = Meta {
            inner: Arc::new(Inner {
                sm,
                raft,
                id,
                cluster,
                address: options.address.clone(),
                transport: options.transport,
                write_timeout: options.write_timeout,
                barrier: Default::default(),
                flusher: std::sync::Mutex::new(Some((flusher, stop_flusher))),
                retired: Default::default(),
            }),
        };
        let raft = &meta.inner.raft;
        if role == Role::Joining && matches!(options.start, Start::Found) && !raft.is_initialized().await.map_err(fatal)? {
            meta.shutdown().await;
            return Err(Error::Refused(
                "this replica was joining a cluster and never received its data: run `berth join` again, \
                 or start over with an empty data directory"
                    .into(),
            ));
        }
        // The only voter need not wait out an election timeout to lead again.
        if meta.sole_voter() {
            let _ = raft.trigger().elect().await;
            // Leading, and everything in the log applied (its own first entry included).
            let ready = |m: &openraft::RaftMetrics<u64, BasicNode>| {
                m.state == ServerState::Leader && m.last_applied.map(|l| l.index) >= m.last_log_index && m.current_leader == Some(id)
            };
            let _ = raft.wait(Some(Duration::from_secs(10))).metrics(ready, "one-member cluster leads").await;
        }
        tracing::info!(replica = %replica::format_id(id), cluster = %meta.inner.cluster, "metadata replica open");
        Ok(meta)
    }

    /// Stops taking part in the cluster; once the last handle is dropped, the store is
    /// closed (and may be opened again).
    pub async fn shutdown(&self) {
        let _ = self.inner.raft.shutdown().await;
        let flusher = self.inner.flusher.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((thread, stop)) = flusher {
            let _ = stop.send(crate::raft::log_store::Flush::Stop);
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        // openraft's tasks end soon after its core; they hold the store until then.
        for _ in 0..500 {
            if Arc::strong_count(&self.inner.sm) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// This replica's id (12 hex characters).
    pub fn replica_id(&self) -> String {
        replica::format_id(self.inner.id)
    }

    /// The cluster's id.
    pub fn cluster_id(&self) -> &str {
        &self.inner.cluster
    }

    /// How the other replicas reach this one.
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    fn metrics(&self) -> openraft::RaftMetrics<u64, BasicNode> {
        self.inner.raft.metrics().borrow().clone()
    }

    /// Whether this replica is the only voter and leads (then it needs nobody to agree).
    fn sole_voter(&self) -> bool {
        let m = self.metrics();
        let voters: Vec<u64> = m.membership_config.voter_ids().collect();
        voters == [self.inner.id]
    }

    /// Whether this replica leads (background jobs run on the leader only).
    pub fn is_leader(&self) -> bool {
        !self.is_retired() && self.metrics().state == ServerState::Leader
    }

    fn is_retired(&self) -> bool {
        self.inner.retired.load(Ordering::Relaxed)
    }

    fn leader(&self) -> Leader {
        let m = self.metrics();
        match m.current_leader {
            Some(id) if id == self.inner.id && m.state == ServerState::Leader => Leader::Me,
            Some(id) => match m.membership_config.membership().get_node(&id) {
                Some(node) => Leader::At(node.addr.clone()),
                None => Leader::Unknown,
            },
            None => Leader::Unknown,
        }
    }

    async fn send(&self, address: &str, endpoint: Endpoint, body: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, TransportError> {
        match &self.inner.transport {
            Some(transport) => transport.send(address, &self.inner.cluster, endpoint, body, timeout).await,
            None => Err(TransportError { sent: false, message: "this replica talks to no other".into() }),
        }
    }
}
