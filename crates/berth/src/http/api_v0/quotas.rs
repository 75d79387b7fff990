//! Namespace storage quotas in the API (system administrators).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use berth_registry::QuotaUsage;
use serde::Deserialize;

use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

/// `PUT /api/v0/accounts/{namespace}/quota` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotaRequest {
    /// The most bytes of distinct blobs the namespace's images may use; `null` removes the quota.
    limit_bytes: Option<u64>,
}

fn quota_json(namespace: &str, usage: QuotaUsage) -> Response {
    Json(model::Quota { namespace: namespace.to_owned(), limit_bytes: usage.limit, used_bytes: usage.used }).into_response()
}

#[utoipa::path(get, path = "/api/v0/accounts/{namespace}/quota", tag = "quotas", params(("namespace" = String, Path, description = "a user or organization")), responses((status = 200, description = "the quota (limitBytes, null for none) and the bytes of distinct blobs the namespace's images use (usedBytes)", body = model::Quota), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// A namespace's storage quota and usage (system administrators).
pub async fn get(State(app): State<AppState>, caller: Caller, Path(namespace): Path<String>) -> Result<Response, ApiV0Error> {
    app.auth.require_administrator(&caller.0)?;
    Ok(quota_json(&namespace, app.registry.quota(&namespace).await?))
}

#[utoipa::path(put, path = "/api/v0/accounts/{namespace}/quota", tag = "quotas", params(("namespace" = String, Path, description = "a user or organization")), request_body = QuotaRequest, responses((status = 200, description = "the quota and usage", body = model::Quota), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Sets or removes a namespace's storage quota (system administrators). A manifest push
/// that would take the namespace past it is refused with `DENIED`.
pub async fn put(
    State(app): State<AppState>,
    caller: Caller,
    Path(namespace): Path<String>,
    Json(request): Json<QuotaRequest>,
) -> Result<Response, ApiV0Error> {
    app.auth.require_administrator(&caller.0)?;
    Ok(quota_json(&namespace, app.registry.set_quota(&namespace, request.limit_bytes).await?))
}
