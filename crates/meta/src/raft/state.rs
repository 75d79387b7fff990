//! The replication state kept in the `raft_state` table, each value as JSON: what
//! openraft asks its stores to keep (vote, committed, purged and applied log ids, the
//! membership, the current snapshot) and who this replica is.

use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::tables::RAFT_STATE;

/// The vote this replica last cast or holds.
pub const VOTE: &str = "vote";
/// The last log id known committed.
pub const COMMITTED: &str = "committed";
/// The last log id removed from the log (covered by a snapshot).
pub const PURGED: &str = "purged";
/// The last log id applied to the data.
pub const APPLIED: &str = "applied";
/// The membership the applied entries left.
pub const MEMBERSHIP: &str = "membership";
/// The current snapshot: its description and file name.
pub const SNAPSHOT: &str = "snapshot";
/// This replica's id.
pub const REPLICA: &str = "replica";
/// The cluster's id: replicas of other clusters (or of this one before an emergency
/// repair or a restore) are not listened to.
pub const CLUSTER: &str = "cluster";
/// How the replica was started: see [`crate::raft::replica::Role`].
pub const ROLE: &str = "role";

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt { table: "raft_state", detail: format!("{key}: {e}") })
}

/// Reads a value in a read transaction.
pub fn get<T: DeserializeOwned>(tx: &ReadTransaction, key: &str) -> Result<Option<T>, Error> {
    let table = tx.open_table(RAFT_STATE)?;
    let value = table.get(key)?;
    value.map(|v| decode(key, v.value())).transpose()
}

/// Reads a value in a write transaction.
pub fn get_in<T: DeserializeOwned>(tx: &WriteTransaction, key: &str) -> Result<Option<T>, Error> {
    let table = tx.open_table(RAFT_STATE)?;
    let value = table.get(key)?;
    value.map(|v| decode(key, v.value())).transpose()
}

/// Writes a value.
pub fn put<T: Serialize>(tx: &WriteTransaction, key: &str, value: &T) -> Result<(), Error> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::Task(format!("encoding {key}: {e}")))?;
    tx.open_table(RAFT_STATE)?.insert(key, bytes.as_slice())?;
    Ok(())
}

/// Removes a value.
pub fn remove(tx: &WriteTransaction, key: &str) -> Result<(), Error> {
    tx.open_table(RAFT_STATE)?.remove(key)?;
    Ok(())
}
