//! Emergency repair, offline: the replica that survived the loss of a majority becomes
//! the only member of a new cluster, keeping its data. The others must be wiped and
//! joined again.

use std::path::Path;

use super::ClusterError;

/// What the repair left: the replica, the new cluster's id, the index the log continues from.
pub use berth_meta::recovery::Founded;

/// Repairs the stopped replica `replica` whose data directory is `data_dir`; the others
/// will reach it at `address`.
pub fn emergency_repair(data_dir: &Path, replica: &str, address: &str) -> Result<Founded, ClusterError> {
    let store = data_dir.join("meta.redb");
    if !store.exists() {
        return Err(ClusterError::Refused(format!("{} holds no registry", data_dir.display())));
    }
    Ok(berth_meta::recovery::emergency_repair(&store, replica, address)?)
}
