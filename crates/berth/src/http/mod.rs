//! The HTTP surface: the router, and the one middleware every request passes through
//! (request id, tracing span, access log naming the user and the source address,
//! metrics, in-flight accounting, and the idle timeout on request bodies).

pub mod api_v0;
pub mod auth;
pub mod body;
pub mod error;
pub mod health;
pub mod internal;
pub mod metrics;
pub mod token;
pub mod trust;
pub mod v2;

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::app::AppState;
use crate::serve::Gauge;

/// The route a response came from, set by handlers for metrics and logs.
#[derive(Clone, Copy, Debug)]
pub struct RouteName(pub &'static str);

/// Builds the router over the application state.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/_ping", get(health::health))
        .route("/health", get(health::health))
        .route("/nginx_status", get(health::nginx_status))
        .route("/metrics", get(health::metrics))
        .route("/auth/token", get(token::get).post(token::post).layer(axum::extract::DefaultBodyLimit::max(token::MAX_BODY)))
        .merge(api_v0::routes())
        .merge(crate::ui::routes())
        .route("/v2", any(v2::dispatch))
        .route("/v2/", any(v2::dispatch))
        .route("/v2/{*rest}", any(v2::dispatch))
        // A bug must cost one request a 500, never the connection or the process.
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    error::ApiError::internal(&"a request handler panicked").into_response()
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The `host[:port]` the client addressed, when it passes the host grammar.
fn authority(request: &Request) -> Option<String> {
    let given = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or_else(|| request.uri().authority().map(|a| a.as_str()));
    given.filter(|a| berth_core::host::valid_authority(a)).map(str::to_owned)
}

async fn observe(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    app.conns.requests.fetch_add(1, Ordering::Relaxed);
    let _writing = Gauge::enter(&app.conns.writing);
    let id = uuid::Uuid::new_v4().simple().to_string();
    let method = method_name(request.method());
    let source = auth::source(request.extensions()).map(|ip| ip.to_string());
    let origin = berth_auth::origin::RequestOrigin::request(source.clone());
    let authority = auth::Authority(authority(&request));
    let timeout = app.body_idle_timeout;
    let mut request = request.map(|body| axum::body::Body::new(body::IdleTimeout::new(body, timeout)));
    request.extensions_mut().insert(authority);
    let span = tracing::info_span!("request", id = %id, method, path = %request.uri().path());
    let fallback = match request.uri().path() {
        "/_ping" => "ping",
        "/health" => "health",
        "/nginx_status" => "nginx_status",
        "/metrics" => "metrics",
        p if p.starts_with("/api/v0/") || p.starts_with("/enzi/v0/") => "api_v0",
        _ => "other",
    };
    let mut response = berth_auth::origin::scope(origin.clone(), next.run(request)).instrument(span.clone()).await;
    let route = response.extensions().get::<RouteName>().map_or(fallback, |r| r.0);
    let status = response.status().as_u16();
    // The declared length, else the body's own exact size (hyper writes Content-Length
    // from it later); a stream of unknown length counts 0.
    let sent = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or_else(|| http_body::Body::size_hint(response.body()).exact())
        .filter(|_| method != "HEAD")
        .unwrap_or(0);
    let elapsed = started.elapsed();
    app.metrics.observe(route, method, status, elapsed, sent);
    let user = origin.caller().map_or("-", |c| c.user.as_str());
    let source = source.unwrap_or_default();
    span.in_scope(|| tracing::info!(route, status, user = %user, source = %source, micros = elapsed.as_micros() as u64, "access"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
