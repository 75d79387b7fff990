//! The state of an upload session, stored beside its data so that any process sharing
//! the storage can continue it. The running hash is not stored (see `hashing.rs`): the
//! process that received the bytes keeps it in memory, another one re-reads the data.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// An upload session id: a UUID, the only form accepted from a URL (so it can never
/// name a path outside the uploads directory).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// A new random id.
    pub fn random() -> UploadId {
        UploadId(uuid::Uuid::new_v4().hyphenated().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UploadId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(UploadId(uuid::Uuid::try_parse(s)?.hyphenated().to_string()))
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The stored record. Versioned: add a variant for a new shape, never change old ones.
#[derive(Serialize, Deserialize)]
#[serde(tag = "version")]
enum StoredUploadState {
    /// With a serialized hash state (no longer used: the hash is recomputed).
    #[serde(rename = "1")]
    V1 { repository: String, offset: u64, algorithm: String, hash_state: String, started_at: u64, updated_at: u64 },
    #[serde(rename = "2")]
    V2 { repository: String, offset: u64, started_at: u64, updated_at: u64 },
}

/// An upload session's state.
#[derive(Clone)]
pub struct UploadState {
    /// The session id.
    pub id: UploadId,
    /// The repository the session was started in; it may only be continued there.
    pub repository: String,
    /// Bytes received so far.
    pub offset: u64,
    /// When the session started (seconds since the epoch).
    pub started_at: u64,
    /// When it last received bytes.
    pub updated_at: u64,
}

impl fmt::Debug for UploadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadState")
            .field("id", &self.id)
            .field("repository", &self.repository)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl UploadState {
    /// A fresh session.
    pub fn new(repository: &str, now: u64) -> UploadState {
        UploadState { id: UploadId::random(), repository: repository.to_owned(), offset: 0, started_at: now, updated_at: now }
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let stored = StoredUploadState::V2 {
            repository: self.repository.clone(),
            offset: self.offset,
            started_at: self.started_at,
            updated_at: self.updated_at,
        };
        // Serializing a struct of strings and integers cannot fail.
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// Reads the stored form back.
    pub fn decode(id: UploadId, bytes: &[u8]) -> Result<UploadState, Error> {
        let corrupt = |what: String| Error::Corrupt(format!("upload {id} state: {what}"));
        let stored: StoredUploadState = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        let (repository, offset, started_at, updated_at) = match stored {
            StoredUploadState::V1 { repository, offset, started_at, updated_at, .. } => (repository, offset, started_at, updated_at),
            StoredUploadState::V2 { repository, offset, started_at, updated_at } => (repository, offset, started_at, updated_at),
        };
        Ok(UploadState { id, repository, offset, started_at, updated_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_only() {
        assert!("../../etc".parse::<UploadId>().is_err());
        assert!("".parse::<UploadId>().is_err());
        let id = UploadId::random();
        assert_eq!(id.as_str().parse::<UploadId>().unwrap(), id);
    }

    #[test]
    fn state_round_trips() {
        let mut state = UploadState::new("a/b", 7);
        state.offset = 3;
        let back = UploadState::decode(state.id.clone(), &state.encode()).unwrap();
        assert_eq!(back.offset, 3);
        assert_eq!(back.repository, "a/b");
        assert!(UploadState::decode(state.id.clone(), b"{}").is_err());
        // Version 1 records, written with a hash state, still decode.
        let v1 = br#"{"version":"1","repository":"a/b","offset":5,"algorithm":"sha256","hash_state":"00","started_at":1,"updated_at":2}"#;
        let old = UploadState::decode(state.id, v1).unwrap();
        assert_eq!((old.offset, old.updated_at), (5, 2));
    }
}
