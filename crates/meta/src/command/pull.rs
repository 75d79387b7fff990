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

/// Pulls of one manifest by one caller from one address, counted between two flushes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRecord {
    /// The repository.
    pub repository: RepositoryName,
    /// The manifest.
    pub digest: Digest,
    /// The tag it was pulled by, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The user, `None` for anonymous pulls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The access token presented (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The caller's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// How many pulls.
    pub count: u64,
    /// The first (milliseconds since the epoch).
    pub first: u64,
    /// The last.
    pub last: u64,
}

/// Records pulls: when each manifest was last pulled, and one audit event per
/// [`PullRecord`] (replaces `RecordPulls`, which records no events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordPullEvents {
    /// The pulls.
    pub pulls: Vec<PullRecord>,
}

impl RecordPullEvents {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let pulls = self.pulls.into_iter().map(|p| (p.repository, p.digest, p.last / 1000)).collect();
        RecordPulls { pulls }.apply(tx)
    }

    /// One event per record, on behalf of its caller.
    pub(crate) fn drafts(&self) -> Vec<crate::audit::Draft> {
        self.pulls
            .iter()
            .map(|p| {
                let on_behalf =
                    crate::origin::Origin { at: p.last, user: p.user.clone(), token: p.token.clone(), source: p.source.clone(), job: None };
                let mut draft = crate::audit::Draft {
                    kind: if p.tag.is_some() { "TAG_PULL" } else { "MANIFEST_PULL" },
                    repository: Some(p.repository.to_string()),
                    object: p.tag.clone(),
                    digest: Some(p.digest.to_string()),
                    on_behalf: Some(on_behalf),
                    count: p.count,
                    ..Default::default()
                };
                if p.count > 1 {
                    draft.details.insert("firstAt".into(), serde_json::json!(crate::audit::rfc3339(p.first)));
                }
                draft
            })
            .collect()
    }
}
