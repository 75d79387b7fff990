//! What replicas ask of each other, under `/internal`, answered only on connections that
//! asked for the replica server name (see `serve.rs`); elsewhere these paths do not
//! exist. Replica messages (`/internal/raft/…`) also need the connection's certificate
//! to be one the cluster CA signed; the cluster service checks that. A replica that is
//! joining has no certificate yet: it may read the CA certificate and present its join
//! token. These routes stay up while the rest of the registry starts, and bypass the
//! access log (heartbeats would fill it).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_services::Cluster;
use berth_services::cluster::JoinRequest;

use super::error::ApiV0Error;
use crate::cluster::join::{CA_PATH, JOIN_PATH};
use crate::cluster::{CLUSTER_HEADER, RAFT_PATH};
use crate::serve::Connection;

/// The largest replica message: a snapshot chunk or a batch of log entries, as JSON.
const MAX_MESSAGE: usize = 256 << 20;

/// The routes, over the cluster service.
pub fn routes(cluster: Cluster) -> Router {
    Router::new()
        .route(&format!("{RAFT_PATH}/{{message}}"), post(message).layer(DefaultBodyLimit::max(MAX_MESSAGE)))
        .route(CA_PATH, get(ca))
        .route(JOIN_PATH, post(join))
        .with_state(cluster)
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

async fn message(
    State(cluster): State<Cluster>,
    connection: Option<axum::Extension<Connection>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(axum::Extension(connection)) = connection.filter(|c| c.replica_name) else { return not_found() };
    let cluster_id = headers.get(CLUSTER_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match cluster.handle(connection.replica.as_deref(), cluster_id, &name, &body).await {
        Ok(reply) => ([(header::CONTENT_TYPE, "application/json")], reply).into_response(),
        Err(e) => ApiV0Error::from(e).into_response(),
    }
}

async fn ca(State(cluster): State<Cluster>, connection: Option<axum::Extension<Connection>>) -> Response {
    if !connection.is_some_and(|c| c.replica_name) {
        return not_found();
    }
    match cluster.ca_certificate().await {
        Ok(pem) => ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response(),
        Err(e) => ApiV0Error::from(e).into_response(),
    }
}

async fn join(State(cluster): State<Cluster>, connection: Option<axum::Extension<Connection>>, body: Bytes) -> Response {
    if !connection.is_some_and(|c| c.replica_name) {
        return not_found();
    }
    let request: JoinRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return ApiV0Error::invalid(format!("a join request: {e}")).into_response(),
    };
    match cluster.admit(request).await {
        Ok(grant) => axum::Json(grant).into_response(),
        Err(e) => ApiV0Error::from(e).into_response(),
    }
}

/// What the registry answers while it starts: replicas are served, everything else is
/// told to come back.
pub fn starting(cluster: Cluster) -> Router {
    routes(cluster).fallback(|| async {
        ApiV0Error::unavailable("STARTING", "the registry is starting (catching up with its cluster); try again shortly").into_response()
    })
}
