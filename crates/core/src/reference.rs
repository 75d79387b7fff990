//! Manifest references: a tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`) or a digest.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{Digest, DigestError};

/// A validated tag.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// The tag as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Not a tag by the grammar (and holds no `:`, so it is not meant as a digest).
    #[error("tag {0:?} is invalid: up to 128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'")]
    InvalidTag(String),
    /// Holds a `:`, so it is a digest, and the digest is invalid.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

impl FromStr for Tag {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let ok = !bytes.is_empty() && bytes.len() <= 128 && word(bytes[0]) && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
        if ok { Ok(Tag(s.to_owned())) } else { Err(ReferenceError::InvalidTag(s.to_owned())) }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

impl Serialize for Tag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// What a manifest URL names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// By tag: resolved through the repository's tags.
    Tag(Tag),
    /// By digest: content-addressed.
    Digest(Digest),
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') { Ok(Reference::Digest(s.parse()?)) } else { Ok(Reference::Tag(s.parse()?)) }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_and_digests() {
        assert!(matches!("latest".parse::<Reference>(), Ok(Reference::Tag(_))));
        assert!(matches!("_v1.2-rc".parse::<Reference>(), Ok(Reference::Tag(_))));
        assert!(matches!(
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse::<Reference>(),
            Ok(Reference::Digest(_))
        ));
        for bad in ["", ".hidden", "-x", "a/b", "tag with space", &"a".repeat(129)] {
            assert!(matches!(bad.parse::<Reference>(), Err(ReferenceError::InvalidTag(_))), "{bad}");
        }
        assert!(matches!("sha256:xyz".parse::<Reference>(), Err(ReferenceError::Digest(_))));
        assert!("a".repeat(128).parse::<Tag>().is_ok());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = s.parse::<Reference>();
        }

        #[test]
        fn grammar_tags_round_trip(s in "[A-Za-z0-9_][A-Za-z0-9._-]{0,127}") {
            let r: Reference = s.parse().unwrap();
            prop_assert_eq!(r.to_string(), s);
        }
    }
}
