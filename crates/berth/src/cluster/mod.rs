//! Talking to the other replicas: the HTTPS transport replica messages travel over
//! (`transport.rs`), and the steps of joining a cluster as a client (`join.rs`). What the
//! messages mean is the cluster service's business (`berth-services`); this is the wire.

pub mod join;
pub mod transport;

/// The path replica messages are posted to, per message.
pub const RAFT_PATH: &str = "/internal/raft";
/// The header naming the cluster a message belongs to.
pub const CLUSTER_HEADER: &str = "berth-cluster";

/// `https://host:port` split into the host and the port.
pub fn host_and_port(address: &str) -> Option<(String, u16)> {
    let rest = address.strip_prefix("https://")?.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_owned(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses() {
        assert_eq!(super::host_and_port("https://127.0.0.1:5443"), Some(("127.0.0.1".into(), 5443)));
        assert_eq!(super::host_and_port("https://[::1]:5443/"), Some(("::1".into(), 5443)));
        assert_eq!(super::host_and_port("http://x:1"), None);
        assert_eq!(super::host_and_port("https://x"), None);
    }
}
