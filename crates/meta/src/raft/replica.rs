//! Replica and cluster ids. A replica id is 12 hex characters, as in DTR (48 random bits,
//! never zero); it is the Raft node id, and the name in the replica's certificate.

use serde::{Deserialize, Serialize};

/// How a replica takes part, as recorded when its store was first opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// It founded its cluster (a fresh `serve`, a restore, an emergency repair).
    Founder,
    /// It is joining a cluster and must not found one of its own.
    Joining,
    /// It joined a cluster.
    Member,
}

/// A new random replica id.
pub fn new_id() -> u64 {
    loop {
        let mut bytes = [0u8; 8];
        // The system random source does not fail on Linux; a zero id is drawn again.
        let _ = aws_lc_rs::rand::fill(&mut bytes[2..]);
        let id = u64::from_be_bytes(bytes);
        if id != 0 {
            return id;
        }
    }
}

/// A new random cluster id (hex).
pub fn new_cluster_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A replica id as shown: 12 lowercase hex characters.
pub fn format_id(id: u64) -> String {
    format!("{id:012x}")
}

/// Reads a replica id: exactly 12 hex characters, not all zero.
pub fn parse_id(text: &str) -> Option<u64> {
    if text.len() != 12 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok().filter(|id| *id != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_twelve_hex_characters() {
        for _ in 0..100 {
            let id = new_id();
            let text = format_id(id);
            assert_eq!(text.len(), 12);
            assert_eq!(parse_id(&text), Some(id));
        }
        assert_eq!(parse_id("000000000000"), None);
        assert_eq!(parse_id("00000000000g"), None);
        assert_eq!(parse_id("0000000000001"), None);
        assert_eq!(parse_id("00000000001"), None);
    }
}
