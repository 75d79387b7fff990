//! When manifests were last pulled: remembered in memory by the registry (a pull never
//! writes) and recorded in batches by a periodic job.

use berth_core::{Digest, RepositoryName};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::Applied;
use crate::Error;
use crate::records::{self, Manifest};
use crate::tables::MANIFESTS;

/// Records pulls: (repository, manifest, when). Manifests deleted since are skipped; an
/// older time never replaces a newer one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordPulls {
    /// The pulls.
    pub pulls: Vec<(RepositoryName, Digest, u64)>,
}

impl RecordPulls {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let mut manifests = tx.open_table(MANIFESTS)?;
        for (repository, digest, at) in self.pulls {
            let key = (repository.as_str(), digest.as_str());
            let Some(mut record) = manifests.get(key)?.map(|v| records::decode::<Manifest>("manifests", v.value())).transpose()? else {
                continue;
            };
            if record.last_pulled.is_some_and(|t| t >= at) {
                continue;
            }
            record.last_pulled = Some(at);
            manifests.insert(key, records::encode(&record).as_slice())?;
        }
        Ok(Applied::Done)
    }
}
