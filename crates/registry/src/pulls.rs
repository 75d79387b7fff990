//! When manifests were last pulled. A pull never writes: it is remembered here (a bounded
//! map, the newest time per manifest) and written by a periodic job in one command.

use std::collections::HashMap;
use std::sync::Mutex;

use berth_core::{Digest, RepositoryName};
use berth_meta::command::RecordPulls;
use berth_meta::{Command, now};

use crate::{Error, Registry};

/// The most manifests remembered between two flushes; past it, pulls of others are not
/// recorded until the next flush (the figure is informative, never a rule).
const MAX_PENDING: usize = 100_000;

/// Pulls not yet written.
#[derive(Default)]
pub(crate) struct Pulls(Mutex<HashMap<(RepositoryName, Digest), u64>>);

impl Pulls {
    pub(crate) fn remember(&self, repository: &RepositoryName, digest: &Digest) {
        let mut pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() < MAX_PENDING || pending.contains_key(&(repository.clone(), digest.clone())) {
            pending.insert((repository.clone(), digest.clone()), now());
        }
    }
}

impl Registry {
    /// Writes the pulls remembered since the last call; how many manifests.
    pub async fn flush_pulls(&self) -> Result<usize, Error> {
        let pulls: Vec<(RepositoryName, Digest, u64)> = {
            let mut pending = self.pulls.0.lock().unwrap_or_else(|p| p.into_inner());
            pending.drain().map(|((r, d), at)| (r, d, at)).collect()
        };
        if pulls.is_empty() {
            return Ok(0);
        }
        let count = pulls.len();
        self.meta.apply(Command::RecordPulls(RecordPulls { pulls })).await?;
        Ok(count)
    }
}
