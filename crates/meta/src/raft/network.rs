//! What replicas say to each other, and the transport they say it over.
//!
//! This crate knows the messages (JSON bodies, one [`Endpoint`] each); the caller
//! provides a [`Transport`] that delivers a body to another replica's address and brings
//! back the answer (Berth's is HTTPS with mutual TLS, on the registry's port). Every
//! message names the cluster it belongs to, and a replica answers only its own
//! cluster's, so a replica left behind by an emergency repair or a restore is not heard.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Outcome, TypeConfig};

/// The messages, each at its own path (`/internal/raft/<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Raft: replicate entries (and heartbeats).
    AppendEntries,
    /// Raft: ask for a vote.
    Vote,
    /// Raft: one chunk of a snapshot.
    InstallSnapshot,
    /// A command for the leader, from a replica that is not.
    Write,
    /// The leader's commit index, confirmed by a quorum (a linearizable read point).
    ReadIndex,
    /// A replica's own view of itself.
    Status,
    /// Add a replica (to the leader): learner, caught up, then voter.
    AddReplica,
    /// Remove a replica (to the leader).
    RemoveReplica,
    /// Tell a removed replica to stop taking part.
    Retire,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 9] = [
        Endpoint::AppendEntries,
        Endpoint::Vote,
        Endpoint::InstallSnapshot,
        Endpoint::Write,
        Endpoint::ReadIndex,
        Endpoint::Status,
        Endpoint::AddReplica,
        Endpoint::RemoveReplica,
        Endpoint::Retire,
    ];

    /// Its name in the path.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::AppendEntries => "append",
            Endpoint::Vote => "vote",
            Endpoint::InstallSnapshot => "snapshot",
            Endpoint::Write => "write",
            Endpoint::ReadIndex => "read-index",
            Endpoint::Status => "status",
            Endpoint::AddReplica => "add-replica",
            Endpoint::RemoveReplica => "remove-replica",
            Endpoint::Retire => "retire",
        }
    }

    /// The endpoint named `name`.
    pub fn parse(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// A message that did not get an answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    /// Whether the message may have reached the other replica (so a write forwarded may
    /// have been applied there); `false` when the connection could not even be made.
    pub sent: bool,
    /// What went wrong.
    pub message: String,
}

/// A future answered by a [`Transport`].
pub type Reply<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, TransportError>> + Send + 'a>>;

/// Delivers a message to another replica and brings back its answer.
pub trait Transport: Send + Sync + 'static {
    /// Sends `body` to `endpoint` of the replica at `address` (its base URL), on behalf
    /// of cluster `cluster`; gives up after `timeout`.
    fn send<'a>(&'a self, address: &'a str, cluster: &'a str, endpoint: Endpoint, body: Vec<u8>, timeout: Duration) -> Reply<'a>;
}

/// The leader's answer to a forwarded command.
#[derive(Debug, Serialize, Deserialize)]
pub enum WriteReply {
    /// Applied at this log index.
    Written {
        /// What applying it gave.
        outcome: Outcome,
        /// Its index: the forwarding replica answers once it has applied this far.
        index: u64,
    },
    /// The replica is not (or no longer) the leader; the leader it knows of, if any.
    NotLeader(Option<String>),
    /// The leader could not reach a quorum in time.
    NoQuorum(String),
    /// Something else failed.
    Failed(String),
}

/// The leader's answer to a read-index request.
#[derive(Debug, Serialize, Deserialize)]
pub enum ReadIndexReply {
    /// Reads that see everything applied up to here are linearizable.
    Index(u64),
    /// Not the leader; the leader it knows of, if any.
    NotLeader(Option<String>),
    /// The leader could not confirm it still leads.
    NoQuorum(String),
}

/// A membership change asked of the leader.
#[derive(Debug, Serialize, Deserialize)]
pub struct MembershipRequest {
    /// The replica.
    pub replica: u64,
    /// Its address (adding only).
    pub address: String,
}

/// The leader's answer to a membership change.
#[derive(Debug, Serialize, Deserialize)]
pub enum MembershipReply {
    /// Done.
    Done,
    /// Not the leader; the leader it knows of, if any.
    NotLeader(Option<String>),
    /// Refused, and why.
    Refused(String),
}

/// Connects openraft to a [`Transport`].
#[derive(Clone)]
pub struct Network {
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) cluster: String,
}

/// One other replica, as openraft talks to it.
pub struct Peer {
    target: u64,
    address: String,
    network: Network,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Peer {
        Peer { target, address: node.addr.clone(), network: self.clone() }
    }
}

type RpcError<E> = RPCError<u64, BasicNode, RaftError<u64, E>>;

impl Peer {
    async fn call<Request: Serialize, Response: DeserializeOwned, E: std::error::Error + DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, RpcError<E>> {
        let body = serde_json::to_vec(request).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let network = &self.network;
        let bytes = network
            .transport
            .send(&self.address, &network.cluster, endpoint, body, timeout)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let reply: Result<Response, RaftError<u64, E>> =
            serde_json::from_slice(&bytes).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RpcError<openraft::error::Infallible>> {
        self.call(Endpoint::AppendEntries, &request, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        request: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RpcError<InstallSnapshotError>> {
        self.call(Endpoint::InstallSnapshot, &request, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        request: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RpcError<openraft::error::Infallible>> {
        self.call(Endpoint::Vote, &request, option.hard_ttl()).await
    }

    /// A replica that cannot be reached is tried again every quarter second: soon enough
    /// that one coming back (a restart, a healed partition) rejoins within a heartbeat or two.
    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(Duration::from_millis(250)))
    }
}
