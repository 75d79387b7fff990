//! Manifests, tags and referrers.

use berth_core::{Descriptor, Digest};

use super::{Listing, Page, Reader};
use crate::Error;
use crate::records::{self, Referrer};
use crate::tables::{MANIFEST_CONTENT, MANIFESTS, REFERRERS, TAG_HISTORY, TAGS};

impl Reader {
    /// The manifest record, if the repository holds it.
    pub fn manifest(&self, repository: &str, digest: &str) -> Result<Option<records::Manifest>, Error> {
        let table = self.tx.open_table(MANIFESTS)?;
        let value = table.get((repository, digest))?;
        value.map(|v| records::decode("manifests", v.value())).transpose()
    }

    /// A manifest's bytes, exactly as pushed.
    pub fn manifest_content(&self, digest: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.tx.open_table(MANIFEST_CONTENT)?.get(digest)?.map(|v| v.value().to_vec()))
    }

    /// The digest a tag points at.
    pub fn tag(&self, repository: &str, tag: &str) -> Result<Option<Digest>, Error> {
        let table = self.tx.open_table(TAGS)?;
        let value = table.get((repository, tag))?;
        value
            .map(|v| v.value().parse().map_err(|e: berth_core::DigestError| Error::Corrupt { table: "tags", detail: e.to_string() }))
            .transpose()
    }

    /// A page of the repository's tags, sorted.
    pub fn tags(&self, repository: &str, page: &Page) -> Result<Listing, Error> {
        self.page_in_scope(TAGS, repository, page)
    }

    /// The manifests of `repository` whose subject is `subject`, optionally only those of one artifact type.
    pub fn referrers(&self, repository: &str, subject: &str, artifact_type: Option<&str>) -> Result<Vec<Descriptor>, Error> {
        let table = self.tx.open_table(REFERRERS)?;
        let mut found = Vec::new();
        for entry in table.range((repository, subject, "")..)? {
            let (key, value) = entry?;
            let (key_repo, key_subject, _) = key.value();
            if key_repo != repository || key_subject != subject {
                break;
            }
            let referrer: Referrer = records::decode("referrers", value.value())?;
            if artifact_type.is_none_or(|wanted| referrer.descriptor.artifact_type.as_deref() == Some(wanted)) {
                found.push(referrer.descriptor);
            }
        }
        Ok(found)
    }

    /// When each tag of `repository` last moved to a manifest: one scan of the history
    /// (keys sort by tag, then sequence, so the last key of each tag is its newest event).
    /// Tags whose newest event is a deletion, or that have no history, are absent.
    pub fn last_tag_moves(&self, repository: &str) -> Result<std::collections::HashMap<String, u64>, Error> {
        /// The part of a `TagEvent` needed here (the rest is skipped, not decoded).
        #[derive(serde::Deserialize)]
        struct Move {
            digest: Option<serde::de::IgnoredAny>,
            at: u64,
        }
        let table = self.tx.open_table(TAG_HISTORY)?;
        let mut moves = std::collections::HashMap::new();
        let mut entries = table.range((repository, "", 0)..(repository, "\u{10FFFF}", u64::MAX))?.peekable();
        while let Some(entry) = entries.next() {
            let (key, value) = entry?;
            let (_, tag, _) = key.value();
            let newest = match entries.peek() {
                Some(Ok((next, _))) => next.value().1 != tag,
                _ => true,
            };
            if newest {
                let event: Move = records::decode("tag_history", value.value())?;
                if event.digest.is_some() {
                    moves.insert(tag.to_owned(), event.at);
                }
            }
        }
        Ok(moves)
    }

    /// A tag's history, newest first: where it pointed, when, by whom (at most `limit` events).
    pub fn tag_history(&self, repository: &str, tag: &str, limit: usize) -> Result<Vec<records::TagEvent>, Error> {
        let table = self.tx.open_table(TAG_HISTORY)?;
        let mut events = Vec::new();
        for entry in table.range((repository, tag, 0)..=(repository, tag, u64::MAX))?.rev().take(limit) {
            let (_, value) = entry?;
            events.push(records::decode("tag_history", value.value())?);
        }
        Ok(events)
    }
}
