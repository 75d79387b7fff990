//! Figures as people read them: sizes in KiB/MiB/GiB, times in UTC to the minute.

/// `1.4 MiB`.
pub fn size(bytes: u64) -> String {
    berth_core::human_bytes(bytes)
}

/// `2026-11-30 23:04 UTC`; `never` for nothing.
pub fn time(seconds: Option<u64>) -> String {
    let Some(seconds) = seconds.filter(|s| *s > 0) else { return "never".into() };
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(seconds as i64) else { return seconds.to_string() };
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", at.year(), at.month() as u8, at.day(), at.hour(), at.minute())
}

/// `sha256:0123456789ab`: enough of a digest to tell it apart.
pub fn short_digest(digest: &str) -> String {
    digest.chars().take(19).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn figures() {
        assert_eq!(super::size(512), "512 B");
        assert_eq!(super::size(1536), "1.5 KiB");
        assert_eq!(super::size(3 << 30), "3.0 GiB");
        assert_eq!(super::time(Some(0)), "never");
        assert_eq!(super::time(Some(1_700_000_000)), "2023-11-14 22:13 UTC");
        assert_eq!(super::short_digest(&format!("sha256:{}", "a".repeat(64))), format!("sha256:{}", "a".repeat(12)));
    }
}
