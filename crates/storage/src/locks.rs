//! One lock per upload session, so that two requests of one session (a client retrying
//! while its first request still runs) never interleave their bytes. The table only
//! holds sessions someone is using.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

use crate::upload::UploadId;

type Table = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// The locks of a store's upload sessions.
#[derive(Default)]
pub(crate) struct UploadLocks {
    table: Table,
}

/// Holds one upload's lock; removes the table entry when nobody else waits for it.
pub(crate) struct UploadLock {
    key: String,
    table: Table,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        self.guard.take();
        if let Ok(mut table) = self.table.lock()
            && table.get(&self.key).is_some_and(|m| Arc::strong_count(m) == 1)
        {
            table.remove(&self.key);
        }
    }
}

impl UploadLocks {
    /// Waits for session `id`'s lock.
    pub(crate) async fn lock(&self, id: &UploadId) -> UploadLock {
        let mutex = {
            let mut table = self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            table.entry(id.as_str().to_owned()).or_default().clone()
        };
        let guard = mutex.lock_owned().await;
        UploadLock { key: id.as_str().to_owned(), table: self.table.clone(), guard: Some(guard) }
    }
}
