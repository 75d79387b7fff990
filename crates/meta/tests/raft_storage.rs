//! openraft's own storage test suite, against Berth's log store and state machine over
//! a real redb file: the contract openraft relies on (durable votes, appends completed
//! only once on disk, truncation, purging, applying, snapshots built and installed).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use berth_meta::StateMachine;
use berth_meta::raft::log_store::LogStore;
use berth_meta::raft::machine::Machine;
use berth_meta::raft::{StorageError, TypeConfig};

struct Builder;

impl openraft::testing::StoreBuilder<TypeConfig, LogStore, Machine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, Machine), StorageError> {
        let dir = tempfile::tempdir().unwrap();
        let sm = Arc::new(StateMachine::open(&dir.path().join("meta.redb")).unwrap());
        let (log, _flusher, _stop) = LogStore::new(sm.clone()).unwrap();
        let machine = Machine::new(sm, dir.path().join("snapshots")).unwrap();
        Ok((dir, log, machine))
    }
}

/// Plain `#[test]`: the suite runs its own runtime.
#[test]
fn openraft_storage_suite() {
    if let Err(e) = openraft::testing::Suite::test_all(Builder) {
        panic!("openraft's storage suite failed: {e}");
    }
}
