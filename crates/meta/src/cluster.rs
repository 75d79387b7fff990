//! The metadata as a cluster: opening a replica, writes through the leader, reads that
//! see every acknowledged write, membership changes, and the cluster's status.
//!
//! Any replica takes any call. A write on a replica that is not the leader is forwarded
//! to the leader, and answered once this replica has applied it too (so the caller's
//! next read here sees it). Without a quorum a write fails after `write_timeout` with
//! [`Error::NoQuorum`]; reads of local data go on.

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
    /// A leader that dies is replaced within about two seconds; a loaded machine missing
    /// a few heartbeats does not start elections.
    fn default() -> Timing {
        Timing {
            heartbeat: Duration::from_millis(150),
            election_min: Duration::from_millis(800),
            election_max: Duration::from_millis(1600),
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

    /// Whether this replica is with a quorum: it leads and a majority answered within
    /// two election timeouts, or it follows a leader it has heard from.
    pub fn has_quorum(&self) -> bool {
        if self.is_retired() {
            return false;
        }
        let m = self.metrics();
        let window = self.inner.raft.config().election_timeout_max * 2;
        match m.state {
            ServerState::Leader => self.sole_voter() || m.millis_since_quorum_ack.is_some_and(|ms| ms < window),
            ServerState::Follower | ServerState::Learner => m.current_leader.is_some(),
            ServerState::Candidate | ServerState::Shutdown => false,
        }
    }

    /// The replication figures.
    pub fn gauges(&self) -> Gauges {
        let m = self.metrics();
        Gauges {
            term: m.current_term,
            leader: m.state == ServerState::Leader,
            last_log_index: m.last_log_index.unwrap_or(0),
            applied_index: m.last_applied.map_or(0, |l| l.index),
            voters: m.membership_config.voter_ids().count() as u64,
            learners: m.membership_config.membership().learner_ids().count() as u64,
            quorum: self.has_quorum(),
        }
    }

    /// Why writes fail without a quorum, for the client.
    fn no_quorum(&self) -> Error {
        if self.is_retired() {
            return Error::Refused(format!("replica {} was removed from its cluster", self.replica_id()));
        }
        let m = self.metrics();
        let voters = m.membership_config.voter_ids().count();
        Error::NoQuorum(format!(
            "no quorum: replica {} cannot reach a majority ({} of {}) of the cluster's replicas; writes are refused until it can",
            self.replica_id(),
            voters / 2 + 1,
            voters
        ))
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

    /// Applies one command: the only way metadata changes. Answers once a majority of
    /// the replicas hold it durably and this replica has applied it.
    pub async fn apply(&self, command: Command) -> Result<Applied, Error> {
        let deadline = Instant::now() + self.inner.write_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() || self.is_retired() {
                return Err(self.no_quorum());
            }
            let (reply, forwarded) = match self.leader() {
                Leader::Me => (self.lead_write(command.clone(), remaining).await, false),
                Leader::At(address) => {
                    let body = encode(&Proposal(command.clone()))?;
                    match self.send(&address, Endpoint::Write, body, remaining).await {
                        Ok(bytes) => (decode(&bytes)?, true),
                        Err(e) if !e.sent => (WriteReply::NotLeader(None), true),
                        Err(e) => {
                            return Err(Error::Unavailable(format!(
                                "the leader did not answer ({e}); the change may or may not have been made"
                            )));
                        }
                    }
                }
                Leader::Unknown => (WriteReply::NotLeader(None), false),
            };
            match reply {
                WriteReply::Written { outcome, index } => {
                    if forwarded {
                        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
                        // The write is committed; only this replica's copy may lag.
                        if self.wait_applied(index, remaining).await.is_err() {
                            tracing::warn!(index, "a forwarded write was answered before this replica applied it");
                        }
                    }
                    return match outcome {
                        Outcome::Applied(applied) => Ok(applied),
                        Outcome::Failed(why) => Err(Error::Task(format!("applying the change failed: {why}"))),
                    };
                }
                WriteReply::NotLeader(_) => tokio::time::sleep(RETRY.min(remaining)).await,
                WriteReply::NoQuorum(why) => return Err(Error::NoQuorum(why)),
                WriteReply::Failed(why) => return Err(Error::Task(why)),
            }
        }
    }

    /// Proposes `command` as the leader.
    async fn lead_write(&self, command: Command, timeout: Duration) -> WriteReply {
        match tokio::time::timeout(timeout, self.inner.raft.client_write(Proposal(command))).await {
            Ok(Ok(response)) => WriteReply::Written { outcome: response.data, index: response.log_id.index },
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => WriteReply::NotLeader(f.leader_node.map(|n| n.addr)),
            Ok(Err(e)) => WriteReply::Failed(format!("replication: {e}")),
            Err(_) => match self.no_quorum() {
                Error::NoQuorum(why) => WriteReply::NoQuorum(why),
                other => WriteReply::Failed(other.to_string()),
            },
        }
    }

    /// Waits until this replica has applied the entry at `index`.
    async fn wait_applied(&self, index: u64, timeout: Duration) -> Result<(), Error> {
        self.inner
            .raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "catch up")
            .await
            .map(|_| ())
            .map_err(|_| Error::NoQuorum(format!("replica {} has not caught up with the leader", self.replica_id())))
    }

    /// Waits until this replica has applied everything committed when the call began.
    pub(crate) async fn catch_up(&self) -> Result<(), Error> {
        if self.sole_voter() && !self.is_retired() {
            return Ok(());
        }
        let index = self.inner.barrier.run(|| self.read_index()).await?;
        self.wait_applied(index, self.inner.write_timeout).await
    }

    /// The leader's commit index, confirmed by a quorum.
    async fn read_index(&self) -> Result<u64, Error> {
        let deadline = Instant::now() + self.inner.write_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() || self.is_retired() {
                return Err(self.no_quorum());
            }
            let reply = match self.leader() {
                Leader::Me => self.lead_read_index(remaining).await,
                Leader::At(address) => match self.send(&address, Endpoint::ReadIndex, Vec::new(), remaining).await {
                    Ok(bytes) => decode(&bytes)?,
                    Err(_) => ReadIndexReply::NotLeader(None),
                },
                Leader::Unknown => ReadIndexReply::NotLeader(None),
            };
            match reply {
                ReadIndexReply::Index(index) => return Ok(index),
                ReadIndexReply::NotLeader(_) => tokio::time::sleep(RETRY.min(remaining)).await,
                ReadIndexReply::NoQuorum(why) => return Err(Error::NoQuorum(why)),
            }
        }
    }

    async fn lead_read_index(&self, timeout: Duration) -> ReadIndexReply {
        match tokio::time::timeout(timeout, self.inner.raft.get_read_log_id()).await {
            Ok(Ok((read, _))) => ReadIndexReply::Index(read.map_or(0, |l| l.index)),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                ReadIndexReply::NotLeader(f.leader_node.map(|n| n.addr))
            }
            Ok(Err(_)) | Err(_) => match self.no_quorum() {
                Error::NoQuorum(why) => ReadIndexReply::NoQuorum(why),
                other => ReadIndexReply::NoQuorum(other.to_string()),
            },
        }
    }

    /// Answers a message from another replica of cluster `cluster`.
    pub async fn handle(&self, cluster: &str, endpoint: Endpoint, body: &[u8]) -> Result<Vec<u8>, Error> {
        if cluster != self.inner.cluster {
            return Err(Error::Refused(format!("a message for cluster {cluster}; this replica belongs to {}", self.inner.cluster)));
        }
        let raft = &self.inner.raft;
        match endpoint {
            Endpoint::AppendEntries => encode(&raft.append_entries(decode(body)?).await),
            Endpoint::Vote => encode(&raft.vote(decode(body)?).await),
            Endpoint::InstallSnapshot => encode(&raft.install_snapshot(decode(body)?).await),
            Endpoint::Write => {
                let Proposal(command) = decode(body)?;
                encode(&self.lead_write(command, self.inner.write_timeout).await)
            }
            Endpoint::ReadIndex => encode(&self.lead_read_index(self.inner.write_timeout).await),
            Endpoint::Status => encode(&self.own_status()),
            // Any replica takes these, and passes them to the leader.
            Endpoint::AddReplica | Endpoint::RemoveReplica => {
                let reply = match self.to_leader(endpoint, decode(body)?).await {
                    Ok(()) => MembershipReply::Done,
                    Err(e) => MembershipReply::Refused(e.to_string()),
                };
                encode(&reply)
            }
            Endpoint::Retire => {
                self.retire();
                encode(&())
            }
        }
    }

    /// This replica's view of itself.
    fn own_status(&self) -> MemberStatus {
        let m = self.metrics();
        let voter = m.membership_config.voter_ids().any(|id| id == self.inner.id);
        MemberStatus {
            id: self.replica_id(),
            address: self.inner.address.clone(),
            voter,
            leader: m.state == ServerState::Leader,
            reachable: true,
            state: format!("{:?}", m.state).to_lowercase(),
            term: m.current_term,
            last_log_index: m.last_log_index,
            applied_index: m.last_applied.map(|l| l.index),
            lag: None,
            quorum: self.has_quorum(),
            error: self.is_retired().then(|| "removed from the cluster".to_owned()),
        }
    }

    /// The cluster: every member's own view (asked of it), and the lag behind the leader.
    pub async fn status(&self) -> ClusterStatus {
        let m = self.metrics();
        let members: Vec<(u64, BasicNode)> = m.membership_config.nodes().map(|(id, node)| (*id, node.clone())).collect();
        let voters: BTreeSet<u64> = m.membership_config.voter_ids().collect();
        let voters = &voters;
        let asks = members.iter().map(|(id, node)| async move {
            if *id == self.inner.id {
                return self.own_status();
            }
            let unreachable = |why: String| MemberStatus {
                id: replica::format_id(*id),
                address: node.addr.clone(),
                voter: voters.contains(id),
                leader: false,
                reachable: false,
                state: "unreachable".into(),
                term: 0,
                last_log_index: None,
                applied_index: None,
                lag: None,
                quorum: false,
                error: Some(why),
            };
            match self.send(&node.addr, Endpoint::Status, Vec::new(), STATUS_TIMEOUT).await {
                Ok(bytes) => decode::<MemberStatus>(&bytes).unwrap_or_else(|e| unreachable(e.to_string())),
                Err(e) => unreachable(e.message),
            }
        });
        let mut members = futures_util::future::join_all(asks).await;
        let leader_log = members.iter().find(|s| s.leader).and_then(|s| s.last_log_index);
        for member in &mut members {
            member.lag = match (leader_log, member.applied_index) {
                (Some(log), Some(applied)) => Some(log.saturating_sub(applied)),
                _ => None,
            };
        }
        members.sort_by(|a, b| a.id.cmp(&b.id));
        ClusterStatus {
            replica: self.replica_id(),
            cluster: self.inner.cluster.clone(),
            leader: m.current_leader.map(replica::format_id),
            quorum: self.has_quorum(),
            members,
        }
    }

    /// Sends a membership change to the leader, wherever it is.
    async fn to_leader(&self, endpoint: Endpoint, request: MembershipRequest) -> Result<(), Error> {
        let deadline = Instant::now() + MEMBERSHIP_TIMEOUT;
        let body = encode(&request)?;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.no_quorum());
            }
            let reply = match self.leader() {
                Leader::Me if endpoint == Endpoint::AddReplica => self.lead_add(decode(&body)?).await,
                Leader::Me => self.lead_remove(decode(&body)?).await,
                Leader::At(address) => match self.send(&address, endpoint, body.clone(), remaining).await {
                    Ok(bytes) => decode(&bytes)?,
                    Err(e) if !e.sent => MembershipReply::NotLeader(None),
                    Err(e) => return Err(Error::Unavailable(format!("the leader did not answer: {e}"))),
                },
                Leader::Unknown => MembershipReply::NotLeader(None),
            };
            match reply {
                MembershipReply::Done => return Ok(()),
                MembershipReply::NotLeader(_) => tokio::time::sleep(Duration::from_millis(200).min(remaining)).await,
                MembershipReply::Refused(why) => return Err(Error::Refused(why)),
            }
        }
    }

    /// Adds a replica: the leader sends it a snapshot and the log until it has caught
    /// up, as a learner, then makes it a voter.
    pub async fn add_replica(&self, replica: u64, address: &str) -> Result<(), Error> {
        self.to_leader(Endpoint::AddReplica, MembershipRequest { replica, address: address.to_owned() }).await
    }

    /// Removes a replica, refused when the replicas left would not have a healthy
    /// majority; then tells it to stop taking part.
    pub async fn remove_replica(&self, replica: u64) -> Result<(), Error> {
        self.to_leader(Endpoint::RemoveReplica, MembershipRequest { replica, address: String::new() }).await
    }

    fn not_leader(&self) -> Option<MembershipReply> {
        match self.leader() {
            Leader::Me => None,
            Leader::At(address) => Some(MembershipReply::NotLeader(Some(address))),
            Leader::Unknown => Some(MembershipReply::NotLeader(None)),
        }
    }

    async fn lead_add(&self, request: MembershipRequest) -> MembershipReply {
        if let Some(reply) = self.not_leader() {
            return reply;
        }
        let raft = &self.inner.raft;
        let node = BasicNode::new(&request.address);
        let name = replica::format_id(request.replica);
        tracing::info!(replica = %name, address = %request.address, "adding a replica: catching up as a learner");
        match tokio::time::timeout(MEMBERSHIP_TIMEOUT, raft.add_learner(request.replica, node, true)).await {
            Ok(Ok(_)) => {}
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                return MembershipReply::NotLeader(f.leader_node.map(|n| n.addr));
            }
            Ok(Err(e)) => return MembershipReply::Refused(format!("adding replica {name}: {e}")),
            Err(_) => return MembershipReply::Refused(format!("replica {name} did not catch up in time")),
        }
        let voters = BTreeSet::from([request.replica]);
        match tokio::time::timeout(MEMBERSHIP_TIMEOUT, raft.change_membership(ChangeMembers::AddVoterIds(voters), false)).await {
            Ok(Ok(_)) => {
                tracing::info!(replica = %name, "replica added as a voter");
                MembershipReply::Done
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => MembershipReply::NotLeader(f.leader_node.map(|n| n.addr)),
            Ok(Err(e)) => MembershipReply::Refused(format!("making replica {name} a voter: {e}")),
            Err(_) => MembershipReply::Refused(format!("making replica {name} a voter took too long")),
        }
    }

    async fn lead_remove(&self, request: MembershipRequest) -> MembershipReply {
        if let Some(reply) = self.not_leader() {
            return reply;
        }
        let name = replica::format_id(request.replica);
        let m = self.metrics();
        let Some(node) = m.membership_config.membership().get_node(&request.replica).cloned() else {
            return MembershipReply::Refused(format!("there is no replica {name} in the cluster"));
        };
        let voters: BTreeSet<u64> = m.membership_config.voter_ids().collect();
        let remaining: Vec<u64> = voters.iter().copied().filter(|id| *id != request.replica).collect();
        if remaining.is_empty() {
            return MembershipReply::Refused(format!("replica {name} is the last one; a cluster cannot be emptied"));
        }
        let status = self.status().await;
        let healthy = status.members.iter().filter(|s| s.reachable && remaining.iter().any(|id| replica::format_id(*id) == s.id)).count();
        let need = remaining.len() / 2 + 1;
        if healthy < need {
            return MembershipReply::Refused(format!(
                "removing replica {name} would leave {healthy} healthy of {} replicas, fewer than the {need} a quorum needs",
                remaining.len()
            ));
        }
        let change = if voters.contains(&request.replica) {
            ChangeMembers::RemoveVoters(BTreeSet::from([request.replica]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([request.replica]))
        };
        match tokio::time::timeout(MEMBERSHIP_TIMEOUT, self.inner.raft.change_membership(change, false)).await {
            Ok(Ok(_)) => {}
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                return MembershipReply::NotLeader(f.leader_node.map(|n| n.addr));
            }
            Ok(Err(e)) => return MembershipReply::Refused(format!("removing replica {name}: {e}")),
            Err(_) => return MembershipReply::Refused(format!("removing replica {name} took too long")),
        }
        tracing::info!(replica = %name, "replica removed");
        if request.replica == self.inner.id {
            self.retire();
        } else if let Err(e) = self.send(&node.addr, Endpoint::Retire, Vec::new(), STATUS_TIMEOUT).await {
            tracing::warn!(replica = %name, error = %e, "the removed replica was not told; stop it by hand");
        }
        MembershipReply::Done
    }

    /// Stops taking part: removed from the cluster, this replica must not vote or lead
    /// again (its data is left as it was; it must be wiped before it joins again).
    fn retire(&self) {
        if self.inner.retired.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::warn!(replica = %self.replica_id(), "this replica was removed from its cluster; it no longer takes part");
        let raft = self.inner.raft.clone();
        tokio::spawn(async move {
            // Let the answer to the leader go out first.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let _ = raft.shutdown().await;
        });
    }

    /// Asks the cluster, through the replica at `existing`, to add this one: it returns
    /// once this replica has caught up and votes.
    pub async fn ask_to_join(&self, existing: &str) -> Result<(), Error> {
        let request = MembershipRequest { replica: self.inner.id, address: self.inner.address.clone() };
        let bytes = self
            .send(existing, Endpoint::AddReplica, encode(&request)?, MEMBERSHIP_TIMEOUT)
            .await
            .map_err(|e| Error::Unavailable(format!("asking {existing} to add this replica: {e}")))?;
        match decode::<MembershipReply>(&bytes)? {
            MembershipReply::Done => Ok(()),
            MembershipReply::NotLeader(_) => Err(Error::Unavailable(format!("{existing} knows no leader; try again"))),
            MembershipReply::Refused(why) => Err(Error::Refused(why)),
        }
    }

    /// Records that the join finished: from now on a plain start takes this replica's
    /// place in its cluster.
    pub async fn joined(&self) -> Result<(), Error> {
        let sm = self.inner.sm.clone();
        blocking(move || {
            let tx = sm.db().begin_write()?;
            state::put(&tx, state::ROLE, &Role::Member)?;
            Ok(tx.commit()?)
        })
        .await
    }

    /// Whether this replica is still to receive its first data from the leader.
    pub fn waiting_to_join(&self) -> bool {
        self.metrics().last_applied.is_none()
    }
}
