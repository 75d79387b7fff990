//! Prometheus metrics, one registry per server instance (so several servers in one
//! process never share counters): requests by route, method and status, latency
//! histograms by route, bytes in and out, uploads in progress.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The server's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    bytes_received: Counter,
    bytes_sent: Counter,
    uploads_in_progress: Gauge,
    raft: [Gauge; 7],
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("berth");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let (bytes_received, bytes_sent, uploads_in_progress) = (Counter::default(), Counter::default(), Gauge::default());
        registry.register("http_requests", "HTTP requests by route, method and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to the response head, by route", latency.clone());
        registry.register("http_received_bytes", "Request body bytes received by blob uploads", bytes_received.clone());
        registry.register("http_sent_bytes", "Response body bytes sent (declared lengths)", bytes_sent.clone());
        registry.register("uploads_in_progress", "Blob upload sessions open", uploads_in_progress.clone());
        let raft: [Gauge; 7] = Default::default();
        let described = [
            ("raft_term", "The replica's current Raft term"),
            ("raft_leader", "1 when this replica leads its cluster"),
            ("raft_last_log_index", "The index of the last entry in the replica's log"),
            ("raft_applied_index", "The index of the last entry the replica applied"),
            ("raft_voters", "Voting replicas in the cluster"),
            ("raft_learners", "Replicas catching up to join"),
            ("raft_quorum", "1 when the replica is with a quorum (writes can succeed)"),
        ];
        for ((name, help), gauge) in described.into_iter().zip(&raft) {
            registry.register(name, help, gauge.clone());
        }
        Metrics { registry: Mutex::new(registry), requests, latency, bytes_received, bytes_sent, uploads_in_progress, raft }
    }

    /// Records one request.
    pub fn observe(&self, route: &'static str, method: &'static str, status: u16, elapsed: Duration, sent: u64) {
        self.requests.get_or_create(&RequestLabels { route, method, status }).inc();
        self.latency.get_or_create(&RouteLabels { route }).observe(elapsed.as_secs_f64());
        self.bytes_sent.inc_by(sent);
    }

    /// Counts body bytes received.
    pub fn received(&self, bytes: u64) {
        self.bytes_received.inc_by(bytes);
    }

    /// Renders the text exposition format, with the current number of upload sessions
    /// and replication figures.
    pub fn render(&self, uploads_in_progress: i64, raft: berth_services::cluster::Gauges) -> String {
        self.uploads_in_progress.set(uploads_in_progress);
        let values = [
            raft.term,
            u64::from(raft.leader),
            raft.last_log_index,
            raft.applied_index,
            raft.voters,
            raft.learners,
            u64::from(raft.quorum),
        ];
        for (gauge, value) in self.raft.iter().zip(values) {
            gauge.set(value as i64);
        }
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }
}
