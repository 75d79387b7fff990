//! What garbage collection reads: which blobs are in use, which are retired, the lock
//! and the last run.

use std::collections::HashSet;

use redb::ReadableTable;

use super::Reader;
use crate::Error;
use crate::records::{self, GcLock, GcRun};
use crate::tables::{BLOB_REFERENCES, GC, MANIFESTS, NAMESPACE_USAGE, RETIRED_BLOBS, TAGS};

impl Reader {
    /// Every blob some manifest uses (one scan of `blob_references`).
    pub fn referenced_blobs(&self) -> Result<HashSet<String>, Error> {
        let mut used = HashSet::new();
        let mut last = String::new();
        for entry in self.tx.open_table(BLOB_REFERENCES)?.iter()? {
            let (key, _) = entry?;
            let blob = key.value().0;
            if blob != last {
                last = blob.to_owned();
                used.insert(last.clone());
            }
        }
        Ok(used)
    }

    /// Whether the blob is retired (being deleted by garbage collection).
    pub fn blob_retired(&self, digest: &str) -> Result<bool, Error> {
        Ok(self.tx.open_table(RETIRED_BLOBS)?.get(digest)?.is_some())
    }

    /// The number of the latest forget of retired blobs (what an upload reads before it
    /// looks at stored bytes; see `LinkUploadedBlob`).
    pub fn last_forget(&self) -> Result<u64, Error> {
        crate::command::gc_number(&self.tx.open_table(GC)?, crate::command::LAST_FORGET)
    }

    /// The retired blobs.
    pub fn retired_blobs(&self) -> Result<Vec<String>, Error> {
        let mut found = Vec::new();
        for entry in self.tx.open_table(RETIRED_BLOBS)?.iter()? {
            found.push(entry?.0.value().to_owned());
        }
        Ok(found)
    }

    /// Who holds the garbage collection lock, until when.
    pub fn gc_lock(&self) -> Result<Option<GcLock>, Error> {
        self.tx.open_table(GC)?.get("lock")?.map(|v| records::decode("gc", v.value())).transpose()
    }

    /// Manifests pushed before `pushed_before` that no tag names: (repository, digest).
    /// Candidates only; `PruneManifest` decides inside its transaction.
    pub fn untagged_manifests(&self, pushed_before: u64) -> Result<Vec<(String, String)>, Error> {
        let mut tagged = std::collections::HashSet::new();
        for entry in self.tx.open_table(TAGS)?.iter()? {
            let (key, value) = entry?;
            tagged.insert((key.value().0.to_owned(), value.value().to_owned()));
        }
        let mut found = Vec::new();
        for entry in self.tx.open_table(MANIFESTS)?.iter()? {
            let (key, value) = entry?;
            let (repo, digest) = key.value();
            let record: records::Manifest = records::decode("manifests", value.value())?;
            if record.pushed_at < pushed_before && record.subject.is_none() && !tagged.contains(&(repo.to_owned(), digest.to_owned())) {
                found.push((repo.to_owned(), digest.to_owned()));
            }
        }
        Ok(found)
    }

    /// Bytes of distinct blobs the manifests of `namespace` use.
    pub fn namespace_usage(&self, namespace: &str) -> Result<u64, Error> {
        Ok(self.tx.open_table(NAMESPACE_USAGE)?.get(namespace)?.map_or(0, |v| v.value()))
    }

    /// The last finished garbage collection run.
    pub fn last_gc(&self) -> Result<Option<GcRun>, Error> {
        self.tx.open_table(GC)?.get("last")?.map(|v| records::decode("gc", v.value())).transpose()
    }
}
