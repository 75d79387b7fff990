//! A namespace's signing policy: with `signedPullsOnly`, every repository of the
//! namespace answers pulls by tag only for tags signed in its trust data, or by a cosign
//! or notation signature from one of `signatureKeys` (as the repository settings of the
//! same names do for one repository; the keys of both count). The registry keeps and
//! enforces it.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{ApiV0Error, Caller, model};
use crate::app::AppState;

/// `{"signedPullsOnly": bool, "signatureKeys": [PEM public keys]}`.
#[derive(Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningPolicy {
    /// Pulls by tag must be signed.
    pub signed_pulls_only: bool,
    /// Public keys whose cosign or notation signatures count, for every repository.
    #[serde(default)]
    pub signature_keys: Vec<String>,
}

impl From<berth_registry::SigningPolicy> for SigningPolicy {
    fn from(p: berth_registry::SigningPolicy) -> SigningPolicy {
        SigningPolicy { signed_pulls_only: p.signed_pulls_only, signature_keys: p.signature_keys }
    }
}

#[utoipa::path(get, path = "/api/v0/repositoryNamespaces/{ns}/signingPolicy", tag = "trust", params(("ns" = String, Path, description = "namespace")), responses((status = 200, description = "the namespace's signing policy", body = SigningPolicy), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody)))]
/// Reads a namespace's signing policy.
pub async fn get(State(app): State<AppState>, _caller: Caller, Path(ns): Path<String>) -> Result<Response, ApiV0Error> {
    Ok(Json(SigningPolicy::from(app.registry.namespace_policy(&ns).await?)).into_response())
}

#[utoipa::path(put, path = "/api/v0/repositoryNamespaces/{ns}/signingPolicy", tag = "trust", params(("ns" = String, Path, description = "namespace")), request_body = SigningPolicy, responses((status = 200, description = "the namespace's signing policy", body = SigningPolicy), (status = 401, description = "NOT_AUTHENTICATED", body = model::ErrorBody), (status = 403, description = "NOT_AUTHORIZED", body = model::ErrorBody)))]
/// Sets a namespace's signing policy (system admins, org owners, a user for their own namespace).
pub async fn put(
    State(app): State<AppState>,
    caller: Caller,
    Path(ns): Path<String>,
    Json(policy): Json<SigningPolicy>,
) -> Result<Response, ApiV0Error> {
    if !app.auth.owns_namespace(&caller.0, &ns) {
        return Err(ApiV0Error::forbidden());
    }
    let policy = berth_registry::SigningPolicy { signed_pulls_only: policy.signed_pulls_only, signature_keys: policy.signature_keys };
    Ok(Json(SigningPolicy::from(app.registry.set_namespace_policy(&ns, policy).await?)).into_response())
}
