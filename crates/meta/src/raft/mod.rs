//! Replication: every command goes through a Raft log ([`openraft`]) before the state
//! machine applies it, so every replica applies the same commands in the same order.
//! A single replica is a one-member cluster.
//!
//! - [`log_store`]: the log, in the metadata database, with group commit.
//! - [`machine`]: openraft's view of the state machine, and snapshots.
//! - [`snapshot`]: the data tables as one stream (snapshots, backups).
//! - [`network`]: the messages replicas exchange, over a transport the caller provides.
//! - [`replica`]: replica and cluster ids.
//! - [`state`]: the replication state kept next to the data.

pub mod log_store;
pub mod machine;
pub mod network;
pub mod replica;
pub mod snapshot;
pub(crate) mod state;

use serde::{Deserialize, Serialize};

use crate::command::{Applied, Command};
use crate::origin::Origin;

openraft::declare_raft_types!(
    /// The types Berth's log is made of.
    pub TypeConfig:
        D = Proposal,
        R = Outcome,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A Raft node over Berth's log and state machine.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log entry's id (its leader's term and node, and its index).
pub type LogId = openraft::LogId<u64>;
/// A membership, with the id of the entry that set it.
pub type Membership = openraft::StoredMembership<u64, openraft::BasicNode>;
/// A snapshot's description.
pub type SnapshotMeta = openraft::SnapshotMeta<u64, openraft::BasicNode>;
/// A storage failure, as openraft takes it.
pub type StorageError = openraft::StorageError<u64>;

/// A command proposed to the log, with its origin (who, from where, when: what the audit
/// log records). It travels and is stored in the command's own versioned wire form
/// ([`Command::encode`]) with an `origin` field beside it, never in serde's default shape
/// of the type. Entries written before origins existed have none.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The change.
    pub command: Command,
    /// Who asked for it.
    pub origin: Option<Origin>,
}

impl Serialize for Proposal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a, E> {
            #[serde(flatten)]
            envelope: E,
            #[serde(skip_serializing_if = "Option::is_none")]
            origin: Option<&'a Origin>,
        }
        Wire { envelope: self.command.envelope(), origin: self.origin.as_ref() }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Proposal {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = serde_json::Value::deserialize(deserializer)?;
        let origin = match value.as_object_mut().and_then(|o| o.remove("origin")) {
            Some(origin) => Some(serde_json::from_value(origin).map_err(serde::de::Error::custom)?),
            None => None,
        };
        let command = Command::from_envelope(value).map_err(serde::de::Error::custom)?;
        Ok(Proposal { command, origin })
    }
}

/// What applying an entry gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// The command's answer (entries that are not commands answer `Done`).
    Applied(Applied),
    /// The store failed while applying it (I/O, a corrupt record); nothing was written.
    Failed(String),
}
