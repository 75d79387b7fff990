//! The accept loops: HTTPS (rustls) and optional plain HTTP, both serving the same
//! router over HTTP/1.1 and HTTP/2. Counts connections the way nginx's stub status does,
//! caps them (past the cap, a connection gets one `503` and is closed), and shuts down
//! gracefully: on the signal, listeners close, in-flight requests finish (bounded by a
//! grace period), and upload sessions stay on disk to be resumed.
//!
//! On HTTPS, the server name a client asks for (SNI) picks the certificate: replicas
//! ask for `replica.berth.internal` and get the replica certificate, with their own
//! certificate checked against the cluster CA; everyone else gets the registry's. Every
//! request carries what its connection proved ([`Connection`]).
//!
//! The router can be replaced while serving ([`RouterSlot`]): a replica answers other
//! replicas while it is still starting (catching up, joining), and everything else once
//! its services are built.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::{LazyConfigAcceptor, TlsAcceptor};
use tower::ServiceExt as _;

use crate::tls::TlsChoice;

/// How long in-flight requests may run after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections over the cap being told so at once; past these, they are just closed.
const REFUSALS: usize = 64;
/// How long a refused connection may take to hear its `503`.
const REFUSAL_TIME: Duration = Duration::from_secs(5);
/// HTTP/2: data buffered per stream ahead of the client's window: room for every read piece
/// of a blob in flight (those read ahead and the one being sent).
const H2_SEND_BUFFER: usize = 1 << 20;
/// HTTP/2 receive windows (pushes); a connection's unread data is bounded by the second.
const H2_STREAM_WINDOW: u32 = 2 << 20;
const H2_CONNECTION_WINDOW: u32 = 8 << 20;
/// HTTP/2: the largest frame a client may send (the protocol's default is 16 KiB).
const H2_MAX_FRAME: u32 = 256 << 10;

/// Connection and request counters, as nginx's stub status reports them.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Connections accepted.
    pub accepts: AtomicU64,
    /// Connections handed to the HTTP server (accepted and, for TLS, past the handshake).
    pub handled: AtomicU64,
    /// Requests received.
    pub requests: AtomicU64,
    /// Connections open now.
    pub active: AtomicU64,
    /// Connections in their TLS handshake now.
    pub reading: AtomicU64,
    /// Requests being processed now.
    pub writing: AtomicU64,
}

/// The address a request's connection comes from (a request extension).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::SocketAddr);

/// Decrements a counter when dropped.
pub struct Gauge<'a>(&'a AtomicU64);

impl<'a> Gauge<'a> {
    /// Increments `counter` until the returned guard is dropped.
    pub fn enter(counter: &'a AtomicU64) -> Gauge<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        Gauge(counter)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a request's connection proved.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    /// The client asked for the replica server name (see `tls.rs`).
    pub replica_name: bool,
    /// The replica id its certificate names, when it presented one the cluster CA signed.
    pub replica: Option<String>,
}

/// The router requests are served by, replaceable while serving.
pub struct RouterSlot(std::sync::RwLock<Router>);

impl RouterSlot {
    /// A slot holding `router`.
    pub fn new(router: Router) -> Arc<RouterSlot> {
        Arc::new(RouterSlot(std::sync::RwLock::new(router)))
    }

    /// Serves every request from now on with `router`.
    pub fn replace(&self, router: Router) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = router;
    }

    fn current(&self) -> Router {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A bound listener and its TLS configurations (HTTPS).
pub struct Listener {
    /// The socket.
    pub tcp: TcpListener,
    /// `Some` for HTTPS.
    pub tls: Option<Arc<TlsChoice>>,
}

/// How many connections are served at once, and the largest request head.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// The largest request header block.
    pub max_header_size: usize,
}

/// The one answer a connection over the cap gets.
fn too_many_connections() -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let body = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"the registry is serving as many connections as it is configured to; try again shortly","detail":null}]}"#;
    let headers = [
        (axum::http::header::CONTENT_TYPE, "application/json"),
        (axum::http::header::RETRY_AFTER, "1"),
        (axum::http::header::CONNECTION, "close"),
    ];
    (axum::http::StatusCode::SERVICE_UNAVAILABLE, headers, body).into_response()
}

async fn answer_too_many<B>(_: axum::http::Request<B>) -> Result<axum::response::Response, std::convert::Infallible> {
    Ok(too_many_connections())
}

/// Answers `503` on a connection over the cap (after the TLS handshake, for HTTPS), then closes it.
async fn refuse(socket: tokio::net::TcpStream, tls: Option<Arc<TlsChoice>>) {
    let tls = tls.map(|choice| TlsAcceptor::from(choice.public.clone()));
    let service = TowerToHyperService::new(tower::service_fn(answer_too_many));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(false).timer(TokioTimer::new()).header_read_timeout(REFUSAL_TIME);
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        match tls {
            Some(acceptor) => {
                if let Ok(stream) = acceptor.accept(socket).await {
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                }
            }
            None => {
                let _ = builder.serve_connection(TokioIo::new(socket), service).await;
            }
        }
    })
    .await;
}

/// The TLS handshake, with the configuration the client's server name picks; the stream
/// and what the connection proved.
async fn handshake(
    socket: tokio::net::TcpStream,
    choice: &TlsChoice,
) -> std::io::Result<(tokio_rustls::server::TlsStream<tokio::net::TcpStream>, Connection)> {
    let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), socket).await?;
    let replica_name =
        choice.replica.is_some() && start.client_hello().server_name() == Some(berth_services::cluster::ca::REPLICA_SERVER_NAME);
    let config = match (&choice.replica, replica_name) {
        (Some(replica), true) => replica.clone(),
        _ => choice.public.clone(),
    };
    let stream = start.into_stream(config).await?;
    let replica = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| berth_services::cluster::ca::replica_of(leaf.as_ref()));
    Ok((stream, Connection { replica_name, replica }))
}

/// Serves every listener until `shutdown` completes, then drains.
pub async fn serve(
    stats: Arc<ConnStats>,
    slot: Arc<RouterSlot>,
    listeners: Vec<Listener>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = Arc::new(GracefulShutdown::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let refusals = Arc::new(tokio::sync::Semaphore::new(REFUSALS));
    let max_header_size = limits.max_header_size;
    let mut loops = Vec::new();
    for listener in listeners {
        let (slot, stats, graceful, mut stop) = (slot.clone(), stats.clone(), graceful.clone(), stop_rx.clone());
        let (permits, refusals) = (permits.clone(), refusals.clone());
        let local = listener.tcp.local_addr().ok();
        loops.push(tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.tcp.accept() => accepted,
                    _ = stop.changed() => break,
                };
                let (socket, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = socket.set_nodelay(true);
                stats.accepts.fetch_add(1, Ordering::Relaxed);
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                        let tls = listener.tls.clone();
                        tokio::spawn(async move {
                            refuse(socket, tls).await;
                            drop(refusal);
                        });
                    }
                    tracing::warn!(peer = %peer, "connection refused: max_connections reached");
                    continue;
                };
                let (slot, stats, watcher, tls) = (slot.clone(), stats.clone(), graceful.watcher(), listener.tls.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let _active = Gauge::enter(&stats.active);
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    builder
                        .http1()
                        .timer(TokioTimer::new())
                        .half_close(true)
                        .header_read_timeout(HEADER_TIMEOUT)
                        .max_buf_size(max_header_size.max(8192));
                    builder
                        .http2()
                        .timer(TokioTimer::new())
                        .max_header_list_size(max_header_size as u32)
                        // A pull's data waits here for the client's window, per stream; hyper's
                        // 400 KiB default is less than the pieces a pull has in flight.
                        .max_send_buf_size(H2_SEND_BUFFER)
                        // Pushes: a window of several frames in flight per stream, and larger
                        // frames accepted from clients that send them (fewer frames per layer).
                        .initial_stream_window_size(H2_STREAM_WINDOW)
                        .initial_connection_window_size(H2_CONNECTION_WINDOW)
                        .max_frame_size(H2_MAX_FRAME);
                    let local = crate::http::auth::Local(local.unwrap_or(peer));
                    let https = crate::http::auth::Https(tls.is_some());
                    // Each request goes to the router in the slot when it arrives.
                    let serve_with = move |connection: Connection| {
                        TowerToHyperService::new(tower::service_fn(move |mut request: axum::http::Request<hyper::body::Incoming>| {
                            let extensions = request.extensions_mut();
                            extensions.insert(local);
                            extensions.insert(https);
                            extensions.insert(Peer(peer));
                            extensions.insert(connection.clone());
                            slot.current().oneshot(request)
                        }))
                    };
                    let result = match tls {
                        Some(choice) => {
                            let handshake = {
                                let _reading = Gauge::enter(&stats.reading);
                                tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(socket, &choice)).await
                            };
                            let (stream, connection) = match handshake {
                                Ok(Ok(done)) => done,
                                Ok(Err(e)) => return tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => return tracing::debug!("TLS handshake timed out"),
                            };
                            stats.handled.fetch_add(1, Ordering::Relaxed);
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), serve_with(connection));
                            watcher.watch(conn.into_owned()).await
                        }
                        None => {
                            stats.handled.fetch_add(1, Ordering::Relaxed);
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(socket), serve_with(Connection::default()));
                            watcher.watch(conn.into_owned()).await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
        }));
    }
    shutdown.await;
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    let _ = stop_tx.send(true);
    for accept_loop in loops {
        let _ = accept_loop.await;
    }
    // The accept loops are gone, so this is the last handle.
    let Ok(graceful) = Arc::try_unwrap(graceful) else { return };
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("grace period over; closing the remaining connections");
    }
}
