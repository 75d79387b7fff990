//! The access vocabulary: levels of access to a repository, and the actions they allow.

use serde::{Deserialize, Serialize};

/// A repository access level, ordered: each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Browse and pull.
    ReadOnly = 1,
    /// And push, and delete tags.
    ReadWrite = 2,
    /// And settings, visibility, grants, deleting the repository.
    Admin = 3,
}

impl Level {
    /// From the stored number.
    pub fn from_u8(n: u8) -> Option<Level> {
        match n {
            1 => Some(Level::ReadOnly),
            2 => Some(Level::ReadWrite),
            3 => Some(Level::Admin),
            _ => None,
        }
    }

    /// The stored number.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// DTR's name: `read-only`, `read-write`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::ReadOnly => "read-only",
            Level::ReadWrite => "read-write",
            Level::Admin => "admin",
        }
    }

    /// From DTR's name.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "read-only" => Some(Level::ReadOnly),
            "read-write" => Some(Level::ReadWrite),
            "admin" => Some(Level::Admin),
            _ => None,
        }
    }
}

/// What a caller wants to do to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Read manifests, blobs, tags.
    Pull,
    /// Upload blobs, push manifests (creating the repository if needed).
    Push,
    /// Delete tags, manifests, blob links.
    Delete,
    /// Change settings and grants.
    Admin,
}

impl Action {
    /// The level the action needs.
    pub fn needs(self) -> Level {
        match self {
            Action::Pull => Level::ReadOnly,
            Action::Push | Action::Delete => Level::ReadWrite,
            Action::Admin => Level::Admin,
        }
    }

    /// The Docker token scope word (`pull`, `push`, `delete`, `*`).
    pub fn scope_word(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::Admin => "*",
        }
    }

    /// From a Docker token scope word.
    pub fn from_scope_word(word: &str) -> Option<Action> {
        match word {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" => Some(Action::Delete),
            "*" => Some(Action::Admin),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for level in [Level::ReadOnly, Level::ReadWrite, Level::Admin] {
            assert_eq!(Level::parse(level.as_str()), Some(level));
            assert_eq!(Level::from_u8(level.as_u8()), Some(level));
        }
        for action in [Action::Pull, Action::Push, Action::Delete, Action::Admin] {
            assert_eq!(Action::from_scope_word(action.scope_word()), Some(action));
        }
        assert_eq!(serde_json::to_string(&Action::Pull).unwrap(), "\"pull\"");
        assert_eq!(serde_json::to_string(&Level::ReadWrite).unwrap(), "\"read-write\"");
        assert!(Action::Delete.needs() > Action::Pull.needs());
    }
}
