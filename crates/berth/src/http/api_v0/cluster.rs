//! The cluster in the API (system administrators): DTR's `cluster_status`, join tokens,
//! removing a replica, and online backups.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

#[utoipa::path(get, path = "/api/v0/meta/cluster_status", tag = "cluster", responses((status = 200, description = "every replica's health, role, term, log and applied indexes and lag", body = model::ClusterStatus), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// The cluster's health, in DTR's shape (`replica_health`, `replica_timestamp`,
/// `replica_readonly`, `gc_lock_holder`), with every member's replication state in
/// `members` (in place of DTR's `rethink_system_tables`).
pub async fn status(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiV0Error> {
    let status = app.cluster.status(&caller.0).await?;
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let (mut health, mut timestamps, mut readonly) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for member in &status.members {
        let state = match (&member.error, member.reachable, member.quorum) {
            (Some(error), _, _) => format!("unhealthy: {error}"),
            (None, true, true) => "OK".to_owned(),
            (None, true, false) => "unhealthy: no quorum".to_owned(),
            (None, false, _) => "unreachable".to_owned(),
        };
        health.insert(member.id.clone(), state);
        if member.reachable {
            timestamps.insert(member.id.clone(), now.clone());
        }
        readonly.insert(member.id.clone(), !member.quorum);
    }
    let members = status
        .members
        .into_iter()
        .map(|m| model::ClusterMember {
            id: m.id,
            address: m.address,
            voter: m.voter,
            leader: m.leader,
            reachable: m.reachable,
            state: m.state,
            term: m.term,
            last_log_index: m.last_log_index,
            applied_index: m.applied_index,
            lag: m.lag,
            quorum: m.quorum,
            error: m.error,
        })
        .collect();
    Ok(Json(model::ClusterStatus {
        replica_health: health,
        replica_timestamp: timestamps,
        replica_readonly: readonly,
        gc_lock_holder: String::new(),
        replica: status.replica,
        cluster: status.cluster,
        leader: status.leader,
        quorum: status.quorum,
        members,
    })
    .into_response())
}

#[utoipa::path(post, path = "/api/v0/meta/join_tokens", tag = "cluster", responses((status = 201, description = "a one-time token for `berth join`, valid for an hour", body = model::JoinToken), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Makes a one-time token a new replica joins the cluster with.
pub async fn join_token(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiV0Error> {
    let token = app.cluster.join_token(&caller.0).await?;
    let expires_in = berth_services::cluster::JOIN_TOKEN_TTL.as_secs();
    Ok((StatusCode::CREATED, Json(model::JoinToken { token, expires_in })).into_response())
}

#[utoipa::path(delete, path = "/api/v0/meta/replicas/{id}", tag = "cluster", params(("id" = String, Path, description = "the replica id (12 hex characters)")), responses((status = 204, description = "removed"), (status = 409, description = "REFUSED: it would lose the quorum", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Removes a replica from the cluster, refused when the replicas left would not have a
/// healthy majority.
pub async fn remove_replica(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiV0Error> {
    app.cluster.remove_replica(&caller.0, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `?includeBlobs=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct BackupQuery {
    /// Also copy every blob the repositories link to.
    #[serde(default)]
    include_blobs: bool,
}

#[utoipa::path(get, path = "/api/v0/meta/backup", tag = "cluster", params(BackupQuery), responses((status = 200, description = "a tar stream: MANIFEST.json, metadata.bin, blobs/…", content_type = "application/x-tar"), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// A consistent backup, taken while the registry serves.
pub async fn backup(State(app): State<AppState>, caller: Caller, Query(query): Query<BackupQuery>) -> Result<Response, ApiV0Error> {
    let stream = app.backups.start(&caller.0, query.include_blobs).await?;
    tracing::info!(
        files = stream.manifest.files.len(),
        bytes = stream.size,
        applied_index = stream.manifest.applied_index,
        "backup started"
    );
    let body = Body::from_stream(tokio_stream_from(stream.chunks));
    Ok(([(header::CONTENT_TYPE, "application/x-tar".to_owned()), (header::CONTENT_LENGTH, stream.size.to_string())], body).into_response())
}

fn tokio_stream_from(
    mut chunks: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| chunks.poll_recv(cx))
}
