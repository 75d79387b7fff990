//! Byte ranges from HTTP headers.
//!
//! - `Range: bytes=<first>-<last>` (also `bytes=<first>-` and the suffix form `bytes=-<n>`) on blob `GET`;
//!   a single range only, which is what registry clients send.
//! - `Content-Range: <first>-<last>` on upload `PATCH` (the distribution-spec form, without the
//!   `bytes ` unit; `bytes <first>-<last>/<total>` is accepted too, as some clients send it).

/// An inclusive byte range, `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte offset.
    pub first: u64,
    /// Last byte offset, inclusive.
    pub last: u64,
}

impl ByteRange {
    /// Number of bytes covered (saturating: a range of every `u64` offset counts `u64::MAX`).
    pub fn len(&self) -> u64 {
        (self.last - self.first).saturating_add(1)
    }

    /// Never true: a `ByteRange` covers at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Why a range header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Not of the accepted syntax.
    #[error("range {0:?} is malformed")]
    Malformed(String),
    /// Syntactically fine, but outside the content (HTTP 416).
    #[error("range {0:?} cannot be satisfied")]
    Unsatisfiable(String),
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a `Range` header value against content of `size` bytes.
pub fn parse_range(value: &str, size: u64) -> Result<ByteRange, RangeError> {
    let malformed = || RangeError::Malformed(value.to_owned());
    let unsatisfiable = || RangeError::Unsatisfiable(value.to_owned());
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(malformed)?;
    if spec.contains(',') {
        return Err(malformed());
    }
    let (first, last) = spec.trim().split_once('-').ok_or_else(malformed)?;
    if first.is_empty() {
        let suffix = number(last).ok_or_else(malformed)?;
        if suffix == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        let len = suffix.min(size);
        return Ok(ByteRange { first: size - len, last: size - 1 });
    }
    let first = number(first).ok_or_else(malformed)?;
    let last = if last.is_empty() { u64::MAX } else { number(last).ok_or_else(malformed)? };
    if last < first {
        // Well-formed but naming no byte: unsatisfiable, as the distribution-spec expects.
        return Err(unsatisfiable());
    }
    if first >= size {
        return Err(unsatisfiable());
    }
    Ok(ByteRange { first, last: last.min(size - 1) })
}

/// Parses an upload `Content-Range` value (`<first>-<last>`, or `bytes <first>-<last>/<total|*>`).
pub fn parse_content_range(value: &str) -> Result<ByteRange, RangeError> {
    let malformed = || RangeError::Malformed(value.to_owned());
    let mut spec = value.trim();
    if let Some(rest) = spec.strip_prefix("bytes") {
        spec = rest.trim_start_matches([' ', '=']);
        spec = spec.split_once('/').map_or(spec, |(range, _total)| range);
    }
    let (first, last) = spec.split_once('-').ok_or_else(malformed)?;
    let first = number(first).ok_or_else(malformed)?;
    let last = number(last).ok_or_else(malformed)?;
    if last < first {
        return Err(malformed());
    }
    if last == u64::MAX {
        // No upload reaches the last offset a u64 can hold; its length would not fit one.
        return Err(RangeError::Unsatisfiable(value.to_owned()));
    }
    Ok(ByteRange { first, last })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(ByteRange { first: 0, last: 9 }));
        assert_eq!(parse_range("bytes=90-", 100), Ok(ByteRange { first: 90, last: 99 }));
        assert_eq!(parse_range("bytes=90-500", 100), Ok(ByteRange { first: 90, last: 99 }));
        assert_eq!(parse_range("bytes=-10", 100), Ok(ByteRange { first: 90, last: 99 }));
        assert_eq!(parse_range("bytes=-1000", 100), Ok(ByteRange { first: 0, last: 99 }));
        assert!(matches!(parse_range("bytes=100-", 100), Err(RangeError::Unsatisfiable(_))));
        assert!(matches!(parse_range("bytes=-0", 100), Err(RangeError::Unsatisfiable(_))));
        assert!(matches!(parse_range("bytes=9-0", 100), Err(RangeError::Unsatisfiable(_))));
        for bad in ["0-9", "bytes=a-b", "bytes=0-1,3-4", "bytes=", "bytes=-", "items=0-1", "bytes=+1-2"] {
            assert!(matches!(parse_range(bad, 100), Err(RangeError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-99"), Ok(ByteRange { first: 0, last: 99 }));
        assert_eq!(parse_content_range("bytes 100-199/*"), Ok(ByteRange { first: 100, last: 199 }));
        assert_eq!(parse_content_range("bytes=5-5"), Ok(ByteRange { first: 5, last: 5 }));
        for bad in ["", "5", "9-1", "-1", "a-b", "1-", "18446744073709551616-18446744073709551617"] {
            assert!(parse_content_range(bad).is_err(), "{bad}");
        }
        assert!(matches!(parse_content_range("0-18446744073709551615"), Err(RangeError::Unsatisfiable(_))));
        assert_eq!(ByteRange { first: 0, last: u64::MAX }.len(), u64::MAX);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,60}", size in any::<u64>()) {
            let _ = parse_range(&s, size);
            let _ = parse_content_range(&s);
        }

        #[test]
        fn satisfiable_ranges_stay_inside(first in 0u64..1000, len in 1u64..1000, size in 1u64..2000) {
            let header = format!("bytes={}-{}", first, first + len - 1);
            match parse_range(&header, size) {
                Ok(r) => { prop_assert!(r.first == first && r.last < size && r.len() <= len); }
                Err(RangeError::Unsatisfiable(_)) => prop_assert!(first >= size),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }

        #[test]
        fn content_range_round_trips(first in 0..u64::MAX - 1_000_000, extra in 0u64..1_000_000) {
            let last = first + extra;
            prop_assert_eq!(parse_content_range(&format!("{first}-{last}")), Ok(ByteRange { first, last }));
        }
    }
}
