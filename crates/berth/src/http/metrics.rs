//! Prometheus metrics, one registry per server instance (so several servers in one
//! process never share counters).
//!
//! Counted as requests pass (`observe`): requests by handler, method and code and their
//! latency (with Distribution's `handler`, `method` and `code` labels),
//! bytes in and out, and what the registry requests did: manifest and blob pushes and
//! pulls, trust updates. Read at each scrape (`scrape`): what the registry holds, upload
//! sessions, authentications and issued tokens, directory syncs, garbage collection and
//! replication. Every figure is a total: `/metrics` answers whoever reaches the port, so
//! no label names a namespace, repository or user.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_auth::AuthCounts;
use berth_registry::Inventory;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::app::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    handler: &'static str,
    method: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandlerLabels {
    handler: &'static str,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// What a request did to the registry, as the operation counters count it.
#[derive(Debug, PartialEq, Eq)]
enum Operation {
    Push(&'static str),
    Pull(&'static str),
    TrustUpdate(&'static str),
}

impl Operation {
    fn of(handler: &str, method: &str, code: u16) -> Option<Operation> {
        match (handler, method, code) {
            ("manifest", "PUT", 201) => Some(Operation::Push("manifest")),
            // A session's last PUT completes an upload; so does a monolithic POST (a mount
            // answers as `mount`, and is no upload).
            ("upload" | "uploads", "PUT" | "POST", 201) => Some(Operation::Push("blob")),
            // Whole answers only: the ranges of one resumed download are one pull.
            ("manifest", "GET", 200) => Some(Operation::Pull("manifest")),
            ("blob", "GET", 200) => Some(Operation::Pull("blob")),
            ("trust_update", "POST", 200..300) => Some(Operation::TrustUpdate("accepted")),
            // 401 is the token challenge every client gets first, not a refusal.
            ("trust_update", "POST", 400..500) if code != 401 => Some(Operation::TrustUpdate("refused")),
            _ => None,
        }
    }
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// How long an inventory (which reads the blob indexes) serves scrapes.
const INVENTORY_MAX_AGE: Duration = Duration::from_secs(30);

/// The server's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<HandlerLabels, Histogram, fn() -> Histogram>,
    bytes_received: Counter,
    bytes_sent: Counter,
    pushes: Family<KindLabels, Counter>,
    pulls: Family<KindLabels, Counter>,
    trust_updates: Family<ResultLabels, Counter>,
    /// The figures read at the last scrape, which the collector encodes.
    scraped: Arc<Mutex<Scraped>>,
    inventory: Mutex<Option<(Instant, Inventory)>>,
    /// Held while the inventory is read again: one reading at a time, however many scrapes.
    refreshing: tokio::sync::Mutex<()>,
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
        let latency = Family::<HandlerLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let (bytes_received, bytes_sent) = (Counter::default(), Counter::default());
        let (pushes, pulls) = (Family::<KindLabels, Counter>::default(), Family::<KindLabels, Counter>::default());
        let trust_updates = Family::<ResultLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by handler, method and status code", requests.clone());
        registry.register("http_request_duration_seconds", "Time to the response head, by handler and method", latency.clone());
        registry.register("http_received_bytes", "Request body bytes received by blob uploads", bytes_received.clone());
        registry.register("http_sent_bytes", "Response body bytes sent (declared lengths)", bytes_sent.clone());
        registry.register("registry_pushes", "Manifests stored and blob uploads completed, by kind", pushes.clone());
        registry.register("registry_pulls", "Manifests and blobs served (GET), by kind", pulls.clone());
        registry.register("trust_updates", "Content trust (TUF) metadata updates, accepted or refused", trust_updates.clone());
        // Every series exists from the start, at 0, so graphs need no first event.
        for kind in ["manifest", "blob"] {
            let _ = pushes.get_or_create(&KindLabels { kind });
            let _ = pulls.get_or_create(&KindLabels { kind });
        }
        for result in ["accepted", "refused"] {
            let _ = trust_updates.get_or_create(&ResultLabels { result });
        }
        let scraped = Arc::new(Mutex::new(Scraped::default()));
        registry.register_collector(Box::new(ScrapedCollector(scraped.clone())));
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            bytes_received,
            bytes_sent,
            pushes,
            pulls,
            trust_updates,
            scraped,
            inventory: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Records one request: `handler` is the route's name (`manifest`, `blob`, `upload`, …).
    pub fn observe(&self, handler: &'static str, method: &'static str, code: u16, elapsed: Duration, sent: u64) {
        self.requests.get_or_create(&RequestLabels { handler, method, code }).inc();
        self.latency.get_or_create(&HandlerLabels { handler, method }).observe(elapsed.as_secs_f64());
        self.bytes_sent.inc_by(sent);
        match Operation::of(handler, method, code) {
            Some(Operation::Push(kind)) => self.pushes.get_or_create(&KindLabels { kind }).inc(),
            Some(Operation::Pull(kind)) => self.pulls.get_or_create(&KindLabels { kind }).inc(),
            Some(Operation::TrustUpdate(result)) => self.trust_updates.get_or_create(&ResultLabels { result }).inc(),
            None => 0,
        };
    }

    /// Counts body bytes received.
    pub fn received(&self, bytes: u64) {
        self.bytes_received.inc_by(bytes);
    }

    /// The inventory, read again when the cached one is too old (by one scrape at a time:
    /// the others wait for its reading, so `/metrics`, open to anyone, cannot start many).
    async fn inventory(&self, app: &AppState) -> Option<Inventory> {
        let fresh = || {
            let cached = self.inventory.lock().unwrap_or_else(|p| p.into_inner()).clone();
            cached.filter(|(at, _)| at.elapsed() < INVENTORY_MAX_AGE).map(|(_, inventory)| inventory)
        };
        if let Some(inventory) = fresh() {
            return Some(inventory);
        }
        let _one_reading = self.refreshing.lock().await;
        if let Some(inventory) = fresh() {
            return Some(inventory);
        }
        match app.registry.inventory().await {
            Ok(inventory) => {
                *self.inventory.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), inventory.clone()));
                Some(inventory)
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: reading the inventory");
                None
            }
        }
    }

    /// Reads the scrape-time figures and renders the text exposition format.
    pub async fn scrape(&self, app: &AppState) -> String {
        let gc = app.registry.gc_status().await.ok();
        let figures = Scraped {
            uploads_in_progress: app.registry.uploads_in_progress().await as u64,
            in_flight: app.conns.writing.load(std::sync::atomic::Ordering::Relaxed),
            inventory: self.inventory(app).await,
            auth: app.auth.counts(),
            gc_running: app.gc.current().is_some() || gc.as_ref().is_some_and(|(_, lock)| lock.is_some()),
            gc_last: gc.and_then(|(last, _)| last).filter(|run| run.finished_at > 0).map(|run| GcFigures {
                finished_at: run.finished_at,
                deleted: run.deleted,
                bytes_freed: run.bytes_freed,
                failed: run.error.is_some(),
            }),
            raft: Some(app.cluster.gauges()),
        };
        *self.scraped.lock().unwrap_or_else(|p| p.into_inner()) = figures;
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }
}

/// The last garbage collection.
#[derive(Debug, Clone, Default)]
struct GcFigures {
    finished_at: u64,
    deleted: u64,
    bytes_freed: u64,
    failed: bool,
}

/// Figures read at scrape time.
#[derive(Debug, Clone, Default)]
struct Scraped {
    uploads_in_progress: u64,
    in_flight: u64,
    inventory: Option<Inventory>,
    auth: AuthCounts,
    gc_running: bool,
    gc_last: Option<GcFigures>,
    raft: Option<berth_services::cluster::Gauges>,
}

#[derive(Debug)]
struct ScrapedCollector(Arc<Mutex<Scraped>>);

/// Writes one gauge or counter, optionally one sample per label set.
fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value as i64);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, samples: &[(&[(&str, &str)], u64)]) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for ScrapedCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        gauge(&mut e, "uploads_in_progress", "Blob upload sessions open", s.uploads_in_progress)?;
        gauge(&mut e, "http_in_flight_requests", "Requests being answered now", s.in_flight)?;
        if let Some(i) = &s.inventory {
            gauge(&mut e, "repositories", "Repositories", i.repositories)?;
            gauge(&mut e, "tags", "Tags, over every repository", i.tags)?;
            gauge(&mut e, "manifests", "Distinct manifests", i.manifests)?;
            gauge(&mut e, "blobs", "Distinct blobs linked to some repository", i.blobs)?;
            gauge(&mut e, "storage_used_bytes", "Bytes of the distinct blobs manifests use, each counted once", i.used_bytes)?;
        }
        let a = s.auth;
        counter(
            &mut e,
            "authentications",
            "Credentials checked (Basic auth, the token endpoint, the web UI), by kind and result",
            &[
                (&[("credential", "password"), ("result", "ok")], a.password_ok),
                (&[("credential", "password"), ("result", "failed")], a.password_failed),
                (&[("credential", "password"), ("result", "limited")], a.limited),
                (&[("credential", "access_token"), ("result", "ok")], a.token_ok),
                (&[("credential", "access_token"), ("result", "failed")], a.token_failed),
            ],
        )?;
        counter(
            &mut e,
            "tokens_issued",
            "Tokens issued: bearer and refresh tokens by /auth/token, access tokens by users",
            &[
                (&[("kind", "bearer")], a.bearer_issued),
                (&[("kind", "refresh")], a.refresh_issued),
                (&[("kind", "access_token")], a.access_tokens_created),
            ],
        )?;
        counter(&mut e, "ui_sessions_started", "Web UI sign-ins", &[(&[], a.sessions_started)])?;
        counter(
            &mut e,
            "ldap_syncs",
            "Directory syncs run by this replica, by result",
            &[(&[("result", "ok")], a.ldap_syncs_ok), (&[("result", "failed")], a.ldap_syncs_failed)],
        )?;
        gauge(&mut e, "gc_running", "1 while a garbage collection runs in the cluster", u64::from(s.gc_running))?;
        if let Some(gc) = &s.gc_last {
            gauge(&mut e, "gc_last_finished_timestamp_seconds", "When the last garbage collection ended", gc.finished_at)?;
            gauge(&mut e, "gc_last_deleted_blobs", "Blobs the last garbage collection deleted", gc.deleted)?;
            gauge(&mut e, "gc_last_freed_bytes", "Bytes the last garbage collection freed", gc.bytes_freed)?;
            gauge(&mut e, "gc_last_failed", "1 when the last garbage collection stopped on an error", u64::from(gc.failed))?;
        }
        if let Some(raft) = &s.raft {
            gauge(&mut e, "raft_term", "The replica's current Raft term", raft.term)?;
            gauge(&mut e, "raft_leader", "1 when this replica leads its cluster", u64::from(raft.leader))?;
            gauge(&mut e, "raft_last_log_index", "The index of the last entry in the replica's log", raft.last_log_index)?;
            gauge(&mut e, "raft_applied_index", "The index of the last entry the replica applied", raft.applied_index)?;
            gauge(&mut e, "raft_voters", "Voting replicas in the cluster", raft.voters)?;
            gauge(&mut e, "raft_learners", "Replicas catching up to join", raft.learners)?;
            gauge(&mut e, "raft_quorum", "1 when the replica is with a quorum (writes can succeed)", u64::from(raft.quorum))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Operation;

    #[test]
    fn requests_count_as_the_operations_they_completed() {
        assert_eq!(Operation::of("manifest", "PUT", 201), Some(Operation::Push("manifest")));
        assert_eq!(Operation::of("upload", "PUT", 201), Some(Operation::Push("blob")));
        assert_eq!(Operation::of("uploads", "POST", 202), None, "a session opened is not a push");
        assert_eq!(Operation::of("upload", "PATCH", 202), None);
        assert_eq!(Operation::of("manifest", "HEAD", 200), None, "a HEAD is not a pull");
        assert_eq!(Operation::of("blob", "GET", 200), Some(Operation::Pull("blob")));
        assert_eq!(Operation::of("blob", "GET", 206), None, "a range is part of a pull");
        assert_eq!(Operation::of("mount", "POST", 201), None, "a mount is no upload");
        assert_eq!(Operation::of("trust_update", "POST", 401), None, "the token challenge is no refusal");
        assert_eq!(Operation::of("blob", "GET", 404), None);
        assert_eq!(Operation::of("trust_update", "POST", 400), Some(Operation::TrustUpdate("refused")));
        assert_eq!(Operation::of("trust_update", "POST", 503), None, "an outage is not a refusal");
    }
}
