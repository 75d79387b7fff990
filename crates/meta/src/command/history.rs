//! Tag history: every move of a tag, recorded by the commands that move it.

use redb::{ReadableTable, WriteTransaction};

use crate::Error;
use crate::records::{self, TagEvent};
use crate::tables::{TAG_HISTORY, TAG_HISTORY_KEPT};

/// Records that `tag` of `repo` now points at `digest` (`None`: deleted), keeping the last
/// [`TAG_HISTORY_KEPT`] events.
pub(super) fn record(tx: &WriteTransaction, repo: &str, tag: &str, digest: Option<&str>, at: u64, by: Option<&str>) -> Result<(), Error> {
    let mut history = tx.open_table(TAG_HISTORY)?;
    let last = history.range((repo, tag, 0)..=(repo, tag, u64::MAX))?.next_back().transpose()?.map(|(k, _)| k.value().2);
    let next = last.map_or(0, |n| n + 1);
    let event = TagEvent { digest: digest.map(str::to_owned), at, by: by.map(str::to_owned) };
    history.insert((repo, tag, next), records::encode(&event).as_slice())?;
    if next >= TAG_HISTORY_KEPT {
        history.remove((repo, tag, next - TAG_HISTORY_KEPT))?;
    }
    Ok(())
}

/// Forgets the history of every tag of `repo`.
pub(super) fn forget(tx: &WriteTransaction, repo: &str) -> Result<(), Error> {
    let mut history = tx.open_table(TAG_HISTORY)?;
    history.retain_in((repo, "", 0)..(repo, "\u{10FFFF}", u64::MAX), |_, _| false)?;
    Ok(())
}
