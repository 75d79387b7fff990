//! The running hash of an upload, computed while its bytes are written.
//!
//! AWS-LC's SHA-256/512 (assembly with SHA extensions, or AVX2 where the CPU has no SHA
//! instructions) is 2–3× faster than the portable Rust implementation on the machines
//! Berth is measured on, and hashing is what bounds a blob push. Its state cannot be
//! serialized, so an upload's hash lives in memory between requests (see `FsStore`),
//! and a session continued after a restart re-reads what it already has once.

use berth_core::{Digest, DigestAlgorithm};

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

#[cfg(test)]
mod tests {
    use super::*;

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
