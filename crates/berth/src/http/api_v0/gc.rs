//! Garbage collection in the API: start a run (system administrators), and see the
//! running or the last one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_registry::GcRun;
use serde::Deserialize;

use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

/// `POST /api/v0/gc` body.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcRequest {
    /// Count only; delete nothing.
    #[serde(default)]
    dry_run: bool,
    /// Blobs written or linked this recently are kept (default: `gc.grace_secs`).
    grace_seconds: Option<u64>,
    /// Also delete the manifests no tag, index or artifact names that were pushed this
    /// many days ago (default: `gc.untagged_days`; 0 takes every such manifest).
    untagged_older_than_days: Option<u64>,
}

fn run_model(run: &GcRun) -> model::GcRun {
    model::GcRun {
        holder: run.holder.clone(),
        dry_run: Some(run.dry_run),
        started_at: Some(run.started_at),
        finished_at: (run.finished_at > 0).then_some(run.finished_at),
        blobs_examined: Some(run.examined),
        blobs_deleted: Some(run.deleted),
        bytes_freed: Some(run.bytes_freed),
        manifests_deleted: Some(run.manifests_deleted),
        seconds: Some(run.finished_at.saturating_sub(run.started_at)),
        error: run.error.clone(),
        ..model::GcRun::default()
    }
}

#[utoipa::path(post, path = "/api/v0/gc", tag = "gc", request_body = GcRequest, responses((status = 202, description = "started; follow it with GET /api/v0/gc"), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody), (status = 409, description = "GC_RUNNING", body = model::ErrorBody)))]
/// Starts a garbage collection (system administrators): deletes the blobs no manifest
/// uses that were neither written nor linked within the grace period, while pushes and
/// pulls go on.
pub async fn start(State(app): State<AppState>, caller: Caller, body: Option<Json<GcRequest>>) -> Result<Response, ApiV0Error> {
    app.auth.require_administrator(&caller.0)?;
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let grace = request.grace_seconds.map(std::time::Duration::from_secs);
    let holder = app.start_gc(request.dry_run, grace, request.untagged_older_than_days).await?;
    Ok((StatusCode::ACCEPTED, Json(model::GcStarted { holder })).into_response())
}

#[utoipa::path(get, path = "/api/v0/gc", tag = "gc", responses((status = 200, description = "the running collection (with progress and the time left when it runs here) and the last finished one", body = model::GcStatus), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// The running garbage collection and the last finished one (system administrators).
pub async fn status(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiV0Error> {
    app.auth.require_administrator(&caller.0)?;
    let (last, lock) = app.registry.gc_status().await?;
    let running = match (app.gc.current(), lock) {
        (Some(progress), _) => Some(model::GcRun {
            shards_done: Some(u64::from(progress.shards_done)),
            shards_total: Some(berth_registry::GC_SHARDS as u64),
            eta_seconds: progress.eta_secs,
            ..run_model(&progress.run)
        }),
        // Running on another replica: only who, from the lock.
        (None, Some(lock)) => Some(model::GcRun { holder: lock.holder, ..model::GcRun::default() }),
        (None, None) => None,
    };
    Ok(Json(model::GcStatus { running, last: last.as_ref().map(run_model) }).into_response())
}
