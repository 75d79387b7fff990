//! Online garbage collection: deletes the blobs no manifest uses, while pushes and pulls
//! go on.
//!
//! 1. Take the cluster's lock (one run at a time, renewed as the run goes).
//! 2. Finish what a run that died left: delete retired blobs' bytes, forget them.
//! 3. Mark: every blob some manifest uses (one scan of the metadata), taken after the
//!    grace period's start is fixed.
//! 4. Sweep, through one listing of the storage: the blobs neither used nor written
//!    within the grace period are proposed to `RetireBlobs`, which checks again inside
//!    its transaction (a manifest pushed since the mark, or a fresh link, keeps a blob)
//!    and makes every later link to a retired blob fail; then their bytes are deleted and
//!    the digests forgotten, so they can be pushed again.
//!
//! A run killed at any point loses nothing in use: retired blobs are unlinked and
//! unusable until forgotten, and the next run deletes them first.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_core::Digest;
use berth_meta::command::{AcquireGcLock, FinishGc, ForgetRetiredBlobs, PruneManifest, RetireBlobs};
use berth_meta::{Applied, Command, GcRun, Rejection, now};
use berth_storage::{BLOB_SHARDS, BlobStore, StoredBlob};
use futures_util::TryStreamExt;

use crate::{Error, Registry, unexpected};

/// How long the lock lasts without renewal (a run renews it with every batch).
const LOCK_LEASE_SECS: u64 = 600;
/// Blobs retired per command.
const BATCH: usize = 500;

/// The start of a period of `age` ending now: what was written before it may go. Times
/// are whole seconds, so a period of zero takes in the current second too.
fn cutoff(age: Duration) -> u64 {
    match age.as_secs() {
        0 => now() + 1,
        secs => now().saturating_sub(secs),
    }
}

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Blobs written or linked this recently are kept, used or not.
    pub grace: Duration,
    /// Count only; delete nothing.
    pub dry_run: bool,
    /// Also delete the manifests no tag, index or artifact names, pushed this long ago.
    pub untagged_older_than: Option<Duration>,
    /// Names the run in the lock (the replica's id and a run id).
    pub holder: String,
}

/// A run's progress as it goes (read by the API while it runs).
#[derive(Debug, Clone, Default)]
pub struct GcProgress {
    /// The run's counters so far.
    pub run: GcRun,
    /// Storage shards listed, of [`BLOB_SHARDS`] (the listing goes in digest order).
    pub shards_done: u16,
    /// Seconds left, estimated from the shards done so far.
    pub eta_secs: Option<u64>,
}

/// Shared view of the running collection, if any.
#[derive(Clone, Default)]
pub struct GcMonitor(Arc<Mutex<Option<GcProgress>>>);

impl GcMonitor {
    /// The running collection's progress, if one runs here.
    pub fn current(&self) -> Option<GcProgress> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Claims this process's one run; false when one runs already.
    fn claim(&self, progress: GcProgress) -> bool {
        let mut current = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if current.is_some() {
            return false;
        }
        *current = Some(progress);
        true
    }

    fn set(&self, progress: Option<GcProgress>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = progress;
    }
}

impl Registry {
    /// Runs one garbage collection; the finished run. `GcRunning` when another holds the
    /// cluster's lock.
    pub async fn collect_garbage(&self, options: GcOptions, monitor: &GcMonitor) -> Result<GcRun, Error> {
        let started_at = now();
        let mut progress = GcProgress {
            run: GcRun { holder: options.holder.clone(), dry_run: options.dry_run, started_at, ..GcRun::default() },
            ..GcProgress::default()
        };
        // One run per process (the lock below is per replica, so that a restarted replica
        // takes over the lock its dead run held).
        if !monitor.claim(progress.clone()) {
            return Err(Error::GcRunning(monitor.current().map(|p| p.run.holder).unwrap_or_default()));
        }
        if let Err(e) = self.renew_gc_lock(&options.holder).await {
            monitor.set(None);
            return Err(e);
        }
        let outcome = self.sweep(&options, &mut progress, monitor).await;
        monitor.set(None);
        let mut run = progress.run;
        run.finished_at = now();
        if let Err(e) = &outcome {
            run.error = Some(e.to_string());
        }
        let finish = self.meta.apply(Command::FinishGc(FinishGc { run: run.clone() })).await;
        outcome?;
        finish?;
        tracing::info!(
            examined = run.examined,
            deleted = run.deleted,
            bytes = run.bytes_freed,
            dry_run = run.dry_run,
            "garbage collection"
        );
        Ok(run)
    }

    /// After a restart: if this replica's run died holding the lock, finishes what it
    /// retired (so those blobs can be pushed again at once) and records the run as
    /// interrupted.
    pub async fn recover_gc(&self, replica: &str, monitor: &GcMonitor) -> Result<(), Error> {
        let lock = self.meta.read_latest(|r| r.gc_lock()).await?;
        let Some(lock) = lock.filter(|l| l.holder.split('/').next() == Some(replica)) else { return Ok(()) };
        // As a run of this process: two passes deleting the same retired list could
        // delete bytes pushed again between them.
        let progress =
            GcProgress { run: GcRun { holder: lock.holder.clone(), started_at: now(), ..GcRun::default() }, ..GcProgress::default() };
        if !monitor.claim(progress) {
            return Ok(());
        }
        let outcome = match self.renew_gc_lock(&lock.holder).await {
            Ok(()) => self.finish_retired(None).await,
            Err(e) => Err(e),
        };
        monitor.set(None);
        let run = GcRun {
            holder: lock.holder,
            finished_at: now(),
            error: Some("interrupted: the replica running it stopped".into()),
            ..GcRun::default()
        };
        self.meta.apply(Command::FinishGc(FinishGc { run })).await?;
        outcome.map(|_| ())
    }

    /// The last finished run and the lock's holder (from the metadata, so any replica
    /// answers).
    pub async fn gc_status(&self) -> Result<(Option<GcRun>, Option<berth_meta::GcLock>), Error> {
        Ok(self.meta.read(|r| Ok((r.last_gc()?, r.gc_lock()?.filter(|l| l.until > now())))).await?)
    }

    async fn renew_gc_lock(&self, holder: &str) -> Result<(), Error> {
        let at = now();
        let command = Command::AcquireGcLock(AcquireGcLock { holder: holder.to_owned(), at, until: at + LOCK_LEASE_SECS });
        match self.meta.apply(command).await? {
            Applied::Done => Ok(()),
            Applied::Rejected(Rejection::GcRunning(other)) => Err(Error::GcRunning(other)),
            Applied::Rejected(other) => Err(unexpected(other)),
        }
    }

    async fn sweep(&self, options: &GcOptions, progress: &mut GcProgress, monitor: &GcMonitor) -> Result<(), Error> {
        if !options.dry_run {
            self.finish_retired(None).await?;
        }
        if let Some(age) = options.untagged_older_than {
            self.prune_untagged(cutoff(age), options.dry_run, progress).await?;
        }
        // Blobs written or linked before `cutoff` may go.
        let cutoff = cutoff(options.grace);
        let used: HashSet<String> = self.meta.read_latest(|r| r.referenced_blobs()).await?;
        let clock = Instant::now();
        // Candidates gather into batches of `BATCH`, each one command.
        let mut pending: Vec<StoredBlob> = Vec::with_capacity(BATCH);
        let mut listing = self.storage.list_blobs();
        let mut renewed = Instant::now();
        while let Some(blob) = listing.try_next().await? {
            progress.run.examined += 1;
            // A long listing with few candidates renews the lease between batches too.
            if renewed.elapsed() > Duration::from_secs(LOCK_LEASE_SECS / 4) {
                self.renew_gc_lock(&options.holder).await?;
                renewed = Instant::now();
            }
            let shard = blob.shard();
            if !used.contains(blob.digest.as_str()) && blob.modified < cutoff {
                pending.push(blob);
            }
            if pending.len() >= BATCH {
                self.retire_batch(options, cutoff, &pending, progress).await?;
                pending.clear();
            }
            if shard > progress.shards_done {
                progress.shards_done = shard;
                let done = f64::from(progress.shards_done) / f64::from(BLOB_SHARDS);
                progress.eta_secs = Some((clock.elapsed().as_secs_f64() / done * (1.0 - done)).round() as u64);
                monitor.set(Some(progress.clone()));
            }
        }
        if !pending.is_empty() {
            self.retire_batch(options, cutoff, &pending, progress).await?;
        }
        progress.shards_done = BLOB_SHARDS;
        progress.eta_secs = Some(0);
        monitor.set(Some(progress.clone()));
        Ok(())
    }

    /// Deletes the untagged manifests pushed before `pushed_before` that nothing names
    /// (each checked again inside its command); their blobs then fall out of use.
    async fn prune_untagged(&self, pushed_before: u64, dry_run: bool, progress: &mut GcProgress) -> Result<(), Error> {
        let candidates = self.meta.read_latest(move |r| r.untagged_manifests(pushed_before)).await?;
        for (repo, digest) in candidates {
            if dry_run {
                progress.run.manifests_deleted += 1;
                continue;
            }
            let (Ok(repository), Ok(digest)) = (repo.parse(), digest.parse()) else { continue };
            let prune = PruneManifest { repository, digest, pushed_before, at: now() };
            if self.meta.apply(Command::PruneManifest(prune)).await? == Applied::Done {
                progress.run.manifests_deleted += 1;
            }
        }
        Ok(())
    }

    /// Retires one batch of candidates and deletes what the command retired (a dry run
    /// only counts them).
    async fn retire_batch(&self, options: &GcOptions, cutoff: u64, batch: &[StoredBlob], progress: &mut GcProgress) -> Result<(), Error> {
        self.renew_gc_lock(&options.holder).await?;
        if options.dry_run {
            progress.run.deleted += batch.len() as u64;
            progress.run.bytes_freed += batch.iter().map(|b| b.size).sum::<u64>();
            return Ok(());
        }
        let digests: Vec<Digest> = batch.iter().map(|b| b.digest.clone()).collect();
        let retire = RetireBlobs { digests, linked_before: cutoff, at: now() };
        match self.meta.apply(Command::RetireBlobs(retire)).await? {
            Applied::Done => {}
            Applied::Rejected(other) => return Err(unexpected(other)),
        }
        let (deleted, bytes) = self.finish_retired(Some(batch)).await?;
        progress.run.deleted += deleted;
        progress.run.bytes_freed += bytes;
        Ok(())
    }

    /// Deletes the bytes of every retired blob, then forgets them; (how many, bytes) of
    /// those in `listed` (the sizes known from the listing).
    async fn finish_retired(&self, listed: Option<&[StoredBlob]>) -> Result<(u64, u64), Error> {
        let retired: Vec<String> = self.meta.read_latest(|r| r.retired_blobs()).await?;
        let digests: Vec<Digest> = retired.iter().filter_map(|text| text.parse().ok()).collect();
        self.storage.delete_blobs(&digests).await?;
        let sizes: std::collections::HashMap<&str, u64> = listed.unwrap_or_default().iter().map(|b| (b.digest.as_str(), b.size)).collect();
        let (mut count, mut bytes) = (0, 0);
        for digest in &digests {
            if let Some(size) = sizes.get(digest.as_str()) {
                count += 1;
                bytes += size;
            }
        }
        if !digests.is_empty() {
            self.meta.apply(Command::ForgetRetiredBlobs(ForgetRetiredBlobs { digests })).await?;
        }
        Ok((count, bytes))
    }

    /// Waits (bounded) while garbage collection deletes `digest`, so that an upload of
    /// the same content publishes its own bytes after the old ones are gone; then the
    /// number of the latest forget, for the link (`LinkUploadedBlob`) to check that no
    /// collection deleted the stored bytes after the upload looked at them.
    pub(crate) async fn wait_while_retired(&self, digest: &Digest) -> Result<u64, Error> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let key = digest.to_string();
            let (retired, last_forget) = self.meta.read_latest(move |r| Ok((r.blob_retired(&key)?, r.last_forget()?))).await?;
            if !retired {
                return Ok(last_forget);
            }
            if Instant::now() > deadline {
                return Err(Error::BlobBeingCollected(digest.clone()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
