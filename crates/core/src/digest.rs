//! Content digests, `algorithm:hex`, and the hasher that computes them while bytes stream by.
//!
//! Only `sha256` and `sha512` are accepted (the registered algorithms of the OCI image
//! spec); anything else is `DigestError::UnsupportedAlgorithm`, which the registry answers
//! as `DIGEST_INVALID`/`UNSUPPORTED`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// A digest algorithm the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// SHA-256, 64 lower-case hex characters.
    Sha256,
    /// SHA-512, 128 lower-case hex characters.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's name as written in a digest string.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 64,
            DigestAlgorithm::Sha512 => 128,
        }
    }
}

/// Why a digest string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No `:` between algorithm and encoded part, or an empty part.
    #[error("digest {0:?} is not of the form algorithm:hex")]
    Malformed(String),
    /// The algorithm follows the grammar but is not one the registry implements.
    #[error("digest algorithm {0:?} is not supported (sha256 and sha512 are)")]
    UnsupportedAlgorithm(String),
    /// The encoded part has the wrong length or characters for its algorithm.
    #[error("digest {0:?} has an invalid encoded part (expected lower-case hex of the algorithm's length)")]
    InvalidEncoding(String),
}

/// A validated content digest such as `sha256:e3b0…`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    text: String,
    algorithm: DigestAlgorithm,
}

impl Digest {
    /// The algorithm part.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lower-case hex part.
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.as_str().len() + 1..]
    }

    /// The whole `algorithm:hex` string.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::new(DigestAlgorithm::Sha256);
        hasher.update(bytes);
        hasher.finish()
    }

    /// The digest whose raw hash value is `value` (as a hash function returned it).
    pub fn from_hash(algorithm: DigestAlgorithm, value: &[u8]) -> Digest {
        Digest::from_parts(algorithm, &hex::encode(value))
    }

    fn from_parts(algorithm: DigestAlgorithm, hex: &str) -> Digest {
        Digest { text: format!("{}:{hex}", algorithm.as_str()), algorithm }
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return Err(DigestError::Malformed(s.to_owned()));
        };
        if algorithm.is_empty() || encoded.is_empty() {
            return Err(DigestError::Malformed(s.to_owned()));
        }
        // The spec's grammar for the algorithm part: [a-z0-9]+ ([+._-][a-z0-9]+)*
        let algorithm_grammar = algorithm
            .split(['+', '.', '_', '-'])
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        if !algorithm_grammar {
            return Err(DigestError::Malformed(s.to_owned()));
        }
        let algorithm = match algorithm {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            other => return Err(DigestError::UnsupportedAlgorithm(other.to_owned())),
        };
        let hex_ok = encoded.len() == algorithm.hex_len() && encoded.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(DigestError::InvalidEncoding(s.to_owned()));
        }
        Ok(Digest { text: s.to_owned(), algorithm })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A running hash over a stream of bytes (the portable implementation; the blob store
/// has its own, faster one for uploads).
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(sha2::Sha256),
    /// SHA-512 state.
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: DigestAlgorithm) -> Hasher {
        match algorithm {
            DigestAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> DigestAlgorithm {
        match self {
            Hasher::Sha256(_) => DigestAlgorithm::Sha256,
            Hasher::Sha512(_) => DigestAlgorithm::Sha512,
        }
    }

    /// Feeds more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far. The hasher itself is unchanged.
    pub fn finish(&self) -> Digest {
        let (algorithm, hex) = match self {
            Hasher::Sha256(h) => (DigestAlgorithm::Sha256, hex::encode(h.clone().finalize())),
            Hasher::Sha512(h) => (DigestAlgorithm::Sha512, hex::encode(h.clone().finalize())),
        };
        Digest::from_parts(algorithm, &hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_formats() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.algorithm(), DigestAlgorithm::Sha256);
        assert_eq!(d.hex().len(), 64);
        assert_eq!(Digest::sha256_of(b""), d);
    }

    #[test]
    fn refuses_bad_digests() {
        let cases = [
            ("sha256", "Malformed"),
            ("sha256:", "Malformed"),
            (":abc", "Malformed"),
            ("SHA256:abc", "Malformed"),
            ("md5:d41d8cd98f00b204e9800998ecf8427e", "UnsupportedAlgorithm"),
            ("sha256:abc", "InvalidEncoding"),
            ("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "InvalidEncoding"),
            ("sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "InvalidEncoding"),
            ("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8550", "InvalidEncoding"),
        ];
        for (input, kind) in cases {
            let err = input.parse::<Digest>().unwrap_err();
            assert!(format!("{err:?}").starts_with(kind), "{input}: {err:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = s.parse::<Digest>();
        }

        #[test]
        fn every_sha256_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let d = Digest::sha256_of(&bytes);
            prop_assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        }

        #[test]
        fn chunked_hash_equals_whole(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cut in 0usize..2048) {
            let cut = cut.min(bytes.len());
            let mut a = Hasher::new(DigestAlgorithm::Sha256);
            a.update(&bytes[..cut]);
            a.update(&bytes[cut..]);
            prop_assert_eq!(a.finish(), Digest::sha256_of(&bytes));
        }
    }
}
