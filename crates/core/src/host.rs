//! The authority of a URL (`host[:port]`), as a client may send it in `Host` or HTTP/2's
//! `:authority`: a DNS name or IPv4 address, or an IPv6 literal in brackets, then an
//! optional port. Anything else (quotes, spaces, user info, paths) is refused, so a value
//! that passes may be written into a header or a URL as it is.

/// Whether `authority` is `host[:port]` with a well-formed host and port.
pub fn valid_authority(authority: &str) -> bool {
    if authority.is_empty() || authority.len() > 262 {
        return false;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((literal, after)) = rest.split_once(']') else { return false };
        if literal.is_empty()
            || !literal.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            || literal.parse::<std::net::Ipv6Addr>().is_err()
        {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => (literal, Some(port)),
                None => return false,
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok());
    port_ok && (authority.starts_with('[') || valid_host_name(host))
}

/// A DNS name (labels of letters, digits and inner hyphens) or a dotted IPv4 address.
fn valid_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= 63
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn authorities() {
        for ok in ["localhost", "localhost:5443", "registry.example.org", "127.0.0.1:80", "[::1]", "[::1]:5443", "a-b.c:65535"] {
            assert!(valid_authority(ok), "{ok}");
        }
        for bad in [
            "",
            "evil\"host",
            "host:",
            "host:65536",
            "host:12a",
            "a b",
            "user@host",
            "host/path",
            "[::1",
            "[zz]:1",
            "-a.b",
            "a..b",
            "[::1]x",
            "host,realm=\"x\"",
            "host:5443:1",
        ] {
            assert!(!valid_authority(bad), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_passes_only_safe_bytes(s in "\\PC{0,80}") {
            if valid_authority(&s) {
                prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)));
            }
        }
    }
}
