//! Shares read-index rounds between the reads waiting at the same time.
//!
//! A read must see every write acknowledged before it began, so it needs a round that
//! *started* after it arrived; any such round serves it. Rounds run one at a time: a
//! read arriving during a round waits for the next one, which serves every read that
//! arrived meanwhile. Under load, one round trip to a quorum serves many reads.

use std::future::Future;

use tokio::sync::Mutex;

use crate::Error;

/// The coalescing state.
#[derive(Default)]
pub(crate) struct Barrier {
    /// Tickets handed out so far (one per read).
    issued: std::sync::atomic::AtomicU64,
    /// The last ticket a completed round covers, and the index that round found; held
    /// while a round runs, so rounds run one at a time.
    done: Mutex<(u64, u64)>,
}

impl Barrier {
    /// An index that is at least the commit index at some moment after this call began:
    /// from a round already completed that started after the call, or from a new round.
    pub(crate) async fn run<Round, Fut>(&self, round: Round) -> Result<u64, Error>
    where
        Round: FnOnce() -> Fut,
        Fut: Future<Output = Result<u64, Error>>,
    {
        use std::sync::atomic::Ordering;
        let ticket = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let mut done = self.done.lock().await;
        if done.0 >= ticket {
            return Ok(done.1);
        }
        // Every ticket issued until now arrived before this round starts: it serves them.
        let covers = self.issued.load(Ordering::SeqCst);
        let index = round().await?;
        *done = (covers, index.max(done.1));
        Ok(done.1)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_reads_share_rounds_and_never_use_an_older_one() {
        let barrier = Arc::new(Barrier::default());
        let commit = Arc::new(AtomicU64::new(0));
        let rounds = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let (barrier, commit, rounds) = (barrier.clone(), commit.clone(), rounds.clone());
            tasks.push(tokio::spawn(async move {
                // The commit index when this read begins: its answer may not be older.
                let at_start = commit.fetch_add(1, Ordering::SeqCst) + 1;
                let index = barrier
                    .run(|| async {
                        rounds.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                        Ok(commit.load(Ordering::SeqCst))
                    })
                    .await
                    .unwrap();
                assert!(index >= at_start, "a read got {index}, older than {at_start}");
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert!(rounds.load(Ordering::SeqCst) < 200, "rounds were shared");
    }
}
