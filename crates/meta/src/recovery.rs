//! Exports, and the offline repairs of DTR's recovery ladder: a store restored from an
//! export, or a surviving replica made the only member of a new cluster. Both end in
//! the same place: a one-member cluster whose log starts after its data, so every
//! replica that joins later receives the data as a snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;

use openraft::{BasicNode, CommittedLeaderId, StoredMembership, Vote};
use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};

use crate::raft::log_store::read_entries;
use crate::raft::replica::{self, Role};
use crate::raft::{LogId, Membership, snapshot, state};
use crate::state_machine::StateMachine;
use crate::tables::RAFT_LOG;
use crate::{Error, Meta};

/// What an export holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportInfo {
    /// The replica it was taken on.
    pub replica: String,
    /// Its cluster.
    pub cluster: String,
    /// The index of the last command it includes.
    pub applied_index: u64,
    /// Every blob its repositories link to (digest, size): what a backup with blobs copies.
    pub blobs: Vec<(String, u64)>,
}

/// What a repair or a restore left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Founded {
    /// The replica (the only member).
    pub replica: String,
    /// The new cluster's id.
    pub cluster: String,
    /// The index its log continues from.
    pub applied_index: u64,
}

impl Meta {
    /// Writes every data table, as of one consistent moment, to `out` (blocking: call it
    /// on a blocking thread). The replica keeps serving meanwhile.
    pub fn export(&self, out: &mut impl Write) -> Result<ExportInfo, Error> {
        let tx = self.inner.sm.db().begin_read()?;
        let applied: Option<LogId> = state::get(&tx, state::APPLIED)?;
        snapshot::write(&tx, out)?;
        let blobs = crate::query::Reader::new(tx).linked_blobs()?.into_iter().collect();
        Ok(ExportInfo {
            replica: self.replica_id(),
            cluster: self.cluster_id().to_owned(),
            applied_index: applied.map_or(0, |l| l.index),
            blobs,
        })
    }
}

/// Makes the store a one-member cluster of `replica` at `address`, in a new cluster,
/// its log empty and starting after `index` (in term `term`), its data as it is. Also
/// how a new store founds its cluster, and how a store that predates replication
/// becomes one: whatever data it holds is never in the log, only in snapshots.
pub(crate) fn found_single(sm: &StateMachine, replica: u64, address: &str, term: u64, index: u64) -> Result<Founded, Error> {
    let cluster = replica::new_cluster_id();
    let log_id = LogId::new(CommittedLeaderId::new(term, replica), index);
    let membership: Membership = StoredMembership::new(
        Some(log_id),
        openraft::Membership::new(vec![BTreeSet::from([replica])], BTreeMap::from([(replica, BasicNode::new(address))])),
    );
    let tx = sm.db().begin_write()?;
    tx.open_table(RAFT_LOG)?.retain(|_, _| false)?;
    for key in [state::COMMITTED, state::SNAPSHOT] {
        state::remove(&tx, key)?;
    }
    state::put(&tx, state::VOTE, &Vote::new_committed(term, replica))?;
    state::put(&tx, state::PURGED, &log_id)?;
    state::put(&tx, state::APPLIED, &log_id)?;
    state::put(&tx, state::MEMBERSHIP, &membership)?;
    state::put(&tx, state::REPLICA, &replica)?;
    state::put(&tx, state::CLUSTER, &cluster)?;
    state::put(&tx, state::ROLE, &Role::Founder)?;
    tx.commit()?;
    Ok(Founded { replica: replica::format_id(replica), cluster, applied_index: index })
}

/// Emergency repair of the (stopped) replica whose store is at `path`: it applies every
/// entry its log holds, then becomes the only member of a new cluster, keeping its data.
/// `expected` must be its id, so the wrong data directory is not repaired by mistake.
/// The other replicas must be wiped and joined again: they belong to the old cluster,
/// whose messages this one no longer answers.
pub fn emergency_repair(path: &Path, expected: &str, address: &str) -> Result<Founded, Error> {
    let sm = StateMachine::open(path)?;
    let tx = sm.db().begin_read()?;
    let replica: Option<u64> = state::get(&tx, state::REPLICA)?;
    let Some(replica) = replica else {
        return Err(Error::Refused(format!("{} holds no replica", path.display())));
    };
    if replica::format_id(replica) != expected {
        return Err(Error::Refused(format!(
            "{} holds replica {}, not {expected}; repair the replica that survived, on its own data directory",
            path.display(),
            replica::format_id(replica)
        )));
    }
    let vote: Option<Vote<u64>> = state::get(&tx, state::VOTE)?;
    let applied: Option<LogId> = state::get(&tx, state::APPLIED)?;
    drop(tx);
    let after = applied.map_or(std::ops::Bound::Unbounded, |l| std::ops::Bound::Excluded(l.index));
    let pending = read_entries(sm.db(), (after, std::ops::Bound::Unbounded))?;
    let last = pending.last().map(|e| e.log_id).or(applied);
    if !pending.is_empty() {
        tracing::info!(entries = pending.len(), "applying the entries the log still held");
        sm.apply_entries(pending)?;
    }
    let term = vote.map_or(0, |v| v.leader_id().get_term()).max(last.map_or(0, |l| l.leader_id.term)) + 1;
    found_single(&sm, replica, address, term, last.map_or(0, |l| l.index))
}

/// Restores an export into a new store at `path` (which must not exist), as the only
/// member of a new cluster. The store is written under a temporary name and renamed
/// into place only when complete: a truncated or corrupt export leaves nothing behind.
pub fn restore(path: &Path, input: &mut impl Read, address: &str) -> Result<Founded, Error> {
    if path.exists() {
        return Err(Error::Refused(format!("{} exists: restore into an empty data directory", path.display())));
    }
    let partial = path.with_extension("restoring");
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let sm = StateMachine::open(&partial)?;
        let tx = sm.db().begin_write()?;
        snapshot::read(&tx, input)?;
        tx.commit()?;
        found_single(&sm, replica::new_id(), address, 1, 1)
    })();
    match result {
        Ok(founded) => {
            std::fs::rename(&partial, path).map_err(|e| Error::Task(format!("moving the restored store into place: {e}")))?;
            Ok(founded)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}
