//! Tags.

use berth_core::{RepositoryName, Tag};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Applied, Rejection};
use crate::Error;
use crate::records::{self, SignedTarget};
use crate::tables::{SIGNED_TAGS, TAGS};

/// Removes one tag; the manifest and its other tags stay. Refused while the tag is
/// signed in the repository's trust data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteTag {
    /// The repository.
    pub repository: RepositoryName,
    /// The tag.
    pub tag: Tag,
    /// When (added after the first release: absent from the wire form while 0).
    #[serde(default, skip_serializing_if = "super::is_zero")]
    pub at: u64,
    /// Who, when known (likewise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl DeleteTag {
    pub(super) fn apply(self, tx: &WriteTransaction) -> Result<Applied, Error> {
        let (repo, tag) = (self.repository.as_str(), self.tag.as_str());
        if tx.open_table(TAGS)?.get((repo, tag))?.is_none() {
            return Ok(Applied::Rejected(Rejection::TagUnknown));
        }
        if let Some(rejection) = signed_rejection(tx, repo, |signed_tag, _| signed_tag == tag)? {
            return Ok(Applied::Rejected(rejection));
        }
        if let Some(rejection) = immutable_rejection(tx, repo, &[tag])? {
            return Ok(Applied::Rejected(rejection));
        }
        tx.open_table(TAGS)?.remove((repo, tag))?;
        super::history::record(tx, repo, tag, None, self.at, self.by.as_deref())?;
        Ok(Applied::Done)
    }
}

/// `TagImmutableDeletion` for the first of `doomed` when `repo`'s tags are immutable: an
/// immutable tag is neither moved nor deleted (until its repository's setting is
/// turned off).
pub(super) fn immutable_rejection(tx: &WriteTransaction, repo: &str, doomed: &[&str]) -> Result<Option<Rejection>, Error> {
    let Some(first) = doomed.first() else { return Ok(None) };
    let immutable = super::repository::repository(tx, repo)?.is_some_and(|r| r.immutable_tags);
    Ok(immutable.then(|| Rejection::TagImmutableDeletion((*first).to_owned())))
}

/// `TagSigned` for the first signed tag of `repo` that `hits(tag, signed digest)` accepts.
pub(super) fn signed_rejection(tx: &WriteTransaction, repo: &str, hits: impl Fn(&str, &str) -> bool) -> Result<Option<Rejection>, Error> {
    let signed = tx.open_table(SIGNED_TAGS)?;
    for entry in signed.range((repo, "")..)? {
        let (key, value) = entry?;
        let (key_repo, tag) = key.value();
        if key_repo != repo {
            break;
        }
        let target: SignedTarget = records::decode("signed_tags", value.value())?;
        if hits(tag, &target.digest) {
            return Ok(Some(Rejection::TagSigned(tag.to_owned())));
        }
    }
    Ok(None)
}
