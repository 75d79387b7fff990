//! A TCP proxy in front of one replica, for partitions: it forwards every connection to
//! the replica, except those from blocked source addresses, which it refuses (and cuts,
//! when they were open at the moment of the block).

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Default)]
struct Rules {
    blocked: HashSet<IpAddr>,
    open: Vec<(IpAddr, AbortHandle)>,
}

/// The proxy; stops with the test's runtime.
pub struct Proxy {
    /// Where it listens (127.0.0.1).
    pub port: u16,
    rules: Arc<Mutex<Rules>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `127.0.0.1:target`.
    pub async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let rules = Arc::new(Mutex::new(Rules::default()));
        let shared = rules.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, peer)) = listener.accept().await {
                let source = peer.ip();
                let mut guard = shared.lock().unwrap();
                if guard.blocked.contains(&source) {
                    continue;
                }
                let forward = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                guard.open.retain(|(_, handle)| !handle.is_finished());
                guard.open.push((source, forward.abort_handle()));
            }
        });
        Proxy { port, rules, task }
    }

    /// Refuses connections from `sources`, and cuts those open now.
    pub fn block(&self, sources: &[IpAddr]) {
        let mut rules = self.rules.lock().unwrap();
        rules.blocked.extend(sources.iter().copied());
        for (source, handle) in &rules.open {
            if sources.contains(source) {
                handle.abort();
            }
        }
    }

    /// Lets every connection through again.
    pub fn unblock_all(&self) {
        self.rules.lock().unwrap().blocked.clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        for (_, handle) in &self.rules.lock().unwrap().open {
            handle.abort();
        }
    }
}
