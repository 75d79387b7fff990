//! Every data table's entries, in key order, as bytes: two stores hold the same metadata
//! exactly when their dumps are equal. What the replay tests compare.

use crate::Error;
use crate::query::Reader;

impl Reader {
    /// Every data table's name and entries, in a fixed table order and in key order (the
    /// snapshot stream of [`crate::raft::snapshot`]). The replication state, such as the
    /// applied log id, is not data: [`Reader::last_applied`] reads it.
    pub fn dump(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        crate::raft::snapshot::write(&self.tx, &mut out)?;
        Ok(out)
    }
}
