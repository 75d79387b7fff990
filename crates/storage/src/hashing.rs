//! The running hash of an upload, computed while its bytes are written.
//!
//! AWS-LC's SHA-256/512 (assembly with SHA extensions, or AVX2 where the CPU has no SHA
//! instructions) is 2–3× faster than the portable Rust implementation on the machines
//! Berth is measured on, and hashing is what bounds a blob push. Its state cannot be
//! serialized, so an upload's hash lives in memory between requests (see `FsStore`),
//! and a session continued after a restart re-reads what it already has once.
//!
//! Object storage cannot read back the parts of an unfinished multipart upload, so the S3
//! backend keeps a [`ResumableSha256`] instead: RustCrypto's SHA-256 (SHA-NI when the CPU
//! has it), whose state serializes into the upload's record. Any replica continues the
//! upload from that record without reading a byte of it.

use berth_core::{Digest, DigestAlgorithm};
use sha2::Digest as _;
use sha2::digest::common::hazmat::{SerializableState, SerializedState};

/// A running hash.
#[derive(Clone)]
pub struct StreamHasher {
    algorithm: DigestAlgorithm,
    context: aws_lc_rs::digest::Context,
}

impl StreamHasher {
    /// A fresh hash.
    pub fn new(algorithm: DigestAlgorithm) -> StreamHasher {
        let kind = match algorithm {
            DigestAlgorithm::Sha256 => &aws_lc_rs::digest::SHA256,
            DigestAlgorithm::Sha512 => &aws_lc_rs::digest::SHA512,
        };
        StreamHasher { algorithm, context: aws_lc_rs::digest::Context::new(kind) }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// Feeds more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.context.update(bytes);
    }

    /// The digest of everything fed so far; the hasher itself is unchanged.
    pub fn finish(&self) -> Digest {
        let value = self.context.clone().finish();
        Digest::from_hash(self.algorithm, value.as_ref())
    }
}

/// A SHA-256 whose state can be stored and restored (see the module's notes).
#[derive(Clone, Default)]
pub struct ResumableSha256(sha2::Sha256);

impl ResumableSha256 {
    /// Feeds more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything fed so far; the hasher itself is unchanged.
    pub fn finish(&self) -> Digest {
        Digest::from_hash(DigestAlgorithm::Sha256, &self.0.clone().finalize())
    }

    /// The state, as hex.
    pub fn save(&self) -> String {
        hex::encode(self.0.serialize())
    }

    /// A state saved by [`ResumableSha256::save`]; `None` when it is not one.
    pub fn restore(saved: &str) -> Option<ResumableSha256> {
        let bytes = hex::decode(saved).ok()?;
        let state = SerializedState::<sha2::Sha256>::try_from(bytes.as_slice()).ok()?;
        sha2::Sha256::deserialize(&state).ok().map(ResumableSha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumable_hash_continues_from_its_saved_state() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 251) as u8).collect();
        let mut hasher = ResumableSha256::default();
        for piece in data.chunks(70_001) {
            let saved = hasher.save();
            hasher = ResumableSha256::restore(&saved).unwrap();
            hasher.update(piece);
        }
        assert_eq!(hasher.finish(), Digest::sha256_of(&data));
        assert!(ResumableSha256::restore("00").is_none());
        assert!(ResumableSha256::restore("not hex").is_none());
    }

    #[test]
    fn agrees_with_the_reference_implementation_in_pieces() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
            let mut fast = StreamHasher::new(algorithm);
            let mut reference = berth_core::Hasher::new(algorithm);
            for piece in data.chunks(777) {
                fast.update(piece);
                reference.update(piece);
                assert_eq!(fast.finish(), reference.finish());
            }
        }
        assert_eq!(StreamHasher::new(DigestAlgorithm::Sha256).finish(), Digest::sha256_of(b""));
    }
}
